import { describe, expect, it } from 'vitest';
import { parseStaticConfig, staticIps } from '../../ipam/static/config.js';
import { parseNetConf } from '../../lib/cni/config.js';
import { formatResult } from '../../lib/cni/result.js';
import { cniError } from '../helpers/errors.js';

const conf = (ipam: object | undefined, extra: object = {}) =>
  parseNetConf({ cniVersion: '1.0.0', name: 'net', ...(ipam ? { ipam: { type: 'static', ...ipam } } : {}), ...extra });
const ips = (c: ReturnType<typeof conf>, args: Record<string, string> = {}) => staticIps(parseStaticConfig(c, args).addresses);

describe('static config', () => {
  it('addresses as given (host bits kept, canonical spelling) with their gateways; routes and ipam.dns', () => {
    const c = conf({
      addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: 'FD00:0:0::0005/64' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.0.254' }],
      dns: { nameservers: ['10.10.0.53'], domain: 'example.com', search: ['example.com'] },
    });
    const cfg = parseStaticConfig(c, {});
    expect(staticIps(cfg.addresses)).toEqual([{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: 'fd00::5/64' }]);
    expect(cfg.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.0.254' }]);
    expect(cfg.dns).toEqual({ nameservers: ['10.10.0.53'], domain: 'example.com', search: ['example.com'] });
  });

  it('CNI_ARGS IP= appends (comma-separated, spaces trimmed); GATEWAY= goes to the IP= addresses whose subnet holds it', () => {
    const c = conf({ addresses: [{ address: '10.10.0.5/24' }] });
    expect(ips(c, { IP: '10.11.0.5/24, fd11::5/64', GATEWAY: '10.11.0.1,10.10.0.1,fd11::1' })).toEqual([
      { address: '10.10.0.5/24' },
      { address: '10.11.0.5/24', gateway: '10.11.0.1' },
      { address: 'fd11::5/64', gateway: 'fd11::1' },
    ]);
  });

  it('args.cni.ips replaces the addresses (also IP=); runtimeConfig.ips replaces both; empty lists change nothing', () => {
    const base = { addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }] };
    expect(ips(conf(base, { args: { cni: { ips: ['10.20.0.5/24'] } } }), { IP: '10.11.0.5/24' })).toEqual([{ address: '10.20.0.5/24' }]);
    expect(ips(conf(base, { args: { cni: { ips: ['10.20.0.5/24'] } }, runtimeConfig: { ips: ['10.30.0.5/24', 'fd30::5/64'] } }))).toEqual([
      { address: '10.30.0.5/24' },
      { address: 'fd30::5/64' },
    ]);
    expect(ips(conf(base, { args: { cni: { ips: [] } }, runtimeConfig: { ips: [] } }))).toEqual([{ address: '10.10.0.5/24', gateway: '10.10.0.1' }]);
  });

  it('no addresses is fine (an empty result); 0.1.0/0.2.0 allow one address per family', () => {
    expect(ips(conf({}))).toEqual([]);
    const two = { addresses: [{ address: '10.10.0.5/24' }, { address: '10.10.0.6/24' }] };
    for (const v of ['0.1.0', '0.2.0']) {
      const e = cniError(() => parseStaticConfig(conf(two, { cniVersion: v }), {}));
      expect([e.code, e.msg]).toEqual([7, `CNI version ${v} does not support more than 1 address per family`]);
    }
    expect(ips(conf({ addresses: [{ address: '10.10.0.5/24' }, { address: 'fd00::5/64' }] }, { cniVersion: '0.2.0' }))).toHaveLength(2);
    expect(ips(conf(two, { cniVersion: '0.3.0' }))).toHaveLength(2);
  });

  it('bad input: code 7 naming the key and value (4 for CNI_ARGS)', () => {
    const cases: Array<[() => unknown, number, RegExp]> = [
      [() => parseStaticConfig(conf(undefined), {}), 7, /IPAM config missing 'ipam' key/],
      [() => parseStaticConfig(conf({ addresses: 'x' }), {}), 7, /"addresses" must be a list/],
      [() => parseStaticConfig(conf({ addresses: [{ address: '10.1.1.1' }] }), {}), 7, /ipam.addresses\[0\].address "10.1.1.1" is not an address in CIDR notation/],
      [() => parseStaticConfig(conf({ addresses: [{ address: 'x/24' }] }), {}), 7, /ipam.addresses\[0\].address "x\/24"/],
      [() => parseStaticConfig(conf({ addresses: [{ address: 7 }] }), {}), 7, /ipam.addresses\[0\].address must be a CIDR string/],
      [() => parseStaticConfig(conf({ addresses: [{ address: '10.1.1.1/24', gateway: 'ten' }] }), {}), 7, /ipam.addresses\[0\].gateway "ten" is not an IP address/],
      [() => parseStaticConfig(conf({ addresses: ['10.1.1.1/24'] }), {}), 7, /ipam.addresses\[0\] must be an object/],
      [() => parseStaticConfig(conf({ routes: [{ dst: 'nowhere' }] }), {}), 7, /ipam.routes\[0\].dst must be a CIDR/],
      [() => parseStaticConfig(conf({ dns: { nameservers: 'x' } }), {}), 7, /ipam.dns.nameservers must be a list of strings/],
      [() => parseStaticConfig(conf({}, { runtimeConfig: { ips: '10.1.1.1/24' } }), {}), 7, /runtimeConfig.ips must be a list of CIDR strings/],
      [() => parseStaticConfig(conf({}, { args: { cni: { ips: ['10.1.1.1'] } } }), {}), 7, /args.cni.ips\[0\] "10.1.1.1" is not an address in CIDR notation/],
      [() => parseStaticConfig(conf({}), { IP: '10.1.1.1' }), 4, /CNI_ARGS: IP "10.1.1.1" is not an address in CIDR notation/],
      [() => parseStaticConfig(conf({}), { IP: '10.1.1.1/24', GATEWAY: 'gw' }), 4, /CNI_ARGS: invalid gateway address "gw" in GATEWAY/],
      [() => parseStaticConfig(conf({}), { GATEWAY: 'gw' }), 4, /CNI_ARGS: invalid gateway address "gw" in GATEWAY/],
    ];
    for (const [fn, code, msg] of cases) {
      const e = cniError(fn);
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(msg);
    }
  });

  it('results convert to every version: 0.2.0 one address per family with its routes, 0.3.x/0.4.0 with "version"', () => {
    const c = conf({
      addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    });
    const cfg = parseStaticConfig(c, {});
    const result = { cniVersion: '1.0.0', ips: staticIps(cfg.addresses), routes: cfg.routes };
    expect(formatResult(result, '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.10.0.5/24', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
      dns: {},
    });
    expect((formatResult(result, '0.4.0').ips as unknown[])[1]).toEqual({ version: '6', address: 'fd00::5/64', gateway: 'fd00::1' });
    expect(formatResult({ cniVersion: '1.0.0' }, '1.0.0')).toEqual({ cniVersion: '1.0.0' });
    expect(cniError(() => formatResult({ cniVersion: '1.0.0' }, '0.2.0')).msg).toBe('cannot convert: no valid IP addresses');
  });
});
