/** vrf network config: `vrfname` (required) and `table` (optional), as the reference reads them. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import type { NetConf } from '../../lib/cni/config.js';
import { canonicalKeys, Fields } from '../../lib/cni/fields.js';

export interface VrfConf {
  vrfName: string;
  /** 0: the first table id no other VRF of the netns uses. */
  table: number;
}

export function parseVrfConf(conf: NetConf): VrfConf {
  const f = new Fields(canonicalKeys(conf.raw, ['vrfname', 'table']), 'vrf config');
  const name = f.string('vrfname');
  if (!name) throw new CniError(ErrorCode.InvalidNetworkConfig, 'configuration is expected to have a valid vrf name', 'set "vrfname"');
  if (Buffer.byteLength(name) > 15 || /[/:\s]/.test(name) || name === '.' || name === '..') f.fail('vrfname', `is not an interface name: ${JSON.stringify(name)}`);
  const table = f.int('table', { min: 0, max: 4294967295 }) ?? 0;
  if (table === 253 || table === 254 || table === 255) f.fail('table', `is ${table}, a table of the kernel's own (default, main, local)`);
  return { vrfName: name, table };
}
