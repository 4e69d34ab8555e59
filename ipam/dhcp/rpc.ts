/**
 * The dhcp daemon's socket protocol, the reference's: Go's net/rpc over HTTP (`CONNECT /_goRPC_`), then a gob stream
 * each way. A call is a `rpc.Request` {ServiceMethod, Seq} and the arguments (`skel.CmdArgs`); the answer is a
 * `rpc.Response` {ServiceMethod, Seq, Error} and the reply (`types100.Result` for DHCP.Allocate, `struct{}` for
 * DHCP.Release and for every error). Pure: messages and conversions, no sockets.
 *
 * The type tables below describe those Go types as the reference plugin and daemon (1.1.1) define and number them, so
 * what we send is byte-for-byte what they send (test/unit/dhcp-rpc.test.ts compares with captured streams). A peer
 * with more fields (a newer CmdArgs or Route) is read all the same: the decoder takes whatever the peer defines.
 */
import type { Result, Route } from '../../lib/cni/result.js';
import { GobDecoder, GobEncoder, T, type WireType } from './gob.js';

export const RPC_PATH = '/_goRPC_';
export const CONNECT_REQUEST = `CONNECT ${RPC_PATH} HTTP/1.0\n\n`;
export const CONNECTED_STATUS = '200 Connected to Go RPC';
export const CONNECT_RESPONSE = `HTTP/1.0 ${CONNECTED_STATUS}\n\n`;

export const METHOD_ALLOCATE = 'DHCP.Allocate';
export const METHOD_RELEASE = 'DHCP.Release';
/** Ours only: is there a lease for these args (never acquires one)? A reference daemon answers "can't find method". */
export const METHOD_CHECK = 'DHCP.Check';

/** skel.CmdArgs as the reference's plugin sends it (newer versions add fields; they are ignored). */
export interface CmdArgs {
  ContainerID: string;
  Netns: string;
  IfName: string;
  Args: string;
  Path: string;
  StdinData: Uint8Array;
}

const REQUEST = 65;
const CMD_ARGS = 66;
/** The plugin's side: rpc.Request, skel.CmdArgs. */
export const CLIENT_TYPES: ReadonlyMap<number, WireType> = new Map<number, WireType>([
  [REQUEST, { kind: 'struct', name: 'Request', fields: [{ name: 'ServiceMethod', id: T.string }, { name: 'Seq', id: T.uint }] }],
  [CMD_ARGS, { kind: 'struct', name: 'CmdArgs', fields: ['ContainerID', 'Netns', 'IfName', 'Args', 'Path'].map((name) => ({ name, id: T.string as number })).concat([{ name: 'StdinData', id: T.bytes }]) }],
]);

const RESPONSE = 65;
const RESULT = 66;
const EMPTY = 76;
/** The daemon's side: rpc.Response, types100.Result and its parts, struct{} (numbered as the Go daemon numbers them). */
export const SERVER_TYPES: ReadonlyMap<number, WireType> = new Map<number, WireType>([
  [RESPONSE, { kind: 'struct', name: 'Response', fields: [{ name: 'ServiceMethod', id: T.string }, { name: 'Seq', id: T.uint }, { name: 'Error', id: T.string }] }],
  [RESULT, { kind: 'struct', name: 'Result', fields: [{ name: 'CNIVersion', id: T.string }, { name: 'Interfaces', id: 68 }, { name: 'IPs', id: 71 }, { name: 'Routes', id: 73 }, { name: 'DNS', id: 74 }] }],
  [67, { kind: 'struct', name: '', fields: [{ name: 'Name', id: T.string }, { name: 'Mac', id: T.string }, { name: 'Sandbox', id: T.string }] }],
  [68, { kind: 'slice', name: '[]*types100.Interface', elem: 67 }],
  [69, { kind: 'struct', name: '', fields: [{ name: 'Interface', id: T.int }, { name: 'Address', id: 70 }, { name: 'Gateway', id: T.bytes }] }],
  [70, { kind: 'struct', name: 'IPNet', fields: [{ name: 'IP', id: T.bytes }, { name: 'Mask', id: T.bytes }] }],
  [71, { kind: 'slice', name: '[]*types100.IPConfig', elem: 69 }],
  [72, { kind: 'struct', name: '', fields: [{ name: 'Dst', id: 70 }, { name: 'GW', id: T.bytes }] }],
  [73, { kind: 'slice', name: '[]*types.Route', elem: 72 }],
  [74, { kind: 'struct', name: 'DNS', fields: [{ name: 'Nameservers', id: 75 }, { name: 'Domain', id: T.string }, { name: 'Search', id: 75 }, { name: 'Options', id: 75 }] }],
  [75, { kind: 'slice', name: '[]string', elem: T.string }],
  [EMPTY, { kind: 'struct', name: '', fields: [] }],
]);

export class RpcError extends Error {}

/** The bytes of one call on a new connection: the HTTP CONNECT, then Request + CmdArgs (with their definitions). */
export function encodeCall(method: string, args: CmdArgs, seq = 0): Uint8Array {
  const enc = new GobEncoder(CLIENT_TYPES);
  return concat([
    Buffer.from(CONNECT_REQUEST),
    enc.encode(REQUEST, { ServiceMethod: method, Seq: seq }),
    enc.encode(CMD_ARGS, args as unknown as Record<string, unknown>),
  ]);
}

/** The daemon's encoder for one connection: each answer is Response + reply. */
export class ReplyEncoder {
  private readonly enc = new GobEncoder(SERVER_TYPES);

  result(method: string, seq: number, result: Result): Uint8Array {
    return concat([this.enc.encode(RESPONSE, { ServiceMethod: method, Seq: seq }), this.enc.encode(RESULT, resultToGob(result))]);
  }

  empty(method: string, seq: number): Uint8Array {
    return concat([this.enc.encode(RESPONSE, { ServiceMethod: method, Seq: seq }), this.enc.encode(EMPTY, {})]);
  }

  error(method: string, seq: number, message: string): Uint8Array {
    // Go sends an empty body after an error (rpc.invalidRequest); an empty message would read as success
    return concat([this.enc.encode(RESPONSE, { ServiceMethod: method, Seq: seq, Error: message || 'error' }), this.enc.encode(EMPTY, {})]);
  }
}

/** A call as the daemon reads it: the request header and the decoded arguments. */
export interface Call {
  method: string;
  seq: number;
  args: CmdArgs;
}

/** An answer as the plugin reads it. */
export interface Answer {
  method: string;
  seq: number;
  error?: string;
  body: Record<string, unknown>;
}

/**
 * Reads (header, body) pairs off a gob stream fed in chunks: the daemon's view of calls, the plugin's of answers.
 * `push` returns every pair completed by the new bytes.
 */
export class PairReader {
  private readonly dec = new GobDecoder();
  private buf: Uint8Array = new Uint8Array(0);
  private header: Record<string, unknown> | undefined;

  push(chunk: Uint8Array): Array<{ header: Record<string, unknown>; body: Record<string, unknown> }> {
    this.buf = this.buf.length ? concat([this.buf, chunk]) : chunk;
    const out: Array<{ header: Record<string, unknown>; body: Record<string, unknown> }> = [];
    for (;;) {
      const m = this.dec.next(this.buf);
      if (!m) break;
      this.buf = this.buf.subarray(m.used);
      if (m.typeId === undefined) continue;
      const value = (m.value ?? {}) as Record<string, unknown>;
      if (typeof value !== 'object' || Array.isArray(value)) throw new RpcError('rpc: a header or body that is not a struct');
      if (!this.header) this.header = value;
      else {
        out.push({ header: this.header, body: value });
        this.header = undefined;
      }
    }
    return out;
  }

  /** Bytes received and not yet part of a whole message. */
  get pending(): number {
    return this.buf.length;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export function callFrom(pair: { header: Record<string, unknown>; body: Record<string, unknown> }): Call {
  const b = pair.body;
  return {
    method: str(pair.header.ServiceMethod),
    seq: num(pair.header.Seq),
    args: {
      ContainerID: str(b.ContainerID),
      Netns: str(b.Netns),
      IfName: str(b.IfName),
      Args: str(b.Args),
      Path: str(b.Path),
      StdinData: b.StdinData instanceof Uint8Array ? b.StdinData : new Uint8Array(0),
    },
  };
}

export function answerFrom(pair: { header: Record<string, unknown>; body: Record<string, unknown> }): Answer {
  const a: Answer = { method: str(pair.header.ServiceMethod), seq: num(pair.header.Seq), body: pair.body };
  const err = str(pair.header.Error);
  if (err) a.error = err;
  return a;
}

// --- net.IP / net.IPNet as bytes -----------------------------------------------------------------------------------

const V4_IN_V6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const isV4Mapped = (b: Uint8Array): boolean => b.length === 16 && V4_IN_V6.every((x, i) => b[i] === x);

/** A Go net.IP's bytes as text ("" for none). 16-byte IPv4-mapped addresses print as IPv4, as Go prints them. */
export function ipFromBytes(b: Uint8Array | undefined): string {
  if (!b || b.length === 0) return '';
  if (b.length === 4 || isV4Mapped(b)) return [...b.subarray(b.length - 4)].join('.');
  if (b.length !== 16) throw new RpcError(`rpc: an IP of ${b.length} bytes`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952: the longest run (≥ 2) of zero groups becomes ::
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The prefix length of a canonical mask (leading ones only); a 16-byte mask of an IPv4 address counts its last 4. */
export function prefixFromMask(mask: Uint8Array, ipBytes: Uint8Array): number {
  let m = mask;
  if (m.length === 16 && (ipBytes.length === 4 || isV4Mapped(ipBytes)) && m.subarray(0, 12).every((x) => x === 0xff)) m = m.subarray(12);
  let ones = 0;
  let seenZero = false;
  for (const byte of m) {
    for (let bit = 7; bit >= 0; bit--) {
      if (byte & (1 << bit)) {
        if (seenZero) throw new RpcError('rpc: a non-canonical netmask');
        ones++;
      } else seenZero = true;
    }
  }
  return ones;
}

const ipNetToCidr = (n: unknown): string => {
  const o = (n ?? {}) as Record<string, unknown>;
  const ip = o.IP instanceof Uint8Array ? o.IP : new Uint8Array(0);
  const mask = o.Mask instanceof Uint8Array ? o.Mask : new Uint8Array(0);
  if (!ip.length) throw new RpcError('rpc: an address without an IP');
  return `${ipFromBytes(ip)}/${prefixFromMask(mask, ip)}`;
};

/** An IPv4/IPv6 address as the bytes Go keeps in a net.IP (4 for IPv4, as To4 gives). */
export function ipToBytes(s: string): Uint8Array {
  if (!s.includes(':')) return Uint8Array.from(s.split('.').map(Number));
  const [head, tail] = s.split('::') as [string, string | undefined];
  const groups = (x: string | undefined): number[] => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]));
}

function maskBytes(prefix: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = prefix >= (i + 1) * 8 ? 0xff : prefix > i * 8 ? (0xff << (8 - (prefix - i * 8))) & 0xff : 0;
  return out;
}

const cidrToIpNet = (cidr: string): Record<string, unknown> => {
  const [ip, prefix] = cidr.split('/') as [string, string];
  const b = ipToBytes(ip);
  return { IP: b, Mask: maskBytes(Number(prefix), b.length) };
};

/** A types100.Result (decoded from gob) as our Result. */
export function resultFromGob(body: Record<string, unknown>, cniVersion: string): Result {
  const result: Result = { cniVersion };
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? (v as Array<Record<string, unknown>>) : []);
  const ifaces = list(body.Interfaces).map((i) => {
    const out: NonNullable<Result['interfaces']>[number] = { name: str(i.Name) };
    if (str(i.Mac)) out.mac = str(i.Mac);
    if (str(i.Sandbox)) out.sandbox = str(i.Sandbox);
    if (num(i.Mtu)) out.mtu = num(i.Mtu);
    return out;
  });
  if (ifaces.length) result.interfaces = ifaces;
  const ips = list(body.IPs).map((c) => {
    const out: NonNullable<Result['ips']>[number] = { address: ipNetToCidr(c.Address) };
    const gw = ipFromBytes(c.Gateway as Uint8Array | undefined);
    if (gw) out.gateway = gw;
    if (typeof c.Interface === 'number') out.interface = c.Interface;
    return out;
  });
  if (ips.length) result.ips = ips;
  const routes = list(body.Routes).map((r) => {
    const out: Route = { dst: ipNetToCidr(r.Dst) };
    const gw = ipFromBytes(r.GW as Uint8Array | undefined);
    if (gw) out.gw = gw;
    for (const [k, key] of [['MTU', 'mtu'], ['AdvMSS', 'advmss'], ['Priority', 'priority'], ['Table', 'table'], ['Scope', 'scope']] as const) {
      if (typeof r[k] === 'number' && r[k] !== 0) out[key] = r[k] as number;
    }
    return out;
  });
  if (routes.length) result.routes = routes;
  const dns = (body.DNS ?? {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const d: NonNullable<Result['dns']> = {};
  if (strings(dns.Nameservers).length) d.nameservers = strings(dns.Nameservers);
  if (str(dns.Domain)) d.domain = str(dns.Domain);
  if (strings(dns.Search).length) d.search = strings(dns.Search);
  if (strings(dns.Options).length) d.options = strings(dns.Options);
  if (Object.keys(d).length) result.dns = d;
  return result;
}

/** Our Result as the types100.Result the Go daemon returns (its CNIVersion left empty, as the daemon leaves it). */
export function resultToGob(result: Result): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (result.interfaces?.length) out.Interfaces = result.interfaces.map((i) => ({ Name: i.name, Mac: i.mac, Sandbox: i.sandbox }));
  if (result.ips?.length) {
    out.IPs = result.ips.map((c) => ({ Interface: c.interface, Address: cidrToIpNet(c.address), Gateway: c.gateway ? ipToBytes(c.gateway) : undefined }));
  }
  if (result.routes?.length) out.Routes = result.routes.map((r) => ({ Dst: cidrToIpNet(r.dst), GW: r.gw ? ipToBytes(r.gw) : undefined }));
  const d = result.dns ?? {};
  out.DNS = { Nameservers: d.nameservers, Domain: d.domain, Search: d.search, Options: d.options };
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
