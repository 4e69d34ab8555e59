/** The ptp plugin's configuration keys (reference plugins/main/ptp/ptp.go NetConf), validated. Pure. */
import { configError } from '../../lib/cni/errors.js';
import { Fields } from '../../lib/cni/fields.js';
import type { NetConf } from '../../lib/cni/config.js';
import { ipMasqBackendOf } from '../../lib/ipmasq.js';
import type { Backend } from '../../lib/netfilter.js';

export interface PtpConf {
  network: string;
  ipMasq: boolean;
  /** Undefined: the reference's automatic choice (iptables, nftables when iptables is unusable). */
  ipMasqBackend?: Backend;
  /** MTU of both veth ends; undefined leaves it to the kernel. */
  mtu?: number;
}

export function parsePtpConf(conf: NetConf): PtpConf {
  const f = new Fields(conf.raw, 'ptp config');
  const ipamType = conf.ipam?.type;
  if (typeof ipamType !== 'string' || ipamType === '') {
    const got = conf.ipam === undefined ? 'no "ipam"' : `"ipam.type" ${JSON.stringify(ipamType ?? null)}`;
    throw configError(`ptp config: an IPAM plugin is required ("ipam": {"type": ...}), got ${got}`);
  }
  const out: PtpConf = { network: conf.name, ipMasq: f.bool('ipMasq') };
  const backend = ipMasqBackendOf(f);
  if (backend) out.ipMasqBackend = backend;
  const mtu = f.mtu();
  if (mtu) out.mtu = mtu;
  return out;
}
