/**
 * CNI results: one internal shape (the 1.x one) and conversion to and from every spec version.
 * Pure: no I/O.
 */
import { CniError, ErrorCode } from './errors.js';
import { resultFamily } from './version.js';
import { parseCIDR, parseIP } from '../ip.js';

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  address: string; // CIDR, e.g. "10.1.0.2/24"
  gateway?: string;
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

const decodeError = (msg: string): CniError => new CniError(ErrorCode.DecodingFailure, msg);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw decodeError(`${where}.${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function optNumber(o: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw decodeError(`${where}.${key} must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

function optStringList(o: Record<string, unknown>, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw decodeError(`${where}.${key} must be a list of strings`);
  return v as string[];
}

export function parseRoute(raw: unknown, where: string): Route {
  if (!isObject(raw)) throw decodeError(`${where} must be an object`);
  const dst = optString(raw, 'dst', where);
  if (!dst || !parseCIDR(dst)) throw decodeError(`${where}.dst must be a CIDR, got ${JSON.stringify(raw.dst)}`);
  const r: Route = { dst };
  const gw = optString(raw, 'gw', where);
  if (gw !== undefined) {
    if (!parseIP(gw)) throw decodeError(`${where}.gw must be an IP address, got ${JSON.stringify(gw)}`);
    r.gw = gw;
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = optNumber(raw, k, where);
    if (n !== undefined) r[k] = n;
  }
  return r;
}

export function parseDNS(raw: unknown, where = 'dns'): DNS {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw decodeError(`${where} must be an object`);
  const d: DNS = {};
  const ns = optStringList(raw, 'nameservers', where);
  if (ns?.length) d.nameservers = ns;
  const domain = optString(raw, 'domain', where);
  if (domain) d.domain = domain;
  const search = optStringList(raw, 'search', where);
  if (search?.length) d.search = search;
  const options = optStringList(raw, 'options', where);
  if (options?.length) d.options = options;
  return d;
}

export const isDnsEmpty = (d: DNS | undefined): boolean =>
  !d || (!d.nameservers?.length && !d.domain && !d.search?.length && !d.options?.length);

function parseIPConfig(raw: unknown, where: string): IPConfig {
  if (!isObject(raw)) throw decodeError(`${where} must be an object`);
  const address = optString(raw, 'address', where);
  if (!address || !parseCIDR(address)) throw decodeError(`${where}.address must be a CIDR, got ${JSON.stringify(raw.address)}`);
  const ipc: IPConfig = { address };
  const gw = optString(raw, 'gateway', where);
  if (gw !== undefined) {
    if (!parseIP(gw)) throw decodeError(`${where}.gateway must be an IP address, got ${JSON.stringify(gw)}`);
    ipc.gateway = gw;
  }
  const idx = optNumber(raw, 'interface', where);
  if (idx !== undefined) ipc.interface = idx;
  return ipc;
}

function parseInterface(raw: unknown, where: string): Interface {
  if (!isObject(raw)) throw decodeError(`${where} must be an object`);
  const name = optString(raw, 'name', where);
  if (!name) throw decodeError(`${where}.name is required`);
  const i: Interface = { name };
  for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) {
    const s = optString(raw, k, where);
    if (s !== undefined) i[k] = s;
  }
  const mtu = optNumber(raw, 'mtu', where);
  if (mtu !== undefined) i.mtu = mtu;
  return i;
}

function listOf<T>(raw: unknown, key: string, parse: (x: unknown, where: string) => T): T[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw decodeError(`${key} must be a list`);
  return raw.map((x, i) => parse(x, `${key}[${i}]`));
}

/**
 * Parse a result of any spec version into the internal shape.
 * `defaultVersion` is used when the result has no cniVersion of its own.
 */
export function parseResult(raw: unknown, defaultVersion: string): Result {
  if (!isObject(raw)) throw decodeError('result must be a JSON object');
  const v = raw.cniVersion;
  if (v !== undefined && typeof v !== 'string') throw decodeError('result cniVersion must be a string');
  const cniVersion = (v as string | undefined) || defaultVersion;
  const result: Result = { cniVersion };
  if (resultFamily(cniVersion) === '020') {
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const key of ['ip4', 'ip6'] as const) {
      const block = raw[key];
      if (block === undefined || block === null) continue;
      if (!isObject(block)) throw decodeError(`${key} must be an object`);
      const ip = optString(block, 'ip', key);
      if (!ip || !parseCIDR(ip)) throw decodeError(`${key}.ip must be a CIDR, got ${JSON.stringify(block.ip)}`);
      const ipc: IPConfig = { address: ip };
      const gw = optString(block, 'gateway', key);
      if (gw) ipc.gateway = gw;
      ips.push(ipc);
      routes.push(...(listOf(block.routes, `${key}.routes`, parseRoute) ?? []));
    }
    if (ips.length) result.ips = ips;
    if (routes.length) result.routes = routes;
  } else {
    const interfaces = listOf(raw.interfaces, 'interfaces', parseInterface);
    if (interfaces?.length) result.interfaces = interfaces;
    const ips = listOf(raw.ips ?? raw.ip, 'ips', parseIPConfig);
    if (ips?.length) result.ips = ips;
    const routes = listOf(raw.routes, 'routes', parseRoute);
    if (routes?.length) result.routes = routes;
  }
  const dns = parseDNS(raw.dns);
  if (!isDnsEmpty(dns)) result.dns = dns;
  return result;
}

const familyOfAddress = (cidr: string): 4 | 6 => (parseCIDR(cidr)?.ip.family === 6 ? 6 : 4);
const familyOfRoute = (r: Route): 4 | 6 => (parseCIDR(r.dst)?.ip.family === 6 ? 6 : 4);

function routeOut(r: Route, full: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = { dst: r.dst };
  if (r.gw) o.gw = r.gw;
  if (full) for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (r[k] !== undefined) o[k] = r[k];
  return o;
}

function dnsOut(d: DNS | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (!d) return o;
  if (d.nameservers?.length) o.nameservers = d.nameservers;
  if (d.domain) o.domain = d.domain;
  if (d.search?.length) o.search = d.search;
  if (d.options?.length) o.options = d.options;
  return o;
}

/** Render a result as the JSON object a runtime expects at `version` (key order as the reference prints it). */
export function formatResult(result: Result, version: string): Record<string, unknown> {
  const family = resultFamily(version);
  const out: Record<string, unknown> = { cniVersion: version };
  if (family === '020') {
    const ips = result.ips ?? [];
    if (ips.length === 0) throw new CniError(ErrorCode.IncompatibleVersion, 'cannot convert: no valid IP addresses');
    for (const fam of [4, 6] as const) {
      const ipc = ips.find((i) => familyOfAddress(i.address) === fam);
      if (!ipc) continue;
      const block: Record<string, unknown> = { ip: ipc.address };
      if (ipc.gateway) block.gateway = ipc.gateway;
      const routes = (result.routes ?? []).filter((r) => familyOfRoute(r) === fam).map((r) => routeOut(r, false));
      if (routes.length) block.routes = routes;
      out[`ip${fam}`] = block;
    }
    out.dns = dnsOut(result.dns);
    return out;
  }
  const full = family === '100';
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (full && i.mtu) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      if (full && i.socketPath) o.socketPath = i.socketPath;
      if (full && i.pciID) o.pciID = i.pciID;
      return o;
    });
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ipc) => {
      const o: Record<string, unknown> = {};
      if (!full) o.version = String(familyOfAddress(ipc.address));
      if (ipc.interface !== undefined) o.interface = ipc.interface;
      o.address = ipc.address;
      if (ipc.gateway) o.gateway = ipc.gateway;
      return o;
    });
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => routeOut(r, full));
  if (!full || !isDnsEmpty(result.dns)) out.dns = dnsOut(result.dns);
  return out;
}

/** The exact bytes a plugin prints: 4-space indented JSON, as the reference does. */
export const printJSON = (o: unknown): string => JSON.stringify(o, null, 4);

/**
 * A result without addresses cannot be printed at cniVersion 0.1.0/0.2.0 ("cannot convert: no valid IP addresses"). A
 * plugin that will have none (`hasAddresses` false: no IPAM, nothing chained) refuses such a version before it creates
 * anything; the reference creates its link, then fails to print and leaves it. `what`: "a macvlan", "this bridge config".
 */
export function requireAddressesForVersion(cniVersion: string, hasAddresses: boolean, what: string): void {
  if (!hasAddresses && resultFamily(cniVersion) === '020') {
    throw new CniError(ErrorCode.IncompatibleVersion, 'cannot convert: no valid IP addresses', `${what} without "ipam" has no addresses, which a cniVersion ${cniVersion || '0.1.0'} result cannot express: set "ipam" or use cniVersion 0.3.0 or later`);
  }
}
