/** ipvlan network config: the keys of the reference ipvlan plugin and its chained mode, validated. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { Fields } from '../../lib/cni/fields.js';
import type { NetConf } from '../../lib/cni/config.js';
import { unknownMode, type SubLinkSpec } from '../../lib/parentlink.js';

export const IPVLAN_MODES = ['l2', 'l3', 'l3s'] as const;

/** The link settings from the config alone (`master` only when the config names it). */
export function parseIpvlanConf(conf: NetConf): SubLinkSpec {
  const f = new Fields(conf.raw, 'ipvlan config');
  const mode = f.string('mode') ?? 'l2';
  if (!(IPVLAN_MODES as readonly string[]).includes(mode)) throw unknownMode('ipvlan', mode, IPVLAN_MODES);
  const spec: SubLinkSpec = {
    kind: 'ipvlan',
    mode,
    mtu: f.int('mtu', { min: 0 }) ?? 0,
    linkInContainer: f.bool('linkInContainer'),
  };
  const master = f.string('master');
  if (master !== undefined) spec.master = master;
  return spec;
}

/**
 * For ADD: without `master`, a chained ipvlan (there is a prevResult) stacks on the single named interface of the
 * prevResult; with no prevResult the default-route interface is used (left undefined here).
 */
export function addSpec(conf: NetConf): SubLinkSpec {
  const spec = parseIpvlanConf(conf);
  const prev = conf.prevResult;
  if (spec.master === undefined && prev) {
    const ifs = prev.interfaces ?? [];
    if (ifs.length !== 1 || !ifs[0]!.name) {
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        'chained master failure. PrevResult lacks a single named interface',
        `prevResult has ${ifs.length} interfaces; set "master" or chain after a plugin that returns exactly one`,
      );
    }
    spec.master = ifs[0]!.name;
  }
  return spec;
}

/** Where ADD gets addresses: the configured IPAM, or (no "ipam" type) the prevResult's IPs in chained mode. */
export function ipSourceKind(conf: NetConf, ipamType: string | undefined): 'ipam' | 'prevResult' {
  if (ipamType) return 'ipam';
  if (conf.prevResult?.ips?.length) return 'prevResult';
  throw new CniError(
    ErrorCode.InvalidNetworkConfig,
    'ipvlan needs addresses: no "ipam" type configured and no prevResult IPs to reuse',
    'set "ipam", or chain ipvlan after a plugin whose result has IPs',
  );
}
