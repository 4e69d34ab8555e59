/** host-local IPAM configuration: ranges, range sets, requested IPs. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { argsCni, capability, type NetConf } from '../../lib/cni/config.js';
import { Fields, isObject, type Obj } from '../../lib/cni/fields.js';
import { parseRoute, type Route } from '../../lib/cni/result.js';
import { versionAllowsMultipleIps } from '../../lib/cni/version.js';
import {
  addIP, bitsOf, contains, formatCIDR, formatIP, ipEqual, lastAddressOf, networkOf, overlaps, parseCIDR, parseIP,
  type CIDR, type IP,
} from '../../lib/ip.js';

export interface Range {
  subnet: CIDR; // network address, host bits clear
  rangeStart: IP;
  rangeEnd: IP;
  gateway: IP;
}

export type RangeSet = Range[];

export interface HostLocalConfig {
  name: string;
  dataDir: string;
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf?: string;
  requestedIPs: IP[];
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

const invalid = (msg: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg);

/** Range.Canonicalize: defaults and checks, with the reference's messages. */
export function parseRange(raw: unknown, where: string): Range {
  if (!isObject(raw)) throw invalid(`${where} must be an object`);
  const f = new Fields(raw, where);
  const subnetText = f.string('subnet');
  if (!subnetText) throw invalid(`${where}: "subnet" is required`);
  const c = parseCIDR(subnetText);
  if (!c) throw invalid(`${where}: "subnet" ${JSON.stringify(subnetText)} is not a CIDR`);
  const net = networkOf(c);
  if (net.ip.value !== c.ip.value) {
    throw invalid(`${where}: Network has host bits set. For a subnet mask of length ${c.prefix} the network address is ${formatIP(net.ip)}`);
  }
  const bits = bitsOf(c.ip.family);
  if (c.prefix > bits - 2) throw invalid(`${where}: Network ${subnetText} too small to allocate from`);
  const ipKey = (key: string): IP | undefined => {
    const s = f.string(key);
    if (s === undefined) return undefined;
    const ip = parseIP(s);
    if (!ip) throw invalid(`${where}: "${key}" ${JSON.stringify(s)} is not an IP address`);
    if (ip.family !== c.ip.family) throw invalid(`${where}: "${key}" ${s} is not in the same address family as subnet ${subnetText}`);
    return ip;
  };
  const rangeStart = ipKey('rangeStart') ?? addIP(net.ip, 1n);
  const last = lastAddressOf(net);
  const rangeEnd = ipKey('rangeEnd') ?? (c.ip.family === 4 ? addIP(last, -1n) : last);
  const gateway = ipKey('gateway') ?? addIP(net.ip, 1n);
  if (!contains(net, rangeStart)) throw invalid(`${where}: RangeStart ${formatIP(rangeStart)} not in network ${subnetText}`);
  if (!contains(net, rangeEnd)) throw invalid(`${where}: RangeEnd ${formatIP(rangeEnd)} not in network ${subnetText}`);
  if (rangeStart.value > rangeEnd.value) throw invalid(`${where}: RangeStart ${formatIP(rangeStart)} is after RangeEnd ${formatIP(rangeEnd)}`);
  return { subnet: net, rangeStart, rangeEnd, gateway };
}

export const rangeContains = (r: Range, ip: IP): boolean =>
  contains(r.subnet, ip) && ip.value >= r.rangeStart.value && ip.value <= r.rangeEnd.value;

export const rangeSetContains = (set: RangeSet, ip: IP): boolean => set.some((r) => rangeContains(r, ip));

export const rangeSetString = (set: RangeSet): string => set.map((r) => `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`).join(',');

function parseRangeSet(raw: unknown, index: number): RangeSet {
  if (!Array.isArray(raw) || raw.length === 0) throw invalid(`invalid range set ${index}: it must be a non-empty list of ranges`);
  const set = raw.map((r, j) => parseRange(r, `range set ${index}, range ${j}`));
  const fam = set[0]!.subnet.ip.family;
  if (set.some((r) => r.subnet.ip.family !== fam)) throw invalid(`invalid range set ${index}: mixed address families`);
  for (let a = 0; a < set.length; a++) {
    for (let b = a + 1; b < set.length; b++) {
      if (overlaps(set[a]!.subnet, set[b]!.subnet)) {
        throw invalid(`invalid range set ${index}: subnets ${formatCIDR(set[a]!.subnet)} and ${formatCIDR(set[b]!.subnet)} overlap`);
      }
    }
  }
  return set;
}

function parseRequested(s: unknown, where: string): IP {
  if (typeof s !== 'string') throw invalid(`${where}: requested IP must be a string, got ${JSON.stringify(s)}`);
  const text = s.includes('/') ? s.slice(0, s.indexOf('/')) : s;
  const ip = parseIP(text);
  if (!ip) throw invalid(`${where}: requested IP ${JSON.stringify(s)} is not an IP address`);
  return ip;
}

/** Requested IPs from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips, merged in that order. */
export function requestedIPs(conf: NetConf, cniArgs: Record<string, string>): IP[] {
  const out: IP[] = [];
  if (cniArgs.IP) for (const s of cniArgs.IP.split(',')) out.push(parseRequested(s, 'CNI_ARGS IP'));
  for (const [value, where] of [
    [argsCni(conf, 'ips'), 'args.cni.ips'],
    [capability(conf, 'ips'), 'runtimeConfig.ips'],
  ] as const) {
    if (value === undefined || value === null) continue;
    if (!Array.isArray(value)) throw invalid(`${where} must be a list of IP addresses`);
    for (const s of value) out.push(parseRequested(s, where));
  }
  return out;
}

function rangeSetsFrom(list: unknown, where: string): unknown[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalid(`${where} must be a list of range sets`);
  return list;
}

/** The ipam block's data directory and network name (all DEL needs, so DEL survives a changed range config). */
export function storeLocation(conf: NetConf): { name: string; dataDir: string } {
  const ipam = requireIpam(conf);
  return { name: conf.name, dataDir: new Fields(ipam, 'ipam').string('dataDir') ?? DEFAULT_DATA_DIR };
}

function requireIpam(conf: NetConf): Obj {
  if (!conf.ipam) throw invalid(`IPAM config missing 'ipam' key`);
  return conf.ipam;
}

export function parseHostLocalConfig(conf: NetConf, cniArgs: Record<string, string>): HostLocalConfig {
  const ipam = requireIpam(conf);
  const f = new Fields(ipam, 'ipam');
  const rawSets: unknown[] = [
    ...rangeSetsFrom(capability(conf, 'ipRanges'), 'runtimeConfig.ipRanges'),
    ...(f.string('subnet') !== undefined ? [[{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }]] : []),
    ...rangeSetsFrom(ipam.ranges, 'ipam.ranges'),
  ];
  if (rawSets.length === 0) throw invalid('no IP ranges specified (set ipam.ranges or ipam.subnet)');
  const rangeSets = rawSets.map((s, i) => parseRangeSet(s, i));
  for (let a = 0; a < rangeSets.length; a++) {
    for (let b = a + 1; b < rangeSets.length; b++) {
      if (rangeSets[a]!.some((ra) => rangeSets[b]!.some((rb) => overlaps(ra.subnet, rb.subnet)))) {
        throw invalid(`range set ${a} overlaps with ${b}`);
      }
    }
  }
  if (!versionAllowsMultipleIps(conf.cniVersion)) {
    const fams = rangeSets.map((s) => s[0]!.subnet.ip.family);
    if (new Set(fams).size !== fams.length) throw invalid(`CNI version ${conf.cniVersion} does not support more than 1 address per family`);
  }
  const routes = (f.list('routes') ?? []).map((r, i) => {
    try {
      return parseRoute(r, `ipam.routes[${i}]`);
    } catch (e) {
      throw invalid((e as CniError).msg);
    }
  });
  const cfg: HostLocalConfig = {
    name: conf.name,
    dataDir: f.string('dataDir') ?? DEFAULT_DATA_DIR,
    rangeSets,
    routes,
    requestedIPs: requestedIPs(conf, cniArgs),
  };
  const rc = f.string('resolvConf');
  if (rc) cfg.resolvConf = rc;
  return cfg;
}

export { ipEqual };
