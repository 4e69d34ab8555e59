/** The files a sandbox sees as /etc/hosts and /etc/resolv.conf, as Docker writes them. Pure. */
import { parseIP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';

export interface HostsInput {
  /** The hostname as given (`-h web.example.test` is written as "web.example.test web", as Docker writes it). */
  hostname: string;
  /** The sandbox's own addresses (no prefix), first is the one its hostname resolves to. */
  ownIps: string[];
  /** Its own name and --network-alias names, with its address on each user-defined network it is on. */
  ownNames?: Array<{ names: string[]; ip: string }>;
  /** --add-host entries. */
  extra: Array<[string, string]>;
  /** Other sandboxes on a shared user-defined network: name (and hostname) -> address on that network. */
  peers: Array<{ names: string[]; ip: string }>;
}

export function hostsFile(h: HostsInput): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...h.extra.map(([host, ip]) => `${ip}\t${host}`),
    ...h.ownIps.map((ip) => `${ip}\t${hostnameNames(h.hostname).join(' ')}`),
    ...(h.ownNames ?? [])
      .map((o) => ({ ...o, names: o.names.filter((n) => !(h.ownIps.includes(o.ip) && hostnameNames(h.hostname).includes(n))) }))
      .filter((o) => o.names.length)
      .map((o) => `${o.ip}\t${o.names.join(' ')}`),
    ...h.peers.map((p) => `${p.ip}\t${p.names.join(' ')}`),
  ];
  return lines.join('\n') + '\n';
}

/** "host.domain" and its short form "host", as Docker's hosts entry for the sandbox's own hostname. */
export const hostnameNames = (hostname: string): string[] => (hostname.includes('.') ? [hostname, hostname.split('.')[0]!] : [hostname]);

/**
 * --add-host HOST:IP or HOST=IP (Docker 25's form; IPv6 addresses may contain ":" and may be in brackets);
 * "host-gateway" is the sandbox's gateway.
 */
export function parseAddHost(spec: string, gateway?: string): [string, string] {
  const eq = spec.indexOf('=');
  const i = eq >= 0 ? eq : spec.indexOf(':');
  const host = spec.slice(0, i);
  let ip = spec.slice(i + 1);
  if (i <= 0 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) throw new UserError(`invalid --add-host ${JSON.stringify(spec)}: expected HOST:IP or HOST=IP`);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') {
    if (!gateway) throw new UserError(`--add-host ${spec}: host-gateway needs a network with a gateway`);
    ip = gateway;
  }
  if (!parseIP(ip)) throw new UserError(`invalid --add-host ${JSON.stringify(spec)}: ${JSON.stringify(ip)} is not an IP address`);
  return [host, ip];
}

const LOOPBACK = /^\s*nameserver\s+(127\.\S*|::1)\s*$/;
const NAMESERVER = /^\s*nameserver\s+(\S+)/;

/** systemd-resolved's file listing the real upstream servers (when /etc/resolv.conf names only 127.0.0.53). */
export const UPSTREAM_RESOLV = '/run/systemd/resolve/resolv.conf';
/** Docker's fallback when no nameserver is left that a sandbox can reach. */
export const DEFAULT_DNS = ['8.8.8.8', '8.8.4.4'];
export const DEFAULT_DNS6 = ['2001:4860:4860::8888', '2001:4860:4860::8844'];

export interface ResolvInput {
  /** /etc/resolv.conf of the host. */
  host: string;
  /** UPSTREAM_RESOLV's content when that file exists. */
  upstream?: string;
  dns: readonly string[];
  search: readonly string[];
  options: readonly string[];
  /** The sandbox has a network namespace of its own: the host's loopback resolvers cannot answer there. */
  ownNetns: boolean;
  /** It is on an IPv6 network (the fallback then adds Google's IPv6 servers, as Docker). */
  ipv6?: boolean;
}

export interface Resolv {
  text: string;
  /** Set when the nameservers are Docker's fallback (worth telling the user). */
  fallback?: string;
}

export function checkDnsFlags(dns: readonly string[], search: readonly string[], options: readonly string[]): void {
  for (const d of dns) if (!parseIP(d)) throw new UserError(`invalid --dns ${JSON.stringify(d)}: not an IP address`);
  for (const s of search) if (!/^[A-Za-z0-9.-]+$/.test(s)) throw new UserError(`invalid --dns-search ${JSON.stringify(s)}: not a domain name`);
  for (const o of options) if (!/^[A-Za-z0-9_-]+(:[A-Za-z0-9_.-]+)?$/.test(o)) throw new UserError(`invalid --dns-option ${JSON.stringify(o)}: expected OPTION or OPTION:VALUE, e.g. ndots:2`);
}

/**
 * The sandbox's resolv.conf, as Docker writes it: --dns / --dns-search / --dns-option replace the host's
 * nameserver / search / options lines. In a sandbox with its own network namespace the host's loopback nameservers
 * (e.g. systemd-resolved's 127.0.0.53) cannot answer: when the host file names only loopback servers,
 * /run/systemd/resolve/resolv.conf (the real upstream servers) is used instead when it exists; when no nameserver
 * is left, Docker's fallback 8.8.8.8 and 8.8.4.4 (and Google's IPv6 servers on an IPv6 network). A comment at the
 * end says which, as Docker 25 does.
 */
export function resolvConf(r: ResolvInput): Resolv {
  checkDnsFlags(r.dns, r.search, r.options);
  if (!r.ownNetns && !r.dns.length && !r.search.length && !r.options.length) return { text: r.host }; // host mode: the host's file
  const servers = (text: string) => text.split('\n').filter((l) => NAMESERVER.test(l));
  const onlyLoopback = (text: string) => servers(text).length > 0 && servers(text).every((l) => LOOPBACK.test(l));
  const useUpstream = r.ownNetns && !r.dns.length && r.upstream !== undefined && onlyLoopback(r.host);
  const base = useUpstream ? r.upstream! : r.host;
  const keep = base
    .split('\n')
    .filter((l) => !/^\s*#/.test(l) && l.trim() !== '')
    .filter((l) => !(r.ownNetns && LOOPBACK.test(l)) && !(r.dns.length && NAMESERVER.test(l)) && !(r.search.length && /^\s*(search|domain)\s/.test(l)) && !(r.options.length && /^\s*options\s/.test(l)));
  const comments: string[] = [];
  if (useUpstream) comments.push(`# Based on host file: '${UPSTREAM_RESOLV}'`);
  let fallback: string | undefined;
  let dns = [...r.dns];
  if (r.ownNetns && !dns.length && !keep.some((l) => NAMESERVER.test(l))) {
    dns = [...DEFAULT_DNS, ...(r.ipv6 ? DEFAULT_DNS6 : [])];
    const had = servers(base).map((l) => NAMESERVER.exec(l)![1]).join(', ');
    const why = had ? `only loopback nameservers (${had}), which a sandbox cannot reach${r.upstream === undefined ? `, and there is no ${UPSTREAM_RESOLV}` : ''}` : 'no nameserver';
    fallback = `the host's resolv.conf lists ${why}: the sandbox uses ${dns.join(', ')} (choose with --dns)`;
    comments.push('# Used default nameservers.');
  }
  const lines = [
    ...(r.search.length ? [`search ${r.search.join(' ')}`] : []),
    ...dns.map((d) => `nameserver ${d}`),
    ...keep,
    ...(r.options.length ? [`options ${r.options.join(' ')}`] : []),
    ...(comments.length ? ['', ...comments] : []),
  ];
  return { text: lines.join('\n') + '\n', ...(fallback ? { fallback } : {}) };
}
