// Helpers shared by the vlan VM tests (vlan-8021q.vm.mjs, vlan-8021q-go.vm.mjs); not a test file itself.
import { readdirSync } from 'node:fs';
import { ip, ipJson, linkInfo } from './lib.mjs';

/**
 * A "host" netns whose master m0 is a veth to a "switch" netns (the far end of the trunk), with the switch's vlan
 * links `peerVlans` ([id, address]), and a vlan 100 config on m0 with host-local in `subnet`.
 */
export function setup(t, subnet, peerVlans = []) {
  const host = t.netns('h');
  const sw = t.netns('sw');
  ip(['link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', sw.name], host.name);
  ip(['link', 'set', 'm0', 'up'], host.name);
  ip(['link', 'set', 'p0', 'up'], sw.name);
  for (const [id, addr] of peerVlans) {
    ip(['link', 'add', 'link', 'p0', 'name', `p0.${id}`, 'type', 'vlan', 'id', String(id)], sw.name);
    ip(['addr', 'add', addr, 'dev', `p0.${id}`], sw.name);
    ip(['link', 'set', `p0.${id}`, 'up'], sw.name);
  }
  const dataDir = t.tempDir();
  const conf = { cniVersion: '1.0.0', name: 'vl', type: 'vlan', master: 'm0', vlanId: 100, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]], routes: [{ dst: '10.200.0.0/16' }] } };
  return { host, sw, dataDir, conf, masterMac: linkInfo('m0', host.name).address };
}

export const leases = (dataDir, net = 'vl') => {
  try {
    return readdirSync(`${dataDir}/${net}`).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
  } catch {
    return [];
  }
};
export const links = (ns) => ipJson(['link', 'show'], ns).map((l) => l.ifname);
export const opts = (host, c, containerId, extra = {}) => ({ netns: c.path, hostNetns: host.name, containerId, ...extra });
export const ipOf = (r) => r.ips[0].address.split('/')[0];
