// bridge plugin VLAN keys in the VM (8021q sub-interfaces are needed inside containers to use a trunk):
//   vlan                 access VLAN: PVID + egress untagged on the host veth port, vlan_filtering on the bridge
//   vlanTrunk            tagged VLANs on the port ([{id} | {minID, maxID}])
//   preserveDefaultVlan  default true (upstream loadNetConf): VLAN 1 stays on the port; false removes it
// Each test: a "host" netns where the bridge lives and the plugin runs, containers beside it.
// The Go reference (/usr/lib/cni, 1.1.1) knows only `vlan` (it ignores vlanTrunk / preserveDefaultVlan and keeps
// VLAN 1, i.e. the upstream default); its state is compared with ours for `vlan`.
// VMTEST_BRIDGE=go (host env, passed into the VM) runs the tests against the Go plugin instead of ours (to check the tests themselves).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, assert, bin, goBin, havePlugin, cniAdd, cniDel, runPlugin, ip, shOk, linkInfo, linkExists, addrs, ping } from './lib.mjs';

const useGo = process.env.VMTEST_BRIDGE === 'go';
const BR = useGo ? goBin('bridge') : bin('bridge');
const oursMissing = !useGo && !(havePlugin('bridge') && havePlugin('host-local')) ? 'dist/bin/bridge (or host-local) not built yet' : undefined;

function netConf(dataDir, extra, name = 'bvlan', subnet = '10.60.0.0/24') {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'bridge',
    bridge: 'cnitsbr0',
    ...extra,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  };
}

/** VLANs of one bridge port as sorted strings "<vid>[:P][:U]" (P = PVID, U = egress untagged); ranges expanded. */
function portVlans(hostNs, port) {
  const all = JSON.parse(shOk('bridge', ['-j', 'vlan', 'show'], { netns: hostNs }) || '[]');
  const entry = all.find((e) => e.ifname === port);
  if (!entry) return [];
  const out = [];
  for (const v of entry.vlans ?? []) {
    const flags = v.flags ?? [];
    const tag = `${flags.includes('PVID') ? ':P' : ''}${flags.includes('Egress Untagged') ? ':U' : ''}`;
    for (let id = v.vlan; id <= (v.vlanEnd ?? v.vlan); id++) out.push(`${id}${tag}`);
  }
  return out.sort((a, b) => parseInt(a) - parseInt(b));
}

const hostPort = (res) => res.interfaces[1].name;
const ipOf = (res) => res.ips[0].address.split('/')[0];
const leases = (dataDir, net) => {
  try {
    return readdirSync(join(dataDir, net)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
  } catch {
    return [];
  }
};

function add(plugin, t, host, conf, label) {
  const ns = t.netns(label);
  const res = cniAdd(plugin, conf, { netns: ns.path, hostNetns: host.name, containerId: `ctr-${label}` });
  return { ns, res, del: () => cniDel(plugin, conf, { netns: ns.path, hostNetns: host.name, containerId: `ctr-${label}` }) };
}

/** The access-VLAN scenario: a, b on VLAN 100, c on VLAN 200 (default preserveDefaultVlan). */
function accessScenario(plugin, t) {
  const host = t.netns('h');
  const dir = t.tempDir();
  const a = add(plugin, t, host, netConf(dir, { vlan: 100 }), 'a');
  const b = add(plugin, t, host, netConf(dir, { vlan: 100 }), 'b');
  const c = add(plugin, t, host, netConf(dir, { vlan: 200 }), 'c');
  return { host, dir, a, b, c };
}

test('vlan: same access VLAN pings, different VLANs do not; bridge vlan state; DEL cleans up', (t) => {
  const { host, dir, a, b, c } = accessScenario(BR, t);
  const br = linkInfo('cnitsbr0', host.name);
  assert.equal(br?.linkinfo?.info_kind, 'bridge');
  assert.equal(br.linkinfo.info_data.vlan_filtering, 1, 'vlan_filtering not enabled on the bridge');
  for (const [x, vid] of [[a, 100], [b, 100], [c, 200]]) {
    const port = hostPort(x.res);
    assert.equal(linkInfo(port, host.name)?.master, 'cnitsbr0', `${port} not enslaved to the bridge`);
    // upstream default preserveDefaultVlan=true: VLAN 1 stays (egress untagged, no longer PVID)
    assert.deepEqual(portVlans(host.name, port), ['1:U', `${vid}:P:U`], `port ${port}`);
    assert.deepEqual(addrs('eth0', x.ns.name), [x.res.ips[0].address]);
  }
  assert.ok(ping(a.ns.name, ipOf(b.res), { count: 2 }), 'a cannot ping b (same VLAN 100)');
  assert.ok(!ping(a.ns.name, ipOf(c.res), { timeout: 1 }), 'a reached c across VLANs 100/200');
  assert.ok(!ping(c.ns.name, ipOf(b.res), { timeout: 1 }), 'c reached b across VLANs 200/100');

  const ports = [a, b, c].map((x) => hostPort(x.res));
  for (const x of [a, b, c]) x.del();
  for (const x of [a, b, c]) assert.ok(!linkExists('eth0', x.ns.name), `eth0 left in ${x.ns.name}`);
  for (const p of ports) {
    assert.ok(!linkExists(p, host.name), `host veth ${p} left`);
    assert.deepEqual(portVlans(host.name, p), [], `vlan entries left for ${p}`);
  }
  assert.deepEqual(leases(dir, 'bvlan'), [], 'IPAM leases left');
  assert.ok(linkExists('cnitsbr0', host.name), 'bridge was deleted (the reference never deletes it)');
  a.del(); // idempotent
}, { skip: oursMissing });

test('vlan: the Go reference plugin produces the same bridge vlan state', (t) => {
  const ours = accessScenario(BR, t);
  const go = accessScenario(goBin('bridge'), t);
  const state = (s) => ({
    ports: [s.a, s.b, s.c].map((x) => portVlans(s.host.name, hostPort(x.res))),
    bridgeSelf: portVlans(s.host.name, 'cnitsbr0'),
    filtering: linkInfo('cnitsbr0', s.host.name).linkinfo.info_data.vlan_filtering,
    ifaces: s.a.res.interfaces.map((i) => i.name.replace(/^veth[0-9a-f]{8}$/, 'veth*')),
  });
  assert.deepEqual(state(ours), state(go));
}, { skip: oursMissing });

test('preserveDefaultVlan: false removes VLAN 1 from an access port, true keeps it', (t) => {
  const host = t.netns('h');
  const dir = t.tempDir();
  const f = add(BR, t, host, netConf(dir, { vlan: 300, preserveDefaultVlan: false }), 'f');
  const p = add(BR, t, host, netConf(dir, { vlan: 300, preserveDefaultVlan: true }), 'p');
  assert.deepEqual(portVlans(host.name, hostPort(f.res)), ['300:P:U']);
  assert.deepEqual(portVlans(host.name, hostPort(p.res)), ['1:U', '300:P:U']);
  assert.ok(ping(f.ns.name, ipOf(p.res)), 'f cannot ping p (both VLAN 300)');
}, { skip: oursMissing || (useGo ? 'the Go plugin 1.1.1 has no preserveDefaultVlan' : undefined) });

test('vlanTrunk: tagged VLANs on the port; a trunk container reaches an access container through an 802.1q sub-interface', (t) => {
  const host = t.netns('h');
  const dir = t.tempDir();
  const trunk = [{ id: 100 }, { minID: 200, maxID: 202 }];
  // access container on VLAN 100 (10.60.0.0/24)
  const a = add(BR, t, host, netConf(dir, { vlan: 100 }), 'a');
  // trunk containers and an untagged one on another network (10.61.0.0/24) on the same bridge
  const tr = add(BR, t, host, netConf(dir, { vlanTrunk: trunk, preserveDefaultVlan: false }, 'btrunk', '10.61.0.0/24'), 't');
  const tp = add(BR, t, host, netConf(dir, { vlanTrunk: trunk, preserveDefaultVlan: true }, 'btrunk', '10.61.0.0/24'), 'tp');
  const n = add(BR, t, host, netConf(dir, {}, 'btrunk', '10.61.0.0/24'), 'n');

  assert.deepEqual(portVlans(host.name, hostPort(tr.res)), ['100', '200', '201', '202'], 'trunk port, VLAN 1 removed');
  assert.deepEqual(portVlans(host.name, hostPort(tp.res)), ['1:P:U', '100', '200', '201', '202'], 'trunk port, VLAN 1 native');
  assert.deepEqual(portVlans(host.name, hostPort(n.res)), ['1:P:U'], 'port without vlan keys');

  // tagged: eth0.100 in the trunk container is on the access container's VLAN
  ip(['link', 'add', 'link', 'eth0', 'name', 'eth0.100', 'type', 'vlan', 'id', '100'], tr.ns.name);
  ip(['addr', 'add', '10.60.0.250/24', 'dev', 'eth0.100'], tr.ns.name);
  ip(['link', 'set', 'eth0.100', 'up'], tr.ns.name);
  assert.ok(ping(tr.ns.name, ipOf(a.res), { count: 2 }), 'trunk eth0.100 cannot reach the VLAN 100 access container');
  // a VLAN that is not on the trunk does not pass
  ip(['link', 'add', 'link', 'eth0', 'name', 'eth0.300', 'type', 'vlan', 'id', '300'], tp.ns.name);
  ip(['addr', 'add', '10.62.0.2/24', 'dev', 'eth0.300'], tp.ns.name);
  ip(['link', 'set', 'eth0.300', 'up'], tp.ns.name);
  ip(['link', 'add', 'link', 'eth0', 'name', 'eth0.300', 'type', 'vlan', 'id', '300'], tr.ns.name);
  ip(['addr', 'add', '10.62.0.3/24', 'dev', 'eth0.300'], tr.ns.name);
  ip(['link', 'set', 'eth0.300', 'up'], tr.ns.name);
  assert.ok(!ping(tr.ns.name, '10.62.0.2', { timeout: 1 }), 'VLAN 300 crossed trunks that do not carry it');

  // untagged: native VLAN 1 only when preserveDefaultVlan is true
  assert.ok(ping(tp.ns.name, ipOf(n.res)), 'preserveDefaultVlan=true trunk: untagged traffic does not reach the VLAN 1 container');
  assert.ok(!ping(tr.ns.name, ipOf(n.res), { timeout: 1 }), 'preserveDefaultVlan=false trunk: untagged traffic still passes');

  for (const x of [a, tr, tp, n]) x.del();
  assert.deepEqual(JSON.parse(shOk('bridge', ['-j', 'vlan', 'show'], { netns: host.name })).map((e) => e.ifname), ['cnitsbr0'], 'ports left on the bridge');
}, { skip: oursMissing || (useGo ? 'the Go plugin 1.1.1 has no vlanTrunk' : undefined) });

test('vlan and vlanTrunk together, or a bad VLAN id, is rejected without leaving anything', (t) => {
  const host = t.netns('h');
  const dir = t.tempDir();
  const c = t.netns('c');
  for (const extra of [{ vlan: 10, vlanTrunk: [{ id: 20 }] }, { vlan: 4095 }, { vlanTrunk: [{ minID: 30, maxID: 20 }] }, { vlanTrunk: [{ minID: 5 }] }]) {
    const r = runPlugin({ plugin: BR, command: 'ADD', conf: netConf(dir, extra), netns: c.path, ifname: 'eth0', containerId: 'bad', hostNetns: host.name });
    assert.notEqual(r.status, 0, `accepted ${JSON.stringify(extra)}`);
    assert.equal(typeof r.json?.code, 'number', `no CNI error JSON for ${JSON.stringify(extra)}: ${r.stdout}${r.stderr}`);
    assert.ok(!linkExists('eth0', c.name), `eth0 created for ${JSON.stringify(extra)}`);
  }
  assert.deepEqual(leases(dir, 'bvlan'), []);
}, { skip: oursMissing || (useGo ? 'the Go plugin 1.1.1 has no vlanTrunk' : undefined) });

test('vlan + isGateway: the gateway address lives on a <bridge>.<vlan> veth in that VLAN; containers reach it', (t) => {
  const host = t.netns('h');
  const dir = t.tempDir();
  const conf100 = netConf(dir, { vlan: 100, isGateway: true }, 'bgw100', '10.63.0.0/24');
  const conf200 = netConf(dir, { vlan: 200, isGateway: true }, 'bgw200', '10.64.0.0/24');
  const a = add(BR, t, host, conf100, 'a');
  const b = add(BR, t, host, conf100, 'b');
  const c = add(BR, t, host, conf200, 'c');
  for (const [x, gwIf] of [[a, 'cnitsbr0.100'], [b, 'cnitsbr0.100'], [c, 'cnitsbr0.200']]) {
    assert.deepEqual(x.res.interfaces.map((i) => i.name).slice(0, 1).concat(x.res.interfaces.slice(3).map((i) => i.name)), ['cnitsbr0', gwIf], 'result interfaces');
    assert.equal(x.res.ips[0].gateway, gwIf.endsWith('100') ? '10.63.0.1' : '10.64.0.1');
  }
  assert.deepEqual(addrs('cnitsbr0.100', host.name), ['10.63.0.1/24']);
  assert.deepEqual(addrs('cnitsbr0.200', host.name), ['10.64.0.1/24']);
  assert.deepEqual(addrs('cnitsbr0', host.name), [], 'gateway address put on the bridge itself');
  // the bridge-side peer of each gateway veth is an access port of its VLAN
  const peerOf = (ifname) => {
    const li = linkInfo(ifname, host.name);
    assert.equal(li?.linkinfo?.info_kind, 'veth', `${ifname} is not a veth`);
    return li.link; // a peer in the same netns is shown by name
  };
  for (const [gwIf, vid] of [['cnitsbr0.100', 100], ['cnitsbr0.200', 200]]) {
    const peer = peerOf(gwIf);
    assert.ok(peer, `no peer for ${gwIf}`);
    assert.equal(linkInfo(peer, host.name)?.master, 'cnitsbr0');
    assert.ok(portVlans(host.name, peer).includes(`${vid}:P:U`), `${peer}: ${portVlans(host.name, peer)}`);
  }
  assert.ok(ping(a.ns.name, '10.63.0.1'), 'a cannot reach its VLAN 100 gateway');
  assert.ok(ping(b.ns.name, ipOf(a.res)), 'b cannot reach a');
  assert.ok(ping(c.ns.name, '10.64.0.1'), 'c cannot reach its VLAN 200 gateway');
}, { skip: oursMissing || (useGo ? 'the Go plugin 1.1.1 has no VLAN gateway interface' : undefined) });
