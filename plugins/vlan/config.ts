/** vlan network config: the keys of the reference vlan plugin, validated; and CHECK's view of the link. Pure. */
import { CniError, ErrorCode, configError, pluginError } from '../../lib/cni/errors.js';
import { Fields } from '../../lib/cni/fields.js';
import type { NetConf } from '../../lib/cni/config.js';
import type { IpLink } from '../../lib/iface.js';
import type { SubLinkSpec } from '../../lib/parentlink.js';

export interface VlanConf {
  spec: SubLinkSpec;
  vlanId: number;
}

/** master (required), vlanId 0–4094 (default 0), mtu ≥ 0 (0: the master's; checked against it at ADD), linkInContainer. */
export function parseVlanConf(conf: NetConf): VlanConf {
  const f = new Fields(conf.raw, 'vlan config');
  const master = f.string('master');
  if (master === undefined) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, '"master" field is required. It specifies the host interface name to create the VLAN for');
  }
  const vlanId = f.int('vlanId') ?? 0;
  if (vlanId < 0 || vlanId > 4094) throw configError(`invalid VLAN ID ${vlanId} (must be between 0 and 4094 inclusive)`, '"vlanId" is the 802.1Q tag of the link');
  const spec: SubLinkSpec = {
    kind: 'vlan',
    master,
    mtu: f.int('mtu', { min: 0 }) ?? 0,
    linkInContainer: f.bool('linkInContainer'),
    typeOptions: ['id', String(vlanId)],
    notify: false, // the reference vlan sets neither arp_notify nor ndisc_notify
  };
  return { spec, vlanId };
}

/** The reference needs an IPAM plugin for a vlan (its ADD fails without one, after creating the link). */
export function requireIpam(ipamType: string | undefined): string {
  if (!ipamType) throw configError('vlan: "ipam" with a "type" is required', 'the vlan plugin takes its addresses from an IPAM plugin (e.g. host-local, static, dhcp)');
  return ipamType;
}

/** CHECK of the container's link: an 802.1Q vlan with the configured id, and the configured MTU when one is set. */
export function verifyVlanLink(link: IpLink, vlanId: number, mtu: number): void {
  const data = link.linkinfo?.info_data ?? {};
  if (data.id !== vlanId) throw pluginError(`vlan: container interface ${link.ifname} has VLAN id ${String(data.id)}, the config's vlanId is ${vlanId}`);
  if (mtu > 0 && link.mtu !== mtu) throw pluginError(`vlan: configured MTU of ${link.ifname} is ${mtu}, current value is ${link.mtu}`);
}
