import { describe, expect, it } from 'vitest';
import { CniError } from '../../lib/cni/errors.js';
import { checkDelegation, delegationDepth, DEPTH_ENV, MAX_DELEGATION_DEPTH, NOT_IPAM_TYPES } from '../../lib/cni/delegation.js';

const refusal = (f: () => void): CniError | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e as CniError;
  }
};

describe('IPAM delegation guard', () => {
  it('refuses the plugin itself and every interface or meta plugin, code 7 naming ipam.type and the value', () => {
    const self = refusal(() => checkDelegation('bridge', ['bridge'], 0));
    expect(self?.code).toBe(7);
    expect(self?.msg).toBe('ipam "type" "bridge" names this plugin itself: refusing to delegate IPAM to it (it would delegate again, without end)');
    for (const t of ['bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device', 'vlan', 'dummy', 'tap', 'loopback', 'portmap', 'tuning', 'firewall', 'bandwidth', 'sbr', 'vrf']) {
      expect(NOT_IPAM_TYPES.has(t)).toBe(true);
      const e = refusal(() => checkDelegation(t, ['ptp-custom'], 0));
      expect(e?.code, t).toBe(7);
      expect(e?.msg).toContain(`ipam "type" ${JSON.stringify(t)} is not an IPAM plugin`);
    }
  });

  it('allows IPAM plugins, ours and third-party, below the depth limit', () => {
    for (const t of ['host-local', 'static', 'dhcp', 'whereabouts', 'calico-ipam', 'azure-vnet-ipam']) {
      expect(refusal(() => checkDelegation(t, ['bridge'], 0)), t).toBeUndefined();
      expect(refusal(() => checkDelegation(t, ['bridge'], MAX_DELEGATION_DEPTH - 1)), t).toBeUndefined();
    }
  });

  it('stops a chain at the depth limit, naming the variable and the type', () => {
    const e = refusal(() => checkDelegation('whereabouts', ['bridge'], MAX_DELEGATION_DEPTH));
    expect(e?.code).toBe(7);
    expect(e?.msg).toContain('refusing to delegate to ipam "type" "whereabouts"');
    expect(e?.msg).toContain(`${DEPTH_ENV}=${MAX_DELEGATION_DEPTH}`);
  });

  it('reads the depth from the environment (absent or not a count: 0)', () => {
    expect(delegationDepth({})).toBe(0);
    expect(delegationDepth({ [DEPTH_ENV]: '2' })).toBe(2);
    expect(delegationDepth({ [DEPTH_ENV]: '-1' })).toBe(0);
    expect(delegationDepth({ [DEPTH_ENV]: 'x' })).toBe(0);
    expect(delegationDepth({ [DEPTH_ENV]: '99999' })).toBe(99999);
  });
});
