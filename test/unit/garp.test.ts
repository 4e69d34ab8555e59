import { describe, expect, it } from 'vitest';
import { broadcastLinkAddress, garpPayload, ipv4Bytes } from '../../lib/garp.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('lib/garp: the gratuitous ARP frame', () => {
  it('an ARP request with sender = target = the address, sender MAC set, target MAC zero (as the kernel announces)', () => {
    const mac = Uint8Array.of(0x02, 0x42, 0xac, 0x11, 0x00, 0x02);
    const b = garpPayload(mac, ipv4Bytes('10.88.0.5/16')!);
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 (request)
    expect(hex(b)).toBe('0001' + '0800' + '06' + '04' + '0001' + '0242ac110002' + '0a580005' + '000000000000' + '0a580005');
    expect(b).toHaveLength(28);
  });

  it('sockaddr_ll: AF_PACKET, protocol ETH_P_ARP in network order, the ifindex, Ethernet, the broadcast address', () => {
    const a = broadcastLinkAddress(0x01020304);
    expect(hex(a)).toBe('1100' + '0806' + '04030201' + '0100' + '00' + '06' + 'ffffffffffff0000');
  });

  it('IPv4 addresses only (with or without a prefix); anything else is skipped', () => {
    expect([...ipv4Bytes('192.168.1.254')!]).toEqual([192, 168, 1, 254]);
    expect([...ipv4Bytes('255.255.255.255/32')!]).toEqual([255, 255, 255, 255]);
    expect(ipv4Bytes('fd00::1/64')).toBeUndefined();
    expect(ipv4Bytes('nonsense')).toBeUndefined();
  });
});
