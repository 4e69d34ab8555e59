/**
 * Netlink on the wire (pure, no I/O): message headers, attributes (nested too), splitting a datagram into messages,
 * reading an NLMSG_ERROR (errno and the kernel's extended-ACK text). Little-endian host order throughout, as the
 * kernel speaks it on every architecture cni-ts ships for (x86_64, aarch64).
 */
import type { IP } from '../ip.js';

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** In an ACK/error: extended-ACK attributes follow the (capped) original header. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const NLMSGERR_ATTR_MSG = 1;

export const align4 = (n: number): number => (n + 3) & ~3;

// ---------- building ----------

/** One attribute: its type and payload, or nested attributes. */
export type Attr = readonly [type: number, value: Uint8Array | readonly Attr[]];

const encoder = new TextEncoder();

export const u8 = (v: number): Uint8Array => Uint8Array.of(v & 0xff);
export function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
/** A 16-bit value in network byte order (e.g. IFLA_VXLAN_PORT, IFLA_VLAN_PROTOCOL). */
export function be16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, false);
  return b;
}
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
export const i32 = (v: number): Uint8Array => u32(v | 0);
/** NUL-terminated string (names: IFLA_IFNAME, IFA_LABEL, ...). */
export const cstr = (s: string): Uint8Array => encoder.encode(`${s}\0`);
/** String without the NUL (IFLA_INFO_KIND, IFLA_IFALIAS: as iproute2 sends them). */
export const str = (s: string): Uint8Array => encoder.encode(s);

/** An address in network byte order: 4 or 16 bytes. */
export function ipBytes(ip: IP): Uint8Array {
  const n = ip.family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

/** "aa:bb:cc:dd:ee:ff" (any length of hex pairs) as bytes; undefined when malformed. */
export function macBytes(mac: string): Uint8Array | undefined {
  const parts = mac.split(':');
  if (!parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

const attrLength = (a: Attr): number => {
  const [, v] = a;
  return 4 + (v instanceof Uint8Array ? v.length : v.reduce((s, x) => s + align4(attrLength(x)), 0));
};

function writeAttrs(buf: Uint8Array, view: DataView, off: number, attrs: readonly Attr[]): number {
  for (const a of attrs) {
    const [type, v] = a;
    const len = attrLength(a);
    view.setUint16(off, len, true);
    // nests without NLA_F_NESTED, as iproute2's addattr_nest sends them (the kernel accepts both here)
    view.setUint16(off + 2, type, true);
    if (v instanceof Uint8Array) buf.set(v, off + 4);
    else writeAttrs(buf, view, off + 4, v);
    off += align4(len);
  }
  return off;
}

/** A complete message: header (type, flags, seq; pid 0), the fixed family header `body`, then the attributes. */
export function message(type: number, flags: number, body: Uint8Array, attrs: readonly Attr[] = [], seq = 0): Uint8Array {
  const total = NLMSG_HDRLEN + align4(body.length) + attrs.reduce((s, a) => s + align4(attrLength(a)), 0);
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  view.setUint32(0, total, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq >>> 0, true);
  buf.set(body, NLMSG_HDRLEN);
  writeAttrs(buf, view, NLMSG_HDRLEN + align4(body.length), attrs);
  return buf;
}

/** The same message with another sequence number (the socket numbers what it sends). */
export function withSeq(msg: Uint8Array, seq: number): Uint8Array {
  new DataView(msg.buffer, msg.byteOffset, msg.length).setUint32(8, seq >>> 0, true);
  return msg;
}

// ---------- parsing ----------

export interface Message {
  type: number;
  flags: number;
  seq: number;
  /** The bytes after the 16-byte header (family header, then attributes). */
  payload: Uint8Array;
}

/** Split a datagram (or several concatenated) into its messages. Stops at a malformed length. */
export function parseMessages(buf: Uint8Array): Message[] {
  const out: Message[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({ type: view.getUint16(off + 4, true), flags: view.getUint16(off + 6, true), seq: view.getUint32(off + 8, true), payload: buf.subarray(off + NLMSG_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins when repeated, as the kernel's nla_parse). */
export type Attrs = Map<number, Uint8Array>;

/**
 * Parse the attributes in `buf` from `start`. The nested flag is dropped from the types. Runs for every object of a
 * dump (thousands per agent resync): lengths and types read from the bytes, one Map and one view per attribute.
 */
export function parseAttrs(buf: Uint8Array, start = 0): Attrs {
  const m: Attrs = new Map();
  for (let off = start; off + 4 <= buf.length; ) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    if (len < 4 || off + len > buf.length) break;
    m.set((buf[off + 2]! | (buf[off + 3]! << 8)) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return m;
}

/** Attributes in order, repeats kept (e.g. the entries of IFLA_AF_SPEC or a nested list). */
export function attrList(buf: Uint8Array, start = 0): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let off = start; off + 4 <= buf.length; ) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > buf.length) break;
    out.push([view.getUint16(off + 2, true) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len)]);
    off += align4(len);
  }
  return out;
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.length);
export const getU8 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 1 ? b[0] : undefined);
export const getU16 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 2 ? dv(b).getUint16(0, true) : undefined);
export const getBe16 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 2 ? dv(b).getUint16(0, false) : undefined);
export const getU32 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 4 ? dv(b).getUint32(0, true) : undefined);
export const getI32 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 4 ? dv(b).getInt32(0, true) : undefined);

const decoder = new TextDecoder();
/** A string attribute, up to its NUL. */
export function getStr(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return decoder.decode(nul >= 0 ? b.subarray(0, nul) : b);
}

const DIGITS = '0123456789abcdef';
/** A byte as two hex digits (no table built at load: every plugin start would pay for it). */
const hex2 = (x: number): string => DIGITS[x >> 4]! + DIGITS[x & 15]!;

/**
 * Bytes as "aa:bb:cc" (how iproute2 prints link-layer addresses); `len` bytes from `off` (default: all). Runs per FDB
 * entry and neighbour of a dump.
 */
export function formatMac(b: Uint8Array, off = 0, len = b.length - off): string {
  if (len === 6) return `${hex2(b[off]!)}:${hex2(b[off + 1]!)}:${hex2(b[off + 2]!)}:${hex2(b[off + 3]!)}:${hex2(b[off + 4]!)}:${hex2(b[off + 5]!)}`;
  let s = len > 0 ? hex2(b[off]!) : '';
  for (let i = 1; i < len; i++) s += `:${hex2(b[off + i]!)}`;
  return s;
}

/** 4 or 16 network-order bytes as an address. */
export function bytesToIP(b: Uint8Array): IP | undefined {
  if (b.length !== 4 && b.length !== 16) return undefined;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

/** The answer to a request: 0 or a negative errno, and the kernel's extended-ACK message (error or warning). */
export interface Ack {
  error: number;
  message?: string;
}

/** Read an NLMSG_ERROR payload: `int error`, the echoed (capped) request header, then extended-ACK attributes. */
export function parseAck(m: Message): Ack {
  const error = getI32(m.payload) ?? -5;
  if (!(m.flags & NLM_F_ACK_TLVS)) return { error };
  // With NLM_F_CAPPED only the request's header is echoed; otherwise the whole request.
  const echoed = m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : (getU32(m.payload.subarray(4)) ?? NLMSG_HDRLEN);
  const message = getStr(parseAttrs(m.payload, 4 + align4(echoed)).get(NLMSGERR_ATTR_MSG));
  return message ? { error, message } : { error };
}

/** NLMSG_DONE ending a dump: its `int` status, and (NLM_F_ACK_TLVS) the kernel's message right after it. */
export function parseDone(m: Message): Ack {
  const error = getI32(m.payload) ?? 0;
  if (!(m.flags & NLM_F_ACK_TLVS)) return { error };
  const message = getStr(parseAttrs(m.payload, 4).get(NLMSGERR_ATTR_MSG));
  return message ? { error, message } : { error };
}
