/** `cnictl run` options: parsed and checked against each other before anything is created. Pure. */
import { parseIP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';
import { checkDnsFlags, parseAddHost } from './hosts.js';
import { parsePublish, type PortMapping } from './ports.js';

/**
 * One --network value: Docker's plain `NET`, or its advanced syntax `name=NET,alias=A,alias=B,ip=IPv4,ip6=IPv6,
 * mac-address=MAC` (per-network settings; keys as Docker's, case-insensitive).
 */
export interface NetworkEndpoint {
  name: string;
  aliases: string[];
  ip?: string;
  ip6?: string;
  mac?: string;
}

export type NetworkMode = { kind: 'networks'; names: string[]; endpoints: NetworkEndpoint[] } | { kind: 'host' } | { kind: 'none' } | { kind: 'container'; target: string };

export const SANDBOX_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const ALIAS = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const ENDPOINT_KEYS = 'name, alias, ip, ip6, mac-address';
/** Docker keys cnictl does not take, and why. */
const UNSUPPORTED_KEYS: Record<string, string> = {
  'driver-opt': "a CNI network's driver options live in its config (cnictl network create -o)",
  'link-local-ip': 'CNI plugins take no link-local addresses',
  'gw-priority': 'the first --network is the one with the default route',
};

/** A --network value, plain or advanced; bad values are refused naming the value and what is accepted. Pure. */
export function parseNetworkValue(v: string): NetworkEndpoint {
  if (!v.includes('=')) return { name: v, aliases: [] };
  const bad = (why: string) => new UserError(`invalid --network ${JSON.stringify(v)}: ${why}`);
  const ep: NetworkEndpoint = { name: '', aliases: [] };
  let named = false;
  for (const field of v.split(',')) {
    const eq = field.indexOf('=');
    const key = eq < 0 ? '' : field.slice(0, eq).trim().toLowerCase();
    const val = eq < 0 ? '' : field.slice(eq + 1).trim();
    if (!key) throw bad(`${JSON.stringify(field)} is not KEY=VALUE (keys: ${ENDPOINT_KEYS})`);
    if (UNSUPPORTED_KEYS[key]) throw bad(`${key} is not supported by cnictl: ${UNSUPPORTED_KEYS[key]}`);
    const once = (have: unknown) => {
      if (have) throw bad(`${key} given twice`);
    };
    switch (key) {
      case 'name':
        once(named);
        if (!val) throw bad('name= is empty: give the network, e.g. name=app');
        [ep.name, named] = [val, true];
        break;
      case 'alias':
        if (!ALIAS.test(val)) throw bad(`alias ${JSON.stringify(val)} is not a valid name: use letters, digits, _ . -`);
        ep.aliases.push(val);
        break;
      case 'ip': {
        once(ep.ip);
        const ip = parseIP(val);
        if (ip?.family !== 4) throw bad(`ip ${JSON.stringify(val)} is not an IPv4 address (ip6= takes IPv6)`);
        ep.ip = val;
        break;
      }
      case 'ip6': {
        once(ep.ip6);
        const ip = parseIP(val);
        if (ip?.family !== 6) throw bad(`ip6 ${JSON.stringify(val)} is not an IPv6 address`);
        ep.ip6 = val;
        break;
      }
      case 'mac-address':
        once(ep.mac);
        checkMac(val, `mac-address in --network ${JSON.stringify(v)}`);
        ep.mac = val;
        break;
      default:
        throw bad(`unknown key ${JSON.stringify(key)} (keys: ${ENDPOINT_KEYS})`);
    }
  }
  if (!named) throw bad('name=NET is missing (e.g. --network name=app,alias=web)');
  return ep;
}

/** --network-alias, --ip and --mac-address go to the first network, unless its --network value sets them too. */
function withLegacyFlags(e: NetworkEndpoint, f: RunFlags): NetworkEndpoint {
  const conflict = (flag: string, key: string) => new UserError(`conflicting options: ${flag} and ${key}= in --network name=${e.name},…: give it one way`);
  const out = { ...e, aliases: [...e.aliases] };
  if (f.aliases?.length) {
    if (e.aliases.length) throw conflict('--network-alias', 'alias');
    out.aliases = [...f.aliases];
  }
  if (f.ip !== undefined) {
    const v6 = parseIP(f.ip)?.family === 6;
    if (v6 ? e.ip6 : e.ip) throw conflict('--ip', v6 ? 'ip6' : 'ip');
    if (v6) out.ip6 = f.ip;
    else out.ip = f.ip;
  }
  if (f.mac !== undefined) {
    if (e.mac) throw conflict('--mac-address', 'mac-address');
    out.mac = f.mac;
  }
  return out;
}

function checkMac(mac: string, what: string): void {
  if (!MAC.test(mac)) throw new UserError(`invalid ${what} ${JSON.stringify(mac)}: expected six hex pairs, e.g. 02:42:ac:11:00:02`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new UserError(`invalid ${what} ${mac}: a multicast address (the first byte is odd)`);
}

/** The --network values (none: `dflt`); `resolve` turns a network ID or prefix into its name. */
export function parseNetworkMode(values: readonly string[], dflt: string, resolve: (ref: string) => string = (n) => n): NetworkMode {
  const given = values.length ? values : [dflt];
  const endpoints = given.map(parseNetworkValue).map((e) => (e.name.startsWith('container:') ? e : { ...e, name: resolve(e.name) }));
  const vs = endpoints.map((e) => e.name);
  const special = vs.filter((v) => v === 'host' || v === 'none' || v.startsWith('container:'));
  if (special.length && vs.length > 1) throw new UserError(`--network ${special[0]} cannot be combined with other networks (${vs.join(', ')})`);
  const v = vs[0]!;
  if (special.length) {
    const e = endpoints[0]!;
    if (e.aliases.length || e.ip || e.ip6 || e.mac) throw new UserError(`invalid --network ${JSON.stringify(given[0])}: alias, ip, ip6 and mac-address need a user-defined network, not ${v}`);
  }
  if (v === 'host') return { kind: 'host' };
  if (v === 'none') return { kind: 'none' };
  if (v.startsWith('container:')) {
    const target = v.slice('container:'.length);
    if (!target) throw new UserError('--network container: needs a sandbox name, e.g. --network container:web');
    return { kind: 'container', target };
  }
  const dup = vs.find((x, i) => vs.indexOf(x) !== i);
  if (dup) throw new UserError(`--network ${dup} given twice`);
  for (const e of endpoints) {
    if (e.aliases.length && e.name === dflt) throw new UserError(`--network name=${e.name},alias=${e.aliases[0]}: network-scoped aliases are only supported on user-defined networks, not the default network ${dflt}`);
  }
  return { kind: 'networks', names: [...vs], endpoints };
}

export interface RunFlags {
  name?: string;
  networks: string[];
  publish: string[];
  ip?: string;
  hostname?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions?: string[];
  addHosts: string[];
  mac?: string;
  /** --network-alias: names on the first network. */
  aliases?: string[];
  env?: string[];
  workdir?: string;
  interactive?: boolean;
  tty?: boolean;
  command: string[];
}

export interface CheckedRun {
  mode: NetworkMode;
  ports: PortMapping[];
}

/**
 * Docker's "conflicting options" rules, with the flag at fault named. The returned endpoints carry --ip,
 * --network-alias and --mac-address on the first network (as Docker applies the legacy flags), refused when that
 * network's value sets the same thing.
 */
export function checkRun(f: RunFlags, defaultNetwork: string, resolve?: (ref: string) => string): CheckedRun {
  if (f.command.length === 0) throw new UserError('"cnictl run" needs a command: cnictl run [OPTIONS] -- CMD [ARG...]');
  if (f.name !== undefined && !SANDBOX_NAME.test(f.name)) throw new UserError(`invalid --name ${JSON.stringify(f.name)}: use letters, digits, _ . - (starting with a letter or digit)`);
  const mode = parseNetworkMode(f.networks, defaultNetwork, resolve);
  const ports = f.publish.flatMap(parsePublish);
  const where = mode.kind === 'container' ? `--network container:${mode.target}` : `--network ${mode.kind}`;
  if (mode.kind !== 'networks') {
    if (ports.length) throw new UserError(`-p ${f.publish[0]}: ports cannot be published with ${where} (there is no network of its own to map to)`);
    if (f.ip) throw new UserError(`--ip ${f.ip} needs a named network, not ${where}`);
    if (f.mac) throw new UserError(`--mac-address ${f.mac} needs a named network, not ${where}`);
  }
  if ((mode.kind === 'host' || mode.kind === 'container') && f.hostname) throw new UserError(`--hostname ${f.hostname} conflicts with ${where} (the hostname is shared)`);
  if (mode.kind === 'container' && (f.dns.length || f.dnsSearch.length || f.dnsOptions?.length || f.addHosts.length)) {
    throw new UserError(`--dns, --dns-search, --dns-option and --add-host conflict with ${where} (its /etc/hosts and resolv.conf are shared)`);
  }
  if (f.aliases?.length && (mode.kind !== 'networks' || mode.names[0] === defaultNetwork)) {
    throw new UserError(`--network-alias ${f.aliases[0]}: network-scoped aliases are only supported on user-defined networks, not ${mode.kind === 'networks' ? `the default network ${defaultNetwork}` : where}`);
  }
  for (const a of f.aliases ?? []) if (!ALIAS.test(a)) throw new UserError(`invalid --network-alias ${JSON.stringify(a)}: use letters, digits, _ . -`);
  for (const e of f.env ?? []) if (e === '' || e.startsWith('=')) throw new UserError(`invalid --env ${JSON.stringify(e)}: expected KEY=VALUE or KEY`);
  if (f.workdir !== undefined && !f.workdir.startsWith('/')) throw new UserError(`invalid --workdir ${JSON.stringify(f.workdir)}: the working directory must be an absolute path`);
  if (f.ip !== undefined && !parseIP(f.ip)) throw new UserError(`invalid --ip ${JSON.stringify(f.ip)}: not an IP address`);
  if (f.mac !== undefined) checkMac(f.mac, '--mac-address');
  if (mode.kind === 'networks') mode.endpoints[0] = withLegacyFlags(mode.endpoints[0]!, f);
  if (f.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(f.hostname)) throw new UserError(`invalid --hostname ${JSON.stringify(f.hostname)}`);
  // a --hostname with a domain is the FQDN (kernel hostname "web.example.test", hosts entry "IP web.example.test web")
  if (f.hostname !== undefined && f.hostname.endsWith('.')) throw new UserError(`invalid --hostname ${JSON.stringify(f.hostname)}: it ends with "."`);
  // syntax of --add-host and the DNS flags now, before the default network's config is written (host-gateway is
  // resolved once attached)
  for (const h of f.addHosts) parseAddHost(h, mode.kind === 'networks' ? '0.0.0.0' : undefined);
  checkDnsFlags(f.dns, f.dnsSearch, f.dnsOptions ?? []);
  return { mode, ports };
}
