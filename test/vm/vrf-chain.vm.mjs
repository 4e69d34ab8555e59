// vrf in a chain in the VM: after our bridge + host-local, conf/bridge-vrf.conflist as libcni runs it, and the Go
// vrf 1.1.1 side by side (same VRF/table/enslaving; it loses the interface's default route, which current upstream
// and ours move into the VRF's table) with swap runs both ways.
import { readFileSync } from 'node:fs';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, ipJson, sh, linkExists } from './lib.mjs';
import { conf, iface, master, opts, tableRoutes, vrfTable } from './vrf-lib.mjs';

requirePlugins('vrf', 'bridge', 'host-local');

const VRF = bin('vrf');

test('bridge + host-local + vrf chain (ours): the pod reaches its gateway through the VRF; DEL in reverse order leaves nothing', (t) => {
  const host = t.netns('h');
  const a = t.netns('a');
  const dataDir = t.tempDir();
  const br = { cniVersion: '1.0.0', name: 'vrfnet', type: 'bridge', bridge: 'vrfbr0', isGateway: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.91.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } };
  const o = { netns: a.path, hostNetns: host.name, containerId: 'chain' };
  const prev = cniAdd(bin('bridge'), br, o);
  const v = { cniVersion: '1.0.0', name: 'vrfnet', type: 'vrf', vrfname: 'blue', table: 2000, prevResult: prev };
  const res = cniAdd(VRF, v, o);
  assert.deepEqual(res.interfaces.map((i) => i.name), prev.interfaces.map((i) => i.name));
  assert.equal(vrfTable(a, 'blue'), 2000);
  assert.equal(master(a, 'eth0'), 'blue');
  assert.ok(tableRoutes(a, 2000).includes('default via 10.91.0.1'), `no default route in the VRF table: ${tableRoutes(a, 2000)}`);
  assert.ok(sh('ping', ['-c', '1', '-W', '2', '-I', 'blue', '10.91.0.1'], { netns: a.name }).status === 0, 'no ping to the gateway through the VRF');
  cniCheck(VRF, { ...v, prevResult: res }, o);
  cniCheck(bin('bridge'), { ...br, prevResult: res }, o);
  cniDel(VRF, { ...v, prevResult: res }, o);
  cniDel(bin('bridge'), { ...br, prevResult: res }, o);
  assert.deepEqual(ipJson(['link', 'show'], a.name).map((l) => l.ifname), ['lo']);
});

test('same VRF, table and enslaving as the Go vrf 1.1.1; swap both ways (ADD with one, DEL with the other) leaves nothing', (t) => {
  const ours = t.netns('o');
  const go = t.netns('g');
  for (const ns of [ours, go]) iface(ns, 'eth0', { v4: ['10.98.0.2/24'], routes: ['default via 10.98.0.1'] });
  const co = conf(ours, 'eth0', 'red', { cniVersion: '0.4.0' });
  const cg = conf(go, 'eth0', 'red', { cniVersion: '0.4.0' });
  const ro = cniAdd(VRF, co, opts(ours));
  const rg = cniAdd(goBin('vrf'), cg, { ...opts(go), path: '/usr/lib/cni' });
  const norm = (r) => ({ ...r, dns: undefined, interfaces: r.interfaces.map((i) => ({ ...i, sandbox: 'S' })) });
  assert.deepEqual(norm(ro), norm(rg), 'results differ');
  for (const ns of [ours, go]) {
    assert.equal(master(ns, 'eth0'), 'red');
    assert.equal(vrfTable(ns, 'red'), 1);
  }
  assert.ok(tableRoutes(ours, 1).includes('default via 10.98.0.1'));
  t.log(`Go 1.1.1 VRF table after ADD: ${JSON.stringify(tableRoutes(go, 1))} (ours: ${JSON.stringify(tableRoutes(ours, 1))})`);
  // swap: DEL with the other implementation
  cniDel(goBin('vrf'), co, { ...opts(ours), path: '/usr/lib/cni' });
  cniDel(VRF, cg, opts(go));
  for (const ns of [ours, go]) {
    assert.ok(!linkExists('red', ns.name), `VRF left in ${ns.name}`);
    assert.equal(master(ns, 'eth0'), undefined);
  }
});

test('conf/bridge-vrf.conflist (bridge + host-local + vrf) as libcni runs it: ADD in order, CHECK, DEL in reverse; two pods; nothing left', (t) => {
  const list = JSON.parse(readFileSync(new URL('../../conf/bridge-vrf.conflist', import.meta.url), 'utf8'));
  assert.deepEqual(list.plugins.map((p) => p.type), ['bridge', 'vrf']);
  const host = t.netns('h');
  const dataDir = t.tempDir();
  list.plugins[0].ipam.dataDir = dataDir;
  const confOf = (i, prevResult) => ({ ...list.plugins[i], name: list.name, cniVersion: list.cniVersion, ...(prevResult ? { prevResult } : {}) });
  const pods = [t.netns('a'), t.netns('b')].map((ns, i) => ({ ns, o: { netns: ns.path, hostNetns: host.name, containerId: `vrfpod${i}` } }));
  for (const p of pods) {
    const prev = cniAdd(bin(list.plugins[0].type), confOf(0), p.o);
    p.result = cniAdd(bin(list.plugins[1].type), confOf(1, prev), p.o);
    assert.equal(master(p.ns, 'eth0'), 'blue');
    assert.equal(vrfTable(p.ns, 'blue'), 1001);
    assert.ok(tableRoutes(p.ns, 1001).includes('default via 10.91.0.1'));
  }
  const ipB = pods[1].result.ips[0].address.split('/')[0];
  assert.ok(sh('ping', ['-c', '1', '-W', '2', '-I', 'blue', ipB], { netns: pods[0].ns.name }).status === 0, 'pod a cannot reach pod b through its VRF');
  for (const p of pods) for (const i of [0, 1]) cniCheck(bin(list.plugins[i].type), confOf(i, p.result), p.o);
  for (const p of pods) for (const i of [1, 0]) cniDel(bin(list.plugins[i].type), confOf(i, p.result), p.o);
  for (const p of pods) assert.deepEqual(ipJson(['link', 'show'], p.ns.name).map((l) => l.ifname), ['lo']);
});
