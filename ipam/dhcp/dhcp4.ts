/**
 * DHCPv4 messages (RFC 2131/2132): building the client's DISCOVER, REQUEST and RELEASE, reading the server's OFFER,
 * ACK and NAK, and turning an ACK into a lease and a CNI result (RFC 3442 classless routes, option 33 static routes).
 * Pure.
 */
import type { Result, Route } from '../../lib/cni/result.js';

export const MessageType = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOST_NAME: 12,
  STATIC_ROUTES: 33,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS_ID: 60,
  CLIENT_ID: 61,
  USER_CLASS: 77,
  CLASSLESS_ROUTES: 121,
  END: 255,
} as const;

const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const MAGIC = [99, 130, 83, 99];
const HEADER = 236;
/** RFC 2131 §2: a client must accept messages of 576 bytes; BOOTP relays expect at least 300. */
const MIN_SIZE = 300;
const FLAG_BROADCAST = 0x8000;

export type Options = Map<number, Uint8Array>;

export interface Message {
  op: number;
  xid: number;
  secs: number;
  broadcast: boolean;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, lower-case colon form. */
  chaddr: string;
  options: Options;
}

export const messageType = (m: Message): number => m.options.get(Opt.MESSAGE_TYPE)?.[0] ?? 0;

const ipBytes = (s: string): number[] => s.split('.').map(Number);
const ipText = (b: Uint8Array, at = 0): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
export const macBytes = (mac: string): number[] => mac.split(':').map((x) => parseInt(x, 16));

/** What a client message carries besides the options: the fields of RFC 2131's table 5. */
export interface ClientFields {
  xid: number;
  mac: string;
  /** Our address, when RENEWING/REBINDING/releasing (else 0.0.0.0). */
  ciaddr?: string;
  /** Ask the server to broadcast its answer (`-broadcast`, for links where unicast to an unconfigured address fails). */
  broadcast?: boolean;
  secs?: number;
}

/** A BOOTREQUEST with `options` (message type first, then in the given order), END, padded to 300 bytes. */
export function encodeRequest(f: ClientFields, msgType: number, options: ReadonlyArray<[number, Uint8Array | number[]]>): Uint8Array {
  const opts: number[] = [Opt.MESSAGE_TYPE, 1, msgType];
  for (const [code, value] of options) {
    if (code === Opt.MESSAGE_TYPE || code === Opt.PAD || code === Opt.END) continue;
    // RFC 3396: a value longer than 255 bytes goes in several consecutive instances
    for (let i = 0; i < value.length || i === 0; i += 255) {
      const part = [...value.slice(i, i + 255)];
      opts.push(code, part.length, ...part);
    }
  }
  opts.push(Opt.END);
  const out = new Uint8Array(Math.max(MIN_SIZE, HEADER + 4 + opts.length));
  const v = new DataView(out.buffer);
  out[0] = BOOTREQUEST;
  out[1] = 1; // htype ethernet
  out[2] = 6; // hlen
  v.setUint32(4, f.xid >>> 0);
  v.setUint16(8, Math.min(f.secs ?? 0, 0xffff));
  v.setUint16(10, f.broadcast ? FLAG_BROADCAST : 0);
  if (f.ciaddr) out.set(ipBytes(f.ciaddr), 12);
  out.set(macBytes(f.mac), 28);
  out.set(MAGIC, HEADER);
  out.set(opts, HEADER + 4);
  return out;
}

/**
 * Options of a message (RFC 2132 §3): repeated codes are concatenated (RFC 3396); with option 52 the `file` and
 * `sname` fields hold more of them.
 */
function parseOptions(b: Uint8Array, from: number, to: number, into: Options): void {
  for (let i = from; i < to; ) {
    const code = b[i]!;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (code === Opt.END) return;
    if (i + 1 >= to) return;
    const len = b[i + 1]!;
    if (i + 2 + len > to) return; // truncated: keep what was whole
    const value = b.slice(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Uint8Array.from([...prev, ...value]) : value);
    i += 2 + len;
  }
}

/** A DHCP message, or undefined when `b` is not one (too short, no magic cookie). */
export function decodeMessage(b: Uint8Array): Message | undefined {
  if (b.length < HEADER + 4 || !MAGIC.every((x, i) => b[HEADER + i] === x)) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const options: Options = new Map();
  parseOptions(b, HEADER + 4, b.length, options);
  const overload = options.get(Opt.OVERLOAD)?.[0] ?? 0;
  if (overload & 1) parseOptions(b, 108, 236, options); // file
  if (overload & 2) parseOptions(b, 44, 108, options); // sname
  const hlen = Math.min(b[2]!, 16);
  return {
    op: b[0]!,
    xid: v.getUint32(4),
    secs: v.getUint16(8),
    broadcast: (v.getUint16(10) & FLAG_BROADCAST) !== 0,
    ciaddr: ipText(b, 12),
    yiaddr: ipText(b, 16),
    siaddr: ipText(b, 20),
    giaddr: ipText(b, 24),
    chaddr: [...b.subarray(28, 28 + hlen)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    options,
  };
}

/** Is `m` the server's answer to our transaction `xid` for `mac`, of one of `types`? */
export function isReplyTo(m: Message, xid: number, mac: string, types: readonly number[]): boolean {
  return m.op === BOOTREPLY && m.xid === xid >>> 0 && m.chaddr === mac.toLowerCase() && types.includes(messageType(m));
}

// --- leases ---------------------------------------------------------------------------------------------------------

export interface LeaseInfo {
  address: string;
  prefix: number;
  router?: string;
  serverId?: string;
  /** Seconds (RFC 2131 §4.4.5 defaults for T1 = 50%, T2 = 87.5%; the reference uses 85%). */
  leaseTime: number;
  renewalTime: number;
  rebindingTime: number;
}

const u32 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : undefined);

function maskPrefix(b: Uint8Array): number | undefined {
  const m = u32(b);
  if (m === undefined) return undefined;
  let ones = 0;
  while (ones < 32 && (m & (0x80000000 >>> ones)) !== 0) ones++;
  return ones === 32 || ((m << ones) >>> 0) === 0 ? ones : undefined; // only leading ones
}

export class LeaseError extends Error {}

/** The lease an ACK grants (the reference's commit(): lease time required, T2 ≤ lease time, T1 ≤ T2 else defaults). */
export function leaseFromAck(ack: Message): LeaseInfo {
  const leaseTime = u32(ack.options.get(Opt.LEASE_TIME));
  if (leaseTime === undefined) throw new LeaseError('DHCP option IP Address Lease Time not found in DHCPACK');
  const maskOpt = ack.options.get(Opt.SUBNET_MASK);
  if (!maskOpt) throw new LeaseError('DHCP option Subnet Mask not found in DHCPACK');
  const prefix = maskPrefix(maskOpt);
  if (prefix === undefined) throw new LeaseError(`DHCP option Subnet Mask ${[...maskOpt].join('.')} is not a netmask`);
  let rebindingTime = u32(ack.options.get(Opt.REBINDING_TIME));
  if (rebindingTime === undefined || rebindingTime > leaseTime) rebindingTime = Math.floor((leaseTime * 85) / 100);
  let renewalTime = u32(ack.options.get(Opt.RENEWAL_TIME));
  if (renewalTime === undefined || renewalTime > rebindingTime) renewalTime = Math.floor(leaseTime / 2);
  const info: LeaseInfo = { address: ack.yiaddr, prefix, leaseTime, renewalTime, rebindingTime };
  const router = ack.options.get(Opt.ROUTER);
  if (router && router.length >= 4) info.router = ipText(router);
  const sid = ack.options.get(Opt.SERVER_ID);
  if (sid && sid.length >= 4) info.serverId = ipText(sid);
  return info;
}

/** `a.b.c.d/prefix` with the host bits cleared (the kernel refuses a route whose destination has them set). */
function network(octets: ArrayLike<number>, prefix: number): string {
  const v = (((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0) & (prefix ? (0xffffffff << (32 - prefix)) >>> 0 : 0);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${prefix}`;
}

/** RFC 3442 option 121: (width, significant octets of the destination, router) repeated; a router 0.0.0.0 is on-link. */
export function classlessRoutes(opt: Uint8Array | undefined): Route[] {
  const routes: Route[] = [];
  if (!opt) return routes;
  for (let i = 0; i < opt.length; ) {
    const width = opt[i]!;
    if (width > 32) return []; // malformed: RFC 3442 says ignore the whole option
    const octets = Math.ceil(width / 8);
    if (i + 1 + octets + 4 > opt.length) return [];
    const dst = [0, 0, 0, 0];
    for (let k = 0; k < octets; k++) dst[k] = opt[i + 1 + k]!;
    const gw = ipText(opt, i + 1 + octets);
    const route: Route = { dst: network(dst, width) };
    if (gw !== '0.0.0.0') route.gw = gw;
    routes.push(route);
    i += 1 + octets + 4;
  }
  return routes;
}

/**
 * Option 33: (destination, router) pairs; the destination's prefix is its class's (A /8, B /16, C /24; others
 * skipped), host bits cleared (the reference keeps them, and then the route cannot be added).
 */
export function staticRoutes(opt: Uint8Array | undefined): Route[] {
  const routes: Route[] = [];
  if (!opt) return routes;
  for (let i = 0; i + 8 <= opt.length; i += 8) {
    const first = opt[i]!;
    const prefix = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 0;
    if (!prefix) continue;
    routes.push({ dst: network(opt.subarray(i, i + 4), prefix), gw: ipText(opt, i + 4) });
  }
  return routes;
}

/**
 * The CNI result for an ACK, as the reference builds it: the address with gateway = router; routes from option 121
 * when the server sent it (RFC 3442: then option 33 and the router are not routes), else option 33's plus a default
 * route via the router. On-link classless routes (router 0.0.0.0) have no `gw` (the reference writes "0.0.0.0").
 */
export function resultFromAck(ack: Message, cniVersion: string): Result {
  const lease = leaseFromAck(ack);
  const ip: NonNullable<Result['ips']>[number] = { address: `${lease.address}/${lease.prefix}` };
  if (lease.router) ip.gateway = lease.router;
  const result: Result = { cniVersion, ips: [ip] };
  const classless = classlessRoutes(ack.options.get(Opt.CLASSLESS_ROUTES));
  const routes = classless.length
    ? classless
    : [...staticRoutes(ack.options.get(Opt.STATIC_ROUTES)), ...(lease.router ? [{ dst: '0.0.0.0/0', gw: lease.router }] : [])];
  if (routes.length) result.routes = routes;
  return result;
}

// --- what a client sends --------------------------------------------------------------------------------------------

/** The options a lease sends with every DISCOVER/REQUEST: client id, the provided options, the parameter request list. */
export interface ClientOptions {
  clientId: Uint8Array;
  /** Option code → value (`ipam.provide`); a provided 61 replaces the client id. */
  provide: ReadonlyMap<number, Uint8Array>;
  /** Parameter request list (`ipam.request`, plus router and subnet mask unless skipped). */
  request: readonly number[];
}

export function clientOptionList(o: ClientOptions): Array<[number, Uint8Array | number[]]> {
  const list: Array<[number, Uint8Array | number[]]> = [[Opt.CLIENT_ID, o.provide.get(Opt.CLIENT_ID) ?? o.clientId]];
  for (const [code, v] of o.provide) if (code !== Opt.CLIENT_ID) list.push([code, v]);
  if (o.request.length) list.push([Opt.PARAMETER_REQUEST_LIST, [...o.request]]);
  list.push([Opt.MAX_MESSAGE_SIZE, [1500 >> 8, 1500 & 0xff]]);
  return list;
}

/** The client identifier of a lease: type 0 + "<containerID>/<netName>/<ifName>" cut to 254 bytes (the reference's). */
export function clientIdFor(containerId: string, netName: string, ifName: string): { key: string; bytes: Uint8Array } {
  const id = Buffer.from(`${containerId}/${netName}/${ifName}`, 'utf8').subarray(0, 254);
  return { key: id.toString('utf8'), bytes: Uint8Array.from([0, ...id]) };
}

export const discover = (f: ClientFields, o: ClientOptions, requestedIp?: string): Uint8Array =>
  encodeRequest(f, MessageType.DISCOVER, [...(requestedIp ? [[Opt.REQUESTED_IP, ipBytes(requestedIp)] as [number, number[]]] : []), ...clientOptionList(o)]);

/** SELECTING: REQUEST the offered address from the server that offered it. */
export const requestOffer = (f: ClientFields, o: ClientOptions, offer: Message): Uint8Array =>
  encodeRequest(f, MessageType.REQUEST, [
    [Opt.REQUESTED_IP, ipBytes(offer.yiaddr)],
    ...(offer.options.get(Opt.SERVER_ID) ? [[Opt.SERVER_ID, offer.options.get(Opt.SERVER_ID)!] as [number, Uint8Array]] : []),
    ...clientOptionList(o),
  ]);

/** RENEWING (unicast) and REBINDING (broadcast): REQUEST with ciaddr = our address, no server id, no requested IP. */
export const requestRenew = (f: ClientFields & { ciaddr: string }, o: ClientOptions): Uint8Array => encodeRequest(f, MessageType.REQUEST, clientOptionList(o));

/** RELEASE: ciaddr = our address, the server id, our client id. */
export const release = (f: ClientFields & { ciaddr: string }, clientId: Uint8Array, serverId: string | undefined): Uint8Array =>
  encodeRequest(f, MessageType.RELEASE, [...(serverId ? [[Opt.SERVER_ID, ipBytes(serverId)] as [number, number[]]] : []), [Opt.CLIENT_ID, clientId]]);

/** The reason a server gave (option 56) in a NAK, if any. */
export const serverMessage = (m: Message): string | undefined => {
  const b = m.options.get(Opt.MESSAGE);
  return b ? Buffer.from(b).toString('utf8') : undefined;
};
