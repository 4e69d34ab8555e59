/** macvlan network config: the keys of the reference macvlan plugin, validated. Pure. */
import { Fields } from '../../lib/cni/fields.js';
import type { NetConf } from '../../lib/cni/config.js';
import { unknownMode, type SubLinkSpec } from '../../lib/parentlink.js';

export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru', 'source'] as const;

/**
 * `mac` is the MAC a runtime asked for (runtimeConfig.mac, args.cni.mac or CNI_ARGS MAC), which wins over the
 * config's own `mac` key.
 */
export function parseMacvlanConf(conf: NetConf, requested: string | undefined): SubLinkSpec {
  const f = new Fields(conf.raw, 'macvlan config');
  const mode = f.string('mode') ?? 'bridge';
  if (!(MACVLAN_MODES as readonly string[]).includes(mode)) throw unknownMode('macvlan', mode, MACVLAN_MODES);
  const own = f.string('mac');
  if (own !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(own)) f.fail('mac', `is not a MAC address: ${JSON.stringify(own)}`);
  const bcqueuelen = f.int('bcqueuelen', { min: 0, max: 4294967295 }) ?? 0;
  const spec: SubLinkSpec = {
    kind: 'macvlan',
    mode,
    mtu: f.int('mtu', { min: 0 }) ?? 0,
    linkInContainer: f.bool('linkInContainer'),
  };
  const master = f.string('master');
  if (master !== undefined) spec.master = master;
  const mac = requested ?? own?.toLowerCase();
  if (mac) spec.mac = mac;
  if (bcqueuelen > 0) spec.typeOptions = ['bcqueuelen', String(bcqueuelen)];
  return spec;
}
