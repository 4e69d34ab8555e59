/**
 * Guards on IPAM delegation against loops (a plugin that delegates to itself or to another interface plugin starts
 * copies of itself without end). Pure.
 */
import { CniError, ErrorCode } from './errors.js';

/**
 * Types that are never IPAM plugins: every interface and meta plugin of the reference set and of cni-ts. Delegating
 * IPAM to one of them runs a plugin that delegates again (a bridge whose ipam.type is "bridge" starts bridge after
 * bridge, each waiting for the next: thousands of processes within minutes). IPAM types (host-local, static, dhcp, and
 * third-party ones such as whereabouts) are not listed: an unknown type is allowed, bounded by the delegation depth.
 */
export const NOT_IPAM_TYPES: ReadonlySet<string> = new Set([
  'bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device', 'vlan', 'dummy', 'tap', 'loopback',
  'portmap', 'tuning', 'firewall', 'bandwidth', 'sbr', 'vrf',
]);

/**
 * The environment variable that counts nested delegations. Every exec'd or in-process delegate gets the caller's value
 * plus one; Go plugins pass their whole environment on to their own delegates, so a chain through them keeps counting.
 */
export const DEPTH_ENV = 'CNI_TS_DELEGATION_DEPTH';

/** A plugin at this depth (runtime → plugin is 0) delegates no further: runtime → meta → main → IPAM → sub-IPAM fits. */
export const MAX_DELEGATION_DEPTH = 3;

/** The delegation depth in `env` (absent or not a count: 0). */
export function delegationDepth(env: NodeJS.ProcessEnv): number {
  const v = env[DEPTH_ENV];
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : 0;
}

/**
 * Refuse a delegation that would recurse (code 7, naming ipam.type and its value): to the delegating plugin itself,
 * to a type that is not an IPAM plugin, or past MAX_DELEGATION_DEPTH nested delegations. Pure.
 */
export function checkDelegation(type: string, self: readonly string[], depth: number): void {
  const value = `ipam "type" ${JSON.stringify(type)}`;
  if (self.includes(type)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${value} names this plugin itself: refusing to delegate IPAM to it (it would delegate again, without end)`, 'set ipam "type" to an IPAM plugin such as host-local, static or dhcp');
  }
  if (NOT_IPAM_TYPES.has(type)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${value} is not an IPAM plugin: refusing to delegate IPAM to the ${type} plugin`, 'set ipam "type" to an IPAM plugin such as host-local, static or dhcp');
  }
  if (depth >= MAX_DELEGATION_DEPTH) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `refusing to delegate to ${value}: ${depth} plugins already delegate to one another (${DEPTH_ENV}=${depth}, at most ${MAX_DELEGATION_DEPTH})`,
      'a chain of delegations this long is a loop: does the IPAM plugin delegate back to an interface plugin?',
    );
  }
}
