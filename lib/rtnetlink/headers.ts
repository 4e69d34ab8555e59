/** The fixed family headers of rtnetlink messages (linux/rtnetlink.h, if_link.h, neighbour.h, fib_rules.h). Pure. */

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(o: { family?: number; type?: number; index?: number; flags?: number; change?: number } = {}): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family ?? 0);
  v.setUint16(2, o.type ?? 0, true);
  v.setInt32(4, o.index ?? 0, true);
  v.setUint32(8, (o.flags ?? 0) >>> 0, true);
  v.setUint32(12, (o.change ?? 0) >>> 0, true);
  return b;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(o: { family: number; prefixlen?: number; flags?: number; scope?: number; index?: number }): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family);
  v.setUint8(1, o.prefixlen ?? 0);
  v.setUint8(2, o.flags ?? 0);
  v.setUint8(3, o.scope ?? 0);
  v.setUint32(4, o.index ?? 0, true);
  return b;
}

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

/** struct rtmsg (12 bytes); also the layout of struct fib_rule_hdr (table, res1, res2, action in place of table, protocol, scope, type). */
export function rtmsg(o: RtMsg): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family);
  v.setUint8(1, o.dstLen ?? 0);
  v.setUint8(2, o.srcLen ?? 0);
  v.setUint8(3, o.tos ?? 0);
  v.setUint8(4, o.table ?? 0);
  v.setUint8(5, o.protocol ?? 0);
  v.setUint8(6, o.scope ?? 0);
  v.setUint8(7, o.type ?? 0);
  v.setUint32(8, (o.flags ?? 0) >>> 0, true);
  return b;
}

/** struct fib_rule_hdr (12 bytes). */
export function fibRuleHdr(o: { family: number; dstLen?: number; srcLen?: number; tos?: number; table?: number; action?: number; flags?: number }): Uint8Array {
  return rtmsg({ family: o.family, dstLen: o.dstLen, srcLen: o.srcLen, tos: o.tos, table: o.table, type: o.action, flags: o.flags });
}

/** struct ndmsg (12 bytes). */
export function ndmsg(o: { family: number; ifindex?: number; state?: number; flags?: number; type?: number }): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family);
  v.setInt32(4, o.ifindex ?? 0, true);
  v.setUint16(8, o.state ?? 0, true);
  v.setUint8(10, o.flags ?? 0);
  v.setUint8(11, o.type ?? 0);
  return b;
}

/** struct rtgenmsg padded to 4 (RTM_GETNSID / RTM_NEWNSID). */
export const rtgenmsg = (family: number): Uint8Array => Uint8Array.of(family, 0, 0, 0);

// ---------- reading ----------

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.length);

export function readIfinfomsg(p: Uint8Array): { family: number; type: number; index: number; flags: number } {
  const v = dv(p);
  return { family: v.getUint8(0), type: v.getUint16(2, true), index: v.getInt32(4, true), flags: v.getUint32(8, true) };
}

export function readIfaddrmsg(p: Uint8Array): { family: number; prefixlen: number; flags: number; scope: number; index: number } {
  const v = dv(p);
  return { family: v.getUint8(0), prefixlen: v.getUint8(1), flags: v.getUint8(2), scope: v.getUint8(3), index: v.getUint32(4, true) };
}

export function readRtmsg(p: Uint8Array): Required<RtMsg> {
  const v = dv(p);
  return {
    family: v.getUint8(0), dstLen: v.getUint8(1), srcLen: v.getUint8(2), tos: v.getUint8(3), table: v.getUint8(4),
    protocol: v.getUint8(5), scope: v.getUint8(6), type: v.getUint8(7), flags: v.getUint32(8, true),
  };
}

/** struct ndmsg, read from the bytes (once per neighbour and FDB entry of a dump). */
export function readNdmsg(p: Uint8Array): { family: number; ifindex: number; state: number; flags: number; type: number } {
  return { family: p[0]!, ifindex: p[4]! | (p[5]! << 8) | (p[6]! << 16) | (p[7]! << 24), state: p[8]! | (p[9]! << 8), flags: p[10]!, type: p[11]! };
}

export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const NDMSG_LEN = 12;
