/**
 * Gratuitous ARP: a container announces each of its IPv4 addresses with its MAC once its interface is up. Whoever
 * cached the address with a previous owner's MAC (a pod re-created with the same IP: the host's entry on the bridge,
 * other pods) updates at once, instead of losing packets until the entry goes stale — seconds to minutes
 * (containernetworking/plugins#858: since the reference swapped its arping for `arp_notify`, whose announcement leaves
 * when the link comes up, before the host end is a forwarding bridge port, so the bridge drops it).
 *
 * The frame is built here (pure); it is sent from a packet socket opened inside the container's namespace through the
 * runtime's FFI. Without FFI (Node, CNI_TS_NO_FFI=1) nothing is sent, as with the reference.
 */
import { inNetns, libc } from './native.js';
import { parseIP } from './ip.js';
import { ipBytes, macBytes } from './rtnetlink/wire.js';

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;

/**
 * The ARP part of a gratuitous ARP request, as the kernel's own announcement (arp_notify): sender and target address
 * both `ip`, sender MAC `mac`, target MAC zero (28 bytes; the Ethernet header comes from the socket address).
 */
export function garpPayload(mac: Uint8Array, ip: Uint8Array): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, ARPHRD_ETHER);
  v.setUint16(2, ETH_P_IP);
  b[4] = 6;
  b[5] = 4;
  v.setUint16(6, ARPOP_REQUEST);
  b.set(mac, 8);
  b.set(ip, 14);
  b.set(ip, 24);
  return b;
}

/** struct sockaddr_ll for an ARP frame to the Ethernet broadcast address out of `ifindex` (20 bytes, host order). */
export function broadcastLinkAddress(ifindex: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_ARP); // sll_protocol: network order
  v.setInt32(4, ifindex, true);
  v.setUint16(8, ARPHRD_ETHER, true);
  b[10] = 0; // sll_pkttype
  b[11] = 6; // sll_halen
  b.fill(0xff, 12, 18);
  return b;
}

/** The 4 bytes of an IPv4 address ("10.0.0.5" or "10.0.0.5/24"), undefined for anything else. */
export function ipv4Bytes(address: string): Uint8Array | undefined {
  const ip = parseIP(address.split('/')[0]!);
  return ip?.family === 4 ? ipBytes(ip) : undefined;
}

/**
 * Announce `addresses` (IPv4 ones; others are skipped) with `mac` on `ifname` in the namespace at `netnsPath`. Best
 * effort, as the reference's: returns how many frames went out (0 without FFI or on any error).
 */
export function announceAddresses(netnsPath: string, ifname: string, mac: string, addresses: readonly string[]): number {
  const c = libc();
  const hw = macBytes(mac);
  const ips = addresses.map(ipv4Bytes).filter((x): x is Uint8Array => x !== undefined);
  if (!c || !hw || hw.length !== 6 || !ips.length) return 0;
  try {
    return inNetns(c, netnsPath, () => {
      const ifindex = c.ifNameToIndex(ifname);
      if (!ifindex) return 0;
      const fd = c.socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, ((ETH_P_ARP & 0xff) << 8) | (ETH_P_ARP >> 8));
      if (fd < 0) return 0;
      try {
        const to = broadcastLinkAddress(ifindex);
        return ips.filter((ip) => c.sendTo(fd, garpPayload(hw, ip), to) === 28).length;
      } finally {
        c.close(fd);
      }
    });
  } catch {
    return 0;
  }
}
