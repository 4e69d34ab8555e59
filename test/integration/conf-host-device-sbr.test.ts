/**
 * The example configs conf/host-device-static.conflist and conf/bridge-sbr.conflist run as libcni runs a conflist,
 * with our plugins only (CNI_PATH = dist/bin). Only the lease directory differs (a temp dir instead of the default);
 * the host device `eth1` is a veth end made by the test. (conf/bridge-vrf.conflist runs in the VM: test/vm/vrf.vm.mjs.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DIST, ROOT, isRoot, ping, shOk } from '../helpers/harness.js';
import { leaseFiles } from '../helpers/attachment.js';
import { testNets } from '../helpers/nets.js';

const newNet = testNets();
const load = (file: string): ConfList => JSON.parse(readFileSync(join(ROOT, 'conf', file), 'utf8')) as ConfList;

describe.skipIf(!isRoot)('example configs: host-device + static, bridge + sbr', () => {
  it('conf/host-device-static.conflist: eth1 moves into the pod with the static address (or the runtime\'s ips), CHECK, DEL gives it back', () => {
    const net = newNet('exhd');
    shOk('ip', ['-n', net.host, 'link', 'add', 'eth1', 'address', '02:e1:00:00:00:01', 'type', 'veth', 'peer', 'name', 'eth1p']);
    shOk('ip', ['-n', net.host, 'link', 'set', 'eth1p', 'up']);
    shOk('ip', ['-n', net.host, 'addr', 'add', '192.168.80.1/24', 'dev', 'eth1p']);
    const list = load('host-device-static.conflist');
    expect(list.plugins.map((p) => p.type)).toEqual(['host-device']);
    const chain = new Chain(list, { hostNetns: net.host, path: DIST });
    const pod = net.addContainer('p');
    const a = { containerId: 'hdpod', netns: pod.path };
    const res = chain.add(a);
    expect(res).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:e1:00:00:00:01', sandbox: pod.path }],
      ips: [{ interface: 0, address: '192.168.80.10/24', gateway: '192.168.80.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    expect(ping(pod.name, '192.168.80.1')).toBe(true);
    expect(net.ipJson(pod.name, ['route', 'show', 'default'])[0]).toMatchObject({ gateway: '192.168.80.1', dev: 'eth0' });
    chain.check(a);
    chain.del(a);
    expect(net.ipJson(net.host, ['link', 'show', 'dev', 'eth1'])[0].address).toBe('02:e1:00:00:00:01');
    expect(net.ipJson(pod.name, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
    // the runtime's ips (capability "ips", e.g. Multus) replace the configured address
    const b = { containerId: 'hdpod2', netns: pod.path, capabilityArgs: { ips: ['192.168.80.20/24'] } };
    expect(chain.add(b).ips).toEqual([{ interface: 0, address: '192.168.80.20/24' }]);
    chain.del(b);
    chain.del(b);
    expect(net.ipJson(net.host, ['link', 'show', 'dev', 'eth1'])).toHaveLength(1);
  });

  it('conf/bridge-sbr.conflist: two pods, source-routed through table 100, reach an outside network (masqueraded); DEL leaves no rule, lease or veth', () => {
    const net = newNet('exsbr');
    net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    const dataDir = net.tempDir();
    const list = load('bridge-sbr.conflist');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'sbr']);
    (list.plugins[0] as any).ipam.dataDir = dataDir;
    const chain = new Chain(list, { hostNetns: net.host, path: DIST });
    const pods = [net.addContainer('a'), net.addContainer('b')];
    const atts = pods.map((p, i) => ({ containerId: `sbrpod${i}`, netns: p.path }));
    const results = atts.map((a) => chain.add(a));
    expect(results.map((r) => r.ips[0].address)).toEqual(['10.90.0.2/24', '10.90.0.3/24']);
    for (const [i, p] of pods.entries()) {
      const ip = `10.90.0.${i + 2}`;
      expect(shOk('ip', ['-n', p.name, 'rule', 'show']).trim().split('\n')).toContain(`32765:\tfrom ${ip} lookup 100`);
      expect(shOk('ip', ['-n', p.name, 'route', 'show', 'table', 'main']).trim()).toBe('');
      expect(net.exec(p.name, 'ping', ['-c', '1', '-W', '2', '-I', ip, '192.0.2.2']).status).toBe(0);
      chain.check(atts[i]!);
    }
    expect(net.exec(pods[0]!.name, 'ping', ['-c', '1', '-W', '2', '-I', '10.90.0.2', '10.90.0.3']).status).toBe(0);
    for (const [i, a] of atts.entries()) {
      chain.del(a);
      expect(shOk('ip', ['-n', pods[i]!.name, 'rule', 'show']).trim().split('\n')).toHaveLength(3); // local, main, default
    }
    expect(leaseFiles(dataDir, 'cni-bridge-sbr')).toEqual([]);
    expect(net.ipJson(net.host, ['-d', 'link', 'show']).filter((l: any) => l.linkinfo?.info_kind === 'veth' && l.ifname.startsWith('veth'))).toEqual([]);
  });
});
