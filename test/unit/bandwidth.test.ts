import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../lib/cni/config.js';
import { cniError as err } from '../helpers/errors.js';
import { hashWithPrefix, ifbDeviceName } from '../../lib/hash.js';
import { parseBandwidthConf } from '../../plugins/bandwidth/config.js';
import { bufferTicks, htbLines, htbMismatch, parseHtbClasses, redirectLines, shapingMismatch, tickInUsec, toBytes } from '../../plugins/bandwidth/tc.js';

const bw = (extra: Record<string, unknown>) => parseBandwidthConf(parseNetConf({ cniVersion: '1.0.0', name: 'n', type: 'bandwidth', ...extra }));


const TICK = tickInUsec('000003e8 00000040 000f4240 3b9aca00\n'); // this kernel's /proc/net/psched

describe('bandwidth config', () => {
  it('config keys win over runtimeConfig.bandwidth (any key present, even only subnets); runtimeConfig keys in any case', () => {
    expect(bw({ ingressRate: 8000, ingressBurst: 800, runtimeConfig: { bandwidth: { egressRate: 1, egressBurst: 1 } } })).toEqual({
      ingress: { rateBits: 8000, burstBits: 800 },
      subnets: [],
      subnetsAreShaped: false,
    });
    expect(bw({ unshapedSubnets: ['10.0.0.0/8'], runtimeConfig: { bandwidth: { egressRate: 800, egressBurst: 80 } } })).toBeUndefined();
    // go-cni sends Go field names
    expect(bw({ runtimeConfig: { bandwidth: { EgressRate: 1000000, EgressBurst: 10000 } } })?.egress).toEqual({ rateBits: 1000000, burstBits: 10000 });
    expect(bw({})).toBeUndefined();
    expect(bw({ ingressRate: 0, ingressBurst: 0, egressRate: 0, egressBurst: 0 })).toBeUndefined();
  });

  it('subnets: normalised to their network, shaped or unshaped', () => {
    expect(bw({ egressRate: 80, egressBurst: 80, shapedSubnets: ['10.1.2.3/16', 'fd00::1/64'] })).toMatchObject({ subnetsAreShaped: true, subnets: [{ prefix: 16 }, { prefix: 64 }] });
  });

  it("the reference's validation, as code 7 errors naming the key", () => {
    expect(err(() => bw({ ingressRate: 1000 })).msg).toMatch(/if rate is set, burst must also be set \("ingressRate" is 1000/);
    expect(err(() => bw({ egressBurst: 1000 })).msg).toMatch(/if burst is set, rate must also be set \("egressBurst" is 1000/);
    expect(err(() => bw({ runtimeConfig: { bandwidth: { ingressRate: 1000 } } })).msg).toMatch(/^runtimeConfig.bandwidth: if rate is set/);
    expect(err(() => bw({ ingressRate: 1000, ingressBurst: 8 * 2 ** 32 })).msg).toMatch(/burst cannot be more than 4GB/);
    expect(err(() => bw({ ingressRate: -1, ingressBurst: 8 })).msg).toMatch(/"ingressRate" must be a non-negative integer/);
    expect(err(() => bw({ ingressRate: '1000', ingressBurst: 8 })).msg).toMatch(/got "1000"/);
    expect(err(() => bw({ ingressRate: 4, ingressBurst: 8 })).msg).toMatch(/below the smallest rate, 8 bits per second/);
    expect(err(() => bw({ ingressRate: 80, ingressBurst: 80, unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.1.0.0/16'] })).msg).toMatch(/cannot be both specified/);
    expect(err(() => bw({ ingressRate: 80, ingressBurst: 80, unshapedSubnets: ['10.0.0.0/8', 'hello'] })).msg).toMatch(/bad subnet "hello"/);
    expect(err(() => bw({ runtimeConfig: { bandwidth: 5 } })).code).toBe(7);
  });

  it('the IFB device name: "bwp" + sha512(network + container ID), 15 characters (reference vector)', () => {
    expect(ifbDeviceName('brnet', 'brc1')).toBe('bwp23fe902f3bee');
    expect(hashWithPrefix(28, 'CNI-', 'brnetbrc1')).toBe('CNI-23fe902f3bee7c249552a0dd');
  });
});

describe('bandwidth tc layout', () => {
  it('reads the scheduler clock and computes buffers as the reference (tick-truncated)', () => {
    expect(TICK).toBe(15.625);
    expect(bufferTicks(1_000_000, 10_000, TICK)).toBe(156250);
    expect(bufferTicks(1, 1, TICK)).toBe(15625000);
    expect(toBytes({ rateBits: 8_000_001, burstBits: 80_007 }, TICK, 'ingress')).toEqual({ rate: 1_000_000, burst: 10_000 });
    expect(err(() => toBytes({ rateBits: 8, burstBits: 8 * 300 }, TICK, 'egress')).msg).toMatch(/"egressBurst" 2400 bits takes too long to send at "egressRate" 8 bit\/s/);
  });

  it('an htb tree per shaped device, subnets as u32 filters, and the redirect to the IFB', () => {
    const c = bw({ egressRate: 8_000_000, egressBurst: 80_000, unshapedSubnets: ['10.0.0.0/8', 'fd00:db8:abcd:1234:e000::/68'] })!;
    expect(htbLines('bwpX', { rate: 1_000_000, burst: 10_000 }, c)).toEqual([
      'qdisc add dev bwpX root handle 1: htb default 30 r2q 10',
      'class add dev bwpX parent 1: classid 1:30 htb rate 8000000bit burst 10000b ceil 16000000bit cburst 20000b',
      'class add dev bwpX parent 1: classid 1:1 htb rate 800000000000bit ceil 800000000000bit',
      'filter add dev bwpX parent 1: protocol ip prio 16 u32 match ip dst 10.0.0.0/8 flowid 1:1',
      'filter add dev bwpX parent 1: protocol ipv6 prio 15 u32 match ip6 dst fd00:db8:abcd:1234:e000::/68 flowid 1:1',
    ]);
    const shaped = bw({ egressRate: 80, egressBurst: 80, shapedSubnets: ['10.0.0.0/8'] })!;
    const lines = htbLines('v', { rate: 10, burst: 10 }, shaped);
    expect(lines[0]).toBe('qdisc add dev v root handle 1: htb default 1 r2q 10');
    expect(lines[3]).toBe('filter add dev v parent 1: protocol ip prio 16 u32 match ip dst 10.0.0.0/8 flowid 1:30');
    expect(redirectLines('veth1', 'bwpX')).toEqual([
      'qdisc add dev veth1 handle ffff: ingress',
      'filter add dev veth1 parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1 action mirred egress redirect dev bwpX',
    ]);
  });

  it('CHECK reads tc output back: our htb (rates rounded as tc prints them) and the 1.1.1 tbf', () => {
    const classes = 'class htb 1:1 root prio 0 rate 800Gbit ceil 800Gbit burst 0b cburst 0b \nclass htb 1:30 root prio 0 rate 1234Kbit ceil 2469Kbit burst 9999b cburst 19999b \n';
    expect(parseHtbClasses(classes)).toEqual([
      { classid: '1:1', rateBits: 800e9, rateUnit: 1e9, burstBytes: 0, burstUnit: 1 },
      { classid: '1:30', rateBits: 1234000, rateUnit: 1000, burstBytes: 9999, burstUnit: 1 },
    ]);
    const htb = [{ kind: 'htb', handle: '1:', root: true, options: { r2q: 10, default: '0x30' } }];
    const b = { rate: 154320, burst: 10000 };
    expect(htbMismatch('v', htb, classes, b, { subnetsAreShaped: false })).toBeUndefined();
    expect(htbMismatch('v', htb, classes, { rate: 200000, burst: 10000 }, { subnetsAreShaped: false })).toMatch(/Rate does not match for the shaped class for device v/);
    expect(htbMismatch('v', htb, classes, { rate: 154320, burst: 20000 }, { subnetsAreShaped: false })).toMatch(/Burst does not match/);
    expect(htbMismatch('v', htb, classes, b, { subnetsAreShaped: true })).toMatch(/Default class does not match/);
    expect(htbMismatch('v', [], classes, b, { subnetsAreShaped: false })).toBe('Failed to find htb qdisc on v');
    const tbf = [{ kind: 'tbf', handle: '1:', root: true, options: { rate: 1000000, burst: 10000, lat: 25000 } }];
    expect(shapingMismatch('v', tbf, () => '', { rate: 1000000, burst: 10000 }, { subnetsAreShaped: false })).toBeUndefined();
    expect(shapingMismatch('v', tbf, () => '', { rate: 999, burst: 10000 }, { subnetsAreShaped: false })).toMatch(/Rate doesn't match/);
  });
});
