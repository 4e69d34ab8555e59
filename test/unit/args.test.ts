import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../lib/cni/args.js';
import { CniError } from '../../lib/cni/errors.js';

describe('CNI_ARGS', () => {
  it('parses known keys and always accepts the Kubernetes ones', () => {
    expect(parseCniArgs('IP=10.0.0.5;K8S_POD_NAME=web', ['IP'])).toEqual({ IP: '10.0.0.5', K8S_POD_NAME: 'web' });
    expect(parseCniArgs('', ['IP'])).toEqual({});
  });

  it('rejects unknown keys unless IgnoreUnknown is true, wherever it appears', () => {
    expect(() => parseCniArgs('FOO=1', ['IP'])).toThrow(/unknown args \["FOO=1"\]/);
    expect(parseCniArgs('FOO=1;IgnoreUnknown=1', ['IP'])).toEqual({ IgnoreUnknown: '1' });
    expect(() => parseCniArgs('ip=10.0.0.1', ['IP'])).toThrow(/unknown args/); // keys are case-sensitive
  });

  it('rejects malformed pairs with code 4', () => {
    try {
      parseCniArgs('IP=1=2', ['IP']);
      expect.unreachable();
    } catch (e) {
      expect((e as CniError).code).toBe(4);
      expect((e as CniError).msg).toMatch(/invalid pair "IP=1=2"/);
    }
    expect(() => parseCniArgs('IgnoreUnknown=maybe', [])).toThrow(/not a boolean/);
  });
});
