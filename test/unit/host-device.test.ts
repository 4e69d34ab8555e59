import { describe, expect, it } from 'vitest';
import { normalizeMac, parseSelector } from '../../plugins/host-device/config.js';
import { batchArg, containerLines, returnLines } from '../../plugins/host-device/move.js';
import { parseNetConf } from '../../lib/cni/config.js';
import { cniError } from '../helpers/errors.js';

const conf = (extra: object) => parseNetConf({ cniVersion: '1.0.0', name: 'net', type: 'host-device', ...extra });

describe('host-device selector', () => {
  it('device, else hwaddr, else kernelpath, else pciBusID (runtimeConfig.deviceID overrides it); keys case-insensitive as Go reads them', () => {
    expect(parseSelector(conf({ device: 'eth5', hwaddr: '02:00:00:00:00:01' }))).toEqual({ by: 'device', name: 'eth5' });
    expect(parseSelector(conf({ hwaddr: '02:AB:00:00:00:01', kernelpath: '/sys/devices/x' }))).toEqual({ by: 'hwaddr', mac: '02:ab:00:00:00:01' });
    expect(parseSelector(conf({ kernelpath: '/sys/devices/pci0000:00/0000:00:19.0', pciBusID: '0000:00:19.0' }))).toEqual({ by: 'kernelpath', path: '/sys/devices/pci0000:00/0000:00:19.0' });
    expect(parseSelector(conf({ pciBusID: '0000:00:19.0' }))).toEqual({ by: 'pciBusID', pci: '0000:00:19.0' });
    expect(parseSelector(conf({ pciBusID: '0000:00:19.0', runtimeConfig: { deviceID: '0000:af:00.1' } }))).toEqual({ by: 'pciBusID', pci: '0000:af:00.1' });
    expect(parseSelector(conf({ runtimeConfig: { deviceID: '0000:af:00.1' } }))).toEqual({ by: 'pciBusID', pci: '0000:af:00.1' });
    expect(parseSelector(conf({ Device: 'eth6' }))).toEqual({ by: 'device', name: 'eth6' });
    expect(parseSelector(conf({ pciBusId: '0000:00:19.0' }))).toEqual({ by: 'pciBusID', pci: '0000:00:19.0' });
    expect(parseSelector(conf({ device: '', hwaddr: '02:00:00:00:00:01' })).by).toBe('hwaddr');
  });

  it('hwaddr in every form Go parses (6, 8, 20 octets; ":" "-" "."), as ip spells it', () => {
    expect(normalizeMac('02-AB-cd-00-00-01')).toBe('02:ab:cd:00:00:01');
    expect(normalizeMac('02ab.cd00.0001')).toBe('02:ab:cd:00:00:01');
    expect(normalizeMac('00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01')).toHaveLength(59);
    expect(normalizeMac('02:ab:cd:00:00')).toBeUndefined();
    expect(normalizeMac('zz:ab:cd:00:00:01')).toBeUndefined();
  });

  it('errors: none of the four keys (the reference message), bad values named (code 7)', () => {
    const cases: Array<[object, RegExp]> = [
      [{}, /^specify either "device", "hwaddr", "kernelpath" or "pciBusID"$/],
      [{ device: 'a/b' }, /"device" is not an interface name: "a\/b"/],
      [{ device: 'abcdefghijklmnop' }, /"device" is not an interface name/],
      [{ hwaddr: 'nope' }, /"hwaddr" is not a MAC address: "nope"/],
      [{ kernelpath: 'sys/devices/x' }, /"kernelpath" "sys\/devices\/x" must be absolute and begin with \/sys\/devices\//],
      [{ kernelpath: '/sys/devices/../../etc' }, /must be absolute and begin with \/sys\/devices\//],
      [{ pciBusID: '../../etc' }, /"pciBusID" is not a PCI address: "..\/..\/etc"/],
      [{ runtimeConfig: { deviceID: 5 } }, /runtimeConfig.deviceID must be a string/],
      [{ device: 5 }, /"device" must be a string, got 5/],
    ];
    for (const [extra, msg] of cases) {
      const e = cniError(() => parseSelector(conf(extra)));
      expect(e.code).toBe(7);
      expect(e.message).toMatch(msg);
    }
  });
});

describe('host-device lines', () => {
  it('in the container: rename, host name into the alias, addresses, up, routes, show', () => {
    expect(containerLines('hd0', 'eth0', [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }], [{ dst: '0.0.0.0/0' }])).toEqual([
      'link set dev hd0 name eth0',
      'link set dev eth0 alias hd0',
      'addr add 10.1.0.2/24 brd + dev eth0',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.1.0.1 dev eth0',
      'link show dev eth0',
    ]);
  });

  it('back to the host: down, the host name, the alias (cleared: "" in ip -batch), into the host netns', () => {
    expect(returnLines('eth0', 'hd0', '', '/proc/1/ns/net')).toEqual(['link set dev eth0 down', 'link set dev eth0 name hd0', 'link set dev hd0 alias ""', 'link set dev hd0 netns /proc/1/ns/net']);
    expect(returnLines('hd0', 'hd0', 'uplink 2', '/proc/1/ns/net')[1]).toBe('link set dev hd0 alias "uplink 2"');
    expect(batchArg('a"b')).toBe('"a\\"b"');
  });
});
