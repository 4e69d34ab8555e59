import { describe, expect, it } from 'vitest';
import { formatResult, parseResult, printJSON, type Result } from '../../lib/cni/result.js';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.js';

const dual: Result = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x', mtu: 1400 }],
  ips: [
    { interface: 0, address: '10.10.0.2/24', gateway: '10.10.0.1' },
    { interface: 0, address: 'fd00:10::2/64', gateway: 'fd00:10::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:10::1' }],
};

describe('result conversion', () => {
  it('prints 0.1.0/0.2.0 with ip4/ip6 blocks, routes per family, and dns {}', () => {
    for (const v of ['0.1.0', '0.2.0']) {
      expect(formatResult(dual, v)).toEqual({
        cniVersion: v,
        ip4: { ip: '10.10.0.2/24', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }] },
        ip6: { ip: 'fd00:10::2/64', gateway: 'fd00:10::1', routes: [{ dst: '::/0', gw: 'fd00:10::1' }] },
        dns: {},
      });
    }
  });

  it('prints 0.3.x/0.4.0 with ips[].version, no 1.x-only fields, and dns {}', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0']) {
      const out = formatResult(dual, v);
      expect(out).toEqual({
        cniVersion: v,
        interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
        ips: [
          { version: '4', interface: 0, address: '10.10.0.2/24', gateway: '10.10.0.1' },
          { version: '6', interface: 0, address: 'fd00:10::2/64', gateway: 'fd00:10::1' },
        ],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:10::1' }],
        dns: {},
      });
      expect(Object.keys(out)).toEqual(['cniVersion', 'interfaces', 'ips', 'routes', 'dns']);
    }
  });

  it('prints 1.x without ips[].version and without empty dns', () => {
    for (const v of ['1.0.0', '1.1.0']) {
      const out = formatResult(dual, v) as any;
      expect(out.ips[0]).toEqual({ interface: 0, address: '10.10.0.2/24', gateway: '10.10.0.1' });
      expect(out.interfaces[0].mtu).toBe(1400);
      expect(out.dns).toBeUndefined();
    }
  });

  it('round-trips through every version without losing addresses or routes', () => {
    for (const v of SUPPORTED_VERSIONS) {
      const back = parseResult(JSON.parse(printJSON(formatResult(dual, v))), v);
      expect(back.ips?.map((i) => i.address)).toEqual(['10.10.0.2/24', 'fd00:10::2/64']);
      expect(back.routes?.map((r) => r.dst)).toEqual(['0.0.0.0/0', '::/0']);
    }
  });

  it('refuses to down-convert a result without IPs to 0.2.0', () => {
    expect(() => formatResult({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }, '0.2.0')).toThrow(/no valid IP addresses/);
  });

  it('parses a 0.2.0 prevResult into the internal shape', () => {
    const r = parseResult({ cniVersion: '0.2.0', ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] } }, '0.2.0');
    expect(r.ips).toEqual([{ address: '10.1.0.5/16', gateway: '10.1.0.1' }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }]);
  });

  it('names the bad field when decoding fails', () => {
    expect(() => parseResult({ cniVersion: '1.0.0', ips: [{ address: 'nope' }] }, '1.0.0')).toThrow(/ips\[0\]\.address/);
  });
});
