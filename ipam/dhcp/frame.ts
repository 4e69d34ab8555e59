/**
 * Ethernet + IPv4 + UDP framing for DHCP on a packet socket: before it has an address (and while the address may not
 * be configured at all) a client cannot use the kernel's UDP stack, so it writes and reads whole frames. Pure.
 */
const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const IP_HEADER = 20;
const UDP_HEADER = 8;
const PROTO_UDP = 17;
export const CLIENT_PORT = 68;
export const SERVER_PORT = 67;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

const mac = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
const ip = (s: string): number[] => s.split('.').map(Number);
const macText = (b: Uint8Array, at: number): string => [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ipText = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/** The Internet checksum (RFC 1071) of `parts` taken as one byte string. */
export function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts) {
    for (const byte of p) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Frame {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** An Ethernet II frame holding an IPv4/UDP datagram (TTL 64, checksums filled in). */
export function encodeFrame(f: Frame): Uint8Array {
  const udpLen = UDP_HEADER + f.payload.length;
  const out = new Uint8Array(ETH_HEADER + IP_HEADER + udpLen);
  const v = new DataView(out.buffer);
  out.set(mac(f.dstMac), 0);
  out.set(mac(f.srcMac), 6);
  v.setUint16(12, ETHERTYPE_IPV4);
  const ipAt = ETH_HEADER;
  out[ipAt] = 0x45; // v4, 20-byte header
  v.setUint16(ipAt + 2, IP_HEADER + udpLen);
  out[ipAt + 8] = 64; // TTL
  out[ipAt + 9] = PROTO_UDP;
  out.set(ip(f.srcIp), ipAt + 12);
  out.set(ip(f.dstIp), ipAt + 16);
  v.setUint16(ipAt + 10, checksum(out.subarray(ipAt, ipAt + IP_HEADER)));
  const udpAt = ipAt + IP_HEADER;
  v.setUint16(udpAt, f.srcPort);
  v.setUint16(udpAt + 2, f.dstPort);
  v.setUint16(udpAt + 4, udpLen);
  out.set(f.payload, udpAt + UDP_HEADER);
  const pseudo = Uint8Array.from([...ip(f.srcIp), ...ip(f.dstIp), 0, PROTO_UDP, udpLen >> 8, udpLen & 0xff]);
  const sum = checksum(pseudo, out.subarray(udpAt, udpAt + udpLen));
  v.setUint16(udpAt + 6, sum === 0 ? 0xffff : sum);
  return out;
}

/**
 * The UDP datagram in an Ethernet frame, or undefined when it is not IPv4/UDP, is a fragment, or is cut short.
 * Checksums are not verified: on veth/macvlan the kernel hands packet sockets frames whose UDP checksum it has not
 * computed yet (CHECKSUM_PARTIAL).
 */
export function decodeFrame(b: Uint8Array): Frame | undefined {
  if (b.length < ETH_HEADER + IP_HEADER + UDP_HEADER) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint16(12) !== ETHERTYPE_IPV4) return undefined;
  const ipAt = ETH_HEADER;
  if (b[ipAt]! >> 4 !== 4 || b[ipAt + 9] !== PROTO_UDP) return undefined;
  const ihl = (b[ipAt]! & 0x0f) * 4;
  if (ihl < IP_HEADER) return undefined;
  if ((v.getUint16(ipAt + 6) & 0x3fff) !== 0) return undefined; // more-fragments or an offset
  const total = v.getUint16(ipAt + 2);
  const udpAt = ipAt + ihl;
  if (total < ihl + UDP_HEADER || ipAt + total > b.length) return undefined;
  const udpLen = v.getUint16(udpAt + 4);
  if (udpLen < UDP_HEADER || udpAt + udpLen > ipAt + total) return undefined;
  return {
    dstMac: macText(b, 0),
    srcMac: macText(b, 6),
    srcIp: ipText(b, ipAt + 12),
    dstIp: ipText(b, ipAt + 16),
    srcPort: v.getUint16(udpAt),
    dstPort: v.getUint16(udpAt + 2),
    payload: b.slice(udpAt + UDP_HEADER, udpAt + udpLen),
  };
}
