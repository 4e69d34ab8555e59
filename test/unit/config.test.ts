import { describe, expect, it } from 'vitest';
import { argsCni, capability, decodeJSON, parseNetConf, validAttachments } from '../../lib/cni/config.js';
import { CniError } from '../../lib/cni/errors.js';
import { Fields, getCI } from '../../lib/cni/fields.js';
import { validateContainerId, validateIfname } from '../../lib/cni/skel.js';

const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as CniError).code;
  }
  return undefined;
};

describe('network config', () => {
  it('treats a config without cniVersion as 0.1.0 and parses prevResult in its own version', () => {
    const c = parseNetConf({ name: 'n', type: 'bridge', prevResult: { cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } } });
    expect(c.cniVersion).toBe('0.1.0');
    expect(c.prevResult?.ips).toEqual([{ address: '10.0.0.2/24' }]);
    expect(parseNetConf({ cniVersion: '1.0.0', name: 'n', prevResult: {} }).prevResult).toBeUndefined();
  });

  it('matches runtimeConfig capabilities case-insensitively and reads args.cni', () => {
    const c = parseNetConf({ cniVersion: '1.0.0', name: 'n', runtimeConfig: { PortMappings: [1] }, args: { cni: { mac: 'x' } } });
    expect(capability(c, 'portMappings')).toEqual([1]);
    expect(capability(c, 'ips')).toBeUndefined();
    expect(argsCni(c, 'mac')).toBe('x');
    expect(getCI({ HostPort: 80 }, 'hostPort')).toBe(80);
  });

  it('reads GC attachments from either key and rejects malformed ones', () => {
    expect(validAttachments({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] })).toEqual([{ containerID: 'a', ifname: 'eth0' }]);
    expect(validAttachments({ 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth1' }] })).toEqual([{ containerID: 'b', ifname: 'eth1' }]);
    expect(validAttachments({})).toEqual([]);
    expect(() => validAttachments({ 'cni.dev/valid-attachments': [{ containerID: 1 }] })).toThrow(/must be \{"containerID": string, "ifname": string\}/);
  });

  it('decodes only JSON objects (code 6) and validates names (code 7)', () => {
    expect(codeOf(() => decodeJSON('{'))).toBe(6);
    expect(codeOf(() => decodeJSON('"x"'))).toBe(6);
    expect(codeOf(() => parseNetConf({ cniVersion: '1.0.0', name: '-bad' }))).toBe(7);
    expect(codeOf(() => parseNetConf({ cniVersion: '1.0.0', name: 'ok', ipam: 'host-local' }))).toBe(7);
  });

  it('Fields name the key, the value and the limit', () => {
    const f = new Fields({ mtu: 70000, on: 'yes', mode: 'x', list: 3 }, 'test config');
    expect(() => f.int('mtu', { max: 65535 })).toThrow('test config: "mtu" is 70000, above the maximum 65535');
    expect(() => f.bool('on')).toThrow('test config: "on" must be true or false, got "yes"');
    expect(() => f.oneOf('mode', ['a', 'b'], 'a')).toThrow('test config: "mode" is "x"; allowed: a, b');
    expect(() => f.list('list')).toThrow('"list" must be a list, got 3');
    expect(f.int('absent', { dflt: 5 })).toBe(5);
  });

  it('validates container IDs and interface names as the reference does', () => {
    expect(codeOf(() => validateContainerId(''))).toBe(3);
    expect(codeOf(() => validateContainerId('a b'))).toBe(4);
    expect(codeOf(() => validateContainerId('abc-1_2.3'))).toBeUndefined();
    expect(codeOf(() => validateIfname('eth0'))).toBeUndefined();
    expect(codeOf(() => validateIfname('x'.repeat(15)))).toBeUndefined();
    for (const bad of ['', 'x'.repeat(16), '.', '..', 'a/b', 'a:b', 'a\tb']) expect(codeOf(() => validateIfname(bad))).toBe(4);
  });
});
