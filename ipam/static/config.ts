/**
 * static IPAM configuration: the addresses, routes and DNS a config (and a runtime) names, validated and merged in the
 * reference's order. Pure.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { argsCni, capability, type NetConf } from '../../lib/cni/config.js';
import { Fields, isObject } from '../../lib/cni/fields.js';
import { parseDNS, parseRoute, type DNS, type IPConfig, type Route } from '../../lib/cni/result.js';
import { versionAllowsMultipleIps } from '../../lib/cni/version.js';
import { contains, formatIP, parseCIDR, parseIP, type CIDR, type IP } from '../../lib/ip.js';

export interface StaticAddress {
  /** The address as given (host bits kept), e.g. 10.1.0.5/24. */
  cidr: CIDR;
  gateway?: IP;
}

export interface StaticConfig {
  addresses: StaticAddress[];
  routes: Route[];
  dns: DNS;
}

const invalid = (msg: string, details?: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg, details);
const badArgs = (msg: string): CniError => new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS: ${msg}`);

/** "10.1.0.5/24" as an address with a prefix; `where` names it in the error. */
function parseAddress(text: unknown, where: string, fail: (msg: string) => CniError = invalid): CIDR {
  if (typeof text !== 'string') throw fail(`${where} must be a CIDR string such as "10.1.0.5/24", got ${JSON.stringify(text)}`);
  const c = parseCIDR(text.trim());
  if (!c) throw fail(`${where} ${JSON.stringify(text)} is not an address in CIDR notation (such as "10.1.0.5/24")`);
  return c;
}

function parseConfigAddress(raw: unknown, i: number): StaticAddress {
  const where = `ipam.addresses[${i}]`;
  if (!isObject(raw)) throw invalid(`${where} must be an object {"address": CIDR, "gateway"?: IP}, got ${JSON.stringify(raw)}`);
  const f = new Fields(raw, where);
  const cidr = parseAddress(raw.address, `${where}.address`);
  const gw = f.string('gateway');
  const a: StaticAddress = { cidr };
  if (gw !== undefined) {
    const ip = parseIP(gw);
    if (!ip) throw invalid(`${where}.gateway ${JSON.stringify(gw)} is not an IP address`);
    a.gateway = ip;
  }
  return a;
}

/** A runtime's list of addresses (args.cni.ips, runtimeConfig.ips); undefined when absent or empty (then it changes nothing). */
function runtimeAddresses(value: unknown, where: string): StaticAddress[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid(`${where} must be a list of CIDR strings, got ${JSON.stringify(value)}`);
  if (value.length === 0) return undefined;
  return value.map((s, i) => ({ cidr: parseAddress(s, `${where}[${i}]`) }));
}

/**
 * The addresses in the reference's order: `ipam.addresses`, then CNI_ARGS `IP=` (comma-separated, each getting the
 * `GATEWAY=` address its subnet contains); `args.cni.ips` replaces them all, and `runtimeConfig.ips` replaces that.
 */
export function staticAddresses(conf: NetConf, cniArgs: Record<string, string>): StaticAddress[] {
  const ipam = conf.ipam!;
  const list = new Fields(ipam, 'ipam').list('addresses') ?? [];
  let addresses = list.map(parseConfigAddress);
  if (cniArgs.IP) {
    const fromArgs = cniArgs.IP.split(',').map((s): StaticAddress => ({ cidr: parseAddress(s, 'IP', badArgs) }));
    for (const g of (cniArgs.GATEWAY ?? '').split(',').filter((s) => s.trim() !== '')) {
      const gw = parseIP(g.trim());
      if (!gw) throw badArgs(`invalid gateway address ${JSON.stringify(g)} in GATEWAY`);
      for (const a of fromArgs) if (contains(a.cidr, gw)) a.gateway = gw;
    }
    addresses = [...addresses, ...fromArgs];
  } else if (cniArgs.GATEWAY) {
    for (const g of cniArgs.GATEWAY.split(',')) if (g.trim() && !parseIP(g.trim())) throw badArgs(`invalid gateway address ${JSON.stringify(g)} in GATEWAY`);
  }
  addresses = runtimeAddresses(argsCni(conf, 'ips'), 'args.cni.ips') ?? addresses;
  addresses = runtimeAddresses(capability(conf, 'ips'), 'runtimeConfig.ips') ?? addresses;
  if (!versionAllowsMultipleIps(conf.cniVersion)) {
    for (const fam of [4, 6] as const) {
      if (addresses.filter((a) => a.cidr.ip.family === fam).length > 1) {
        throw invalid(`CNI version ${conf.cniVersion} does not support more than 1 address per family`, `ipam.addresses has more than one IPv${fam} address`);
      }
    }
  }
  return addresses;
}

/** A route in Go's spelling (as net.IP prints: "3ffe:ffff:0:01ff::1/64" → "3ffe:ffff:0:1ff::1/64"), host bits kept. */
function canonicalRoute(r: Route): Route {
  const dst = parseCIDR(r.dst)!;
  const out: Route = { ...r, dst: `${formatIP(dst.ip)}/${dst.prefix}` };
  if (r.gw) out.gw = formatIP(parseIP(r.gw)!);
  return out;
}

export function parseStaticConfig(conf: NetConf, cniArgs: Record<string, string>): StaticConfig {
  if (!conf.ipam) throw invalid(`IPAM config missing 'ipam' key`);
  const f = new Fields(conf.ipam, 'ipam');
  const routes = (f.list('routes') ?? []).map((r, i) => {
    try {
      return canonicalRoute(parseRoute(r, `ipam.routes[${i}]`));
    } catch (e) {
      throw invalid((e as CniError).msg);
    }
  });
  let dns: DNS;
  try {
    dns = parseDNS(conf.ipam.dns, 'ipam.dns');
  } catch (e) {
    throw invalid((e as CniError).msg);
  }
  return { addresses: staticAddresses(conf, cniArgs), routes, dns };
}

/** The result's IP entries: each address as given (host bits kept, canonical spelling) with its gateway. */
export function staticIps(addresses: readonly StaticAddress[]): IPConfig[] {
  return addresses.map((a) => {
    const ipc: IPConfig = { address: `${formatIP(a.cidr.ip)}/${a.cidr.prefix}` };
    if (a.gateway) ipc.gateway = formatIP(a.gateway);
    return ipc;
  });
}
