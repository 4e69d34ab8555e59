/** The files a sandbox sees as /etc/hosts and /etc/resolv.conf, as Docker writes them. Pure. */
import { parseIP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';

export interface HostsInput {
  hostname: string;
  /** The sandbox's own addresses (no prefix), first is the one its hostname resolves to. */
  ownIps: string[];
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
    ...h.ownIps.map((ip) => `${ip}\t${h.hostname}`),
    ...h.peers.map((p) => `${p.ip}\t${p.names.join(' ')}`),
  ];
  return lines.join('\n') + '\n';
}

/** --add-host HOST:IP (IPv6 addresses may contain ":"; "host-gateway" is the sandbox's gateway). */
export function parseAddHost(spec: string, gateway?: string): [string, string] {
  const i = spec.indexOf(':');
  const host = spec.slice(0, i);
  let ip = spec.slice(i + 1);
  if (i <= 0 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) throw new UserError(`invalid --add-host ${JSON.stringify(spec)}: expected HOST:IP`);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') {
    if (!gateway) throw new UserError(`--add-host ${spec}: host-gateway needs a network with a gateway`);
    ip = gateway;
  }
  if (!parseIP(ip)) throw new UserError(`invalid --add-host ${JSON.stringify(spec)}: ${JSON.stringify(ip)} is not an IP address`);
  return [host, ip];
}

const LOOPBACK = /^\s*nameserver\s+(127\.\S*|::1)\s*$/;

/**
 * --dns / --dns-search, else the host's resolv.conf; in a sandbox with its own network namespace the host's
 * loopback nameservers (e.g. systemd-resolved's 127.0.0.53) cannot answer and are left out, as Docker does.
 */
export function resolvConf(hostResolv: string, dns: readonly string[], search: readonly string[], ownNetns: boolean): string {
  for (const d of dns) if (!parseIP(d)) throw new UserError(`invalid --dns ${JSON.stringify(d)}: not an IP address`);
  for (const s of search) if (!/^[A-Za-z0-9.-]+$/.test(s)) throw new UserError(`invalid --dns-search ${JSON.stringify(s)}: not a domain name`);
  const hostLines = hostResolv.split('\n');
  const keep = hostLines.filter((l) => !(ownNetns && LOOPBACK.test(l)) && !(dns.length && /^\s*nameserver\s/.test(l)) && !(search.length && /^\s*(search|domain)\s/.test(l)));
  const lines = [...(search.length ? [`search ${search.join(' ')}`] : []), ...dns.map((d) => `nameserver ${d}`), ...keep.filter((l) => l.trim() !== '')];
  return lines.join('\n') + '\n';
}
