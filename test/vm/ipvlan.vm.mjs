// ipvlan end to end in the VM (the host kernel has no ipvlan): l2, l3 and l3s with two containers on one dummy
// master (ADD, ping both ways, CHECK, DEL x2, nothing left), chained mode after a plugin that returned one
// interface + IPs, rollback when the ifname is taken, and parity/swap with the Go ipvlan.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, requirePlugins, bin, goBin, runPlugin, ip, ipJson, linkInfo, addrs, ping, assert, DIST, GO_PLUGINS } from './lib.mjs';

requirePlugins('ipvlan');

// Our host-local when built, the Go one otherwise (ours first).
const PATH = `${DIST}:${GO_PLUGINS}`;
const NET = 'ipvnet';

/** A host netns with a dummy master m0 (up), and containers beside it. */
function setup(t) {
  const host = t.netns('h');
  ip(['link', 'add', 'm0', 'type', 'dummy'], host.name);
  ip(['link', 'set', 'm0', 'up'], host.name);
  return host;
}

const conf = (dataDir, extra = {}) => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'ipvlan',
  master: 'm0',
  dns: { nameservers: ['10.83.0.53'] },
  ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.83.0.0/24', gateway: '10.83.0.1' }]], routes: [{ dst: '10.84.0.0/16' }] },
  ...extra,
});

const leases = (dataDir) => {
  const d = join(dataDir, NET);
  return existsSync(d) ? readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
};
const linkNames = (ns) => ipJson(['link', 'show'], ns).map((l) => l.ifname).sort();

function run(command, host, c, config, opts = {}) {
  return runPlugin({ plugin: bin('ipvlan'), command, conf: config, containerId: c.id, netns: c.path, ifname: 'eth0', path: PATH, hostNetns: host.name, ...opts });
}
function ok(r, what) {
  assert.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r.json;
}

for (const mode of ['l2', 'l3', 'l3s']) {
  test(`${mode}: two containers ADD, ping each other, CHECK, DEL (twice) leaves nothing`, (t) => {
    const host = setup(t);
    const dataDir = t.tempDir();
    const cfg = conf(dataDir, { mode });
    const a = { ...t.netns('a'), id: 'ca' };
    const b = { ...t.netns('b'), id: 'cb' };
    const ra = ok(run('ADD', host, a, cfg), 'ADD a');
    const rb = ok(run('ADD', host, b, cfg), 'ADD b');

    const la = linkInfo('eth0', a.name);
    assert.equal(la.linkinfo.info_kind, 'ipvlan');
    assert.equal(la.linkinfo.info_data.mode, mode);
    assert.ok(la.flags.includes('UP'));
    const m0 = linkInfo('m0', host.name);
    assert.equal(la.address, m0.address, 'ipvlan shares the master MAC');
    assert.deepEqual(ra.interfaces, [{ name: 'eth0', mac: m0.address, sandbox: a.path }]);
    assert.deepEqual(ra.ips, [{ interface: 0, address: '10.83.0.2/24', gateway: '10.83.0.1' }]);
    assert.deepEqual(ra.routes, [{ dst: '10.84.0.0/16' }]);
    assert.deepEqual(ra.dns, { nameservers: ['10.83.0.53'] });
    assert.deepEqual(addrs('eth0', b.name), ['10.83.0.3/24']);
    assert.ok(ipJson(['route', 'show', '10.84.0.0/16'], a.name).length === 1, 'route 10.84.0.0/16 missing');
    assert.deepEqual(linkNames(a.name), ['eth0', 'lo'], 'temporary name left behind');
    assert.deepEqual(linkNames(host.name), ['lo', 'm0']);

    assert.ok(ping(a.name, '10.83.0.3'), `${mode}: a cannot reach b`);
    assert.ok(ping(b.name, '10.83.0.2'), `${mode}: b cannot reach a`);

    ok(run('CHECK', host, a, { ...cfg, prevResult: ra }), 'CHECK a');
    const wrong = run('CHECK', host, a, { ...cfg, mode: mode === 'l2' ? 'l3' : 'l2', prevResult: ra });
    assert.equal(wrong.status, 1);
    assert.match(wrong.json.msg, new RegExp(`container ipvlan mode ${mode} does not match`));

    for (const [c, r] of [[a, ra], [b, rb]]) {
      ok(run('DEL', host, c, { ...cfg, prevResult: r }), 'DEL');
      ok(run('DEL', host, c, { ...cfg, prevResult: r }), 'DEL again');
      assert.deepEqual(linkNames(c.name), ['lo']);
    }
    assert.deepEqual(leases(dataDir), []);
  });
}

test('chained: no ipam, master and IPs from a prevResult with one interface; CHECK; DEL', (t) => {
  const host = setup(t);
  const a = { ...t.netns('a'), id: 'ch' };
  const b = { ...t.netns('b'), id: 'ch2' };
  // What the previous plugin in the list returned: one (host) interface and its IPs.
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'm0', mac: '02:00:00:00:00:01' }],
    ips: [{ address: '10.85.0.5/24', gateway: '10.85.0.1', interface: 0 }],
    routes: [{ dst: '10.86.0.0/16' }],
  };
  const cfg = { cniVersion: '1.0.0', name: 'ipvchain', type: 'ipvlan', mode: 'l2', prevResult };
  const res = ok(run('ADD', host, a, cfg), 'chained ADD');
  const m0 = linkInfo('m0', host.name);
  assert.deepEqual(res.interfaces, [{ name: 'eth0', mac: m0.address, sandbox: a.path }]);
  assert.deepEqual(res.ips, [{ interface: 0, address: '10.85.0.5/24', gateway: '10.85.0.1' }]);
  assert.deepEqual(res.routes, [{ dst: '10.86.0.0/16' }]);
  assert.equal(linkInfo('eth0', a.name).link_index, m0.ifindex, 'not stacked on the prevResult interface m0');
  assert.deepEqual(addrs('eth0', a.name), ['10.85.0.5/24']);
  // A second chained container on the same master reaches the first.
  const prev2 = { ...prevResult, ips: [{ address: '10.85.0.6/24', interface: 0 }] };
  ok(run('ADD', host, b, { ...cfg, prevResult: prev2 }), 'chained ADD b');
  assert.ok(ping(b.name, '10.85.0.5'), 'chained b cannot reach a');

  // CHECK and DEL get the chain's final result (ipvlan's own) as prevResult.
  const after = { cniVersion: '1.0.0', name: 'ipvchain', type: 'ipvlan', mode: 'l2', prevResult: res };
  ok(run('CHECK', host, a, after), 'chained CHECK');
  ok(run('DEL', host, a, after), 'chained DEL');
  ok(run('DEL', host, a, after), 'chained DEL again');
  assert.deepEqual(linkNames(a.name), ['lo']);

  const two = run('ADD', host, a, { ...cfg, prevResult: { ...prevResult, interfaces: [{ name: 'm0' }, { name: 'x' }] } });
  assert.equal(two.json?.msg, 'chained master failure. PrevResult lacks a single named interface');
  assert.deepEqual(linkNames(a.name), ['lo']);
});

test('ifname taken, mtu above master, master missing: precise error, no link, lease released', (t) => {
  const host = setup(t);
  const dataDir = t.tempDir();
  const a = { ...t.netns('a'), id: 'bad' };
  ip(['link', 'add', 'eth0', 'type', 'dummy'], a.name);
  const taken = run('ADD', host, a, conf(dataDir));
  assert.equal(taken.status, 1);
  assert.equal(taken.json.msg, 'failed to rename ipvlan to "eth0": file exists');
  assert.deepEqual(linkNames(a.name), ['eth0', 'lo']);
  assert.equal(linkInfo('eth0', a.name).linkinfo.info_kind, 'dummy');
  assert.deepEqual(leases(dataDir), [], 'IPAM lease not released');
  ip(['link', 'del', 'eth0'], a.name);

  const mtu = run('ADD', host, a, conf(dataDir, { mtu: 9000 }));
  assert.equal(mtu.json.msg, 'invalid MTU 9000, must be [0, master MTU(1500)]');
  const missing = run('ADD', host, a, conf(dataDir, { master: 'nosuch0' }));
  assert.equal(missing.json.msg, 'failed to lookup master "nosuch0" in host netns: Link not found');
  assert.deepEqual(linkNames(a.name), ['lo']);
  assert.deepEqual(leases(dataDir), []);
});

test('same result as the Go ipvlan (modulo sandbox); swap ADD/DEL between them leaves nothing', (t) => {
  const host = setup(t);
  const a = { ...t.netns('a'), id: 'pa' };
  const b = { ...t.netns('b'), id: 'pb' };
  // ipvlan refuses one address twice on a master: the Go plugin gets its own master m1 (same MAC as m0).
  ip(['link', 'add', 'm1', 'address', linkInfo('m0', host.name).address, 'type', 'dummy'], host.name);
  ip(['link', 'set', 'm1', 'up'], host.name);
  // Explicit route gw: Go 1.1.1's CHECK cannot match a route whose gw was defaulted (it filters on gw == nil).
  const cfgOurs = conf(t.tempDir(), { mode: 'l3' });
  cfgOurs.ipam.routes = [{ dst: '10.84.0.0/16', gw: '10.83.0.1' }];
  const cfgGo = { ...cfgOurs, master: 'm1', ipam: { ...cfgOurs.ipam, dataDir: t.tempDir() } };
  const ours = ok(run('ADD', host, a, cfgOurs), 'ours ADD');
  const go = ok(run('ADD', host, b, cfgGo, { plugin: goBin('ipvlan'), path: GO_PLUGINS }), 'Go ADD');
  const norm = (j) => ({ ...j, interfaces: j.interfaces.map((i) => ({ ...i, sandbox: 'S' })) });
  assert.deepEqual(norm(ours), norm(go));
  // Swap: ours added a, Go deletes it; Go added b, ours deletes it (and both CHECK the other's work).
  ok(run('CHECK', host, a, { ...cfgOurs, prevResult: ours }, { plugin: goBin('ipvlan'), path: GO_PLUGINS }), 'Go CHECK of ours');
  ok(run('CHECK', host, b, { ...cfgGo, prevResult: go }), 'our CHECK of Go');
  ok(run('DEL', host, a, { ...cfgOurs, prevResult: ours }, { plugin: goBin('ipvlan'), path: GO_PLUGINS }), 'Go DEL of ours');
  ok(run('DEL', host, b, { ...cfgGo, prevResult: go }), 'our DEL of Go');
  assert.deepEqual(linkNames(a.name), ['lo']);
  assert.deepEqual(linkNames(b.name), ['lo']);
  assert.deepEqual(leases(cfgOurs.ipam.dataDir), []);
  assert.deepEqual(leases(cfgGo.ipam.dataDir), []);
});

test('linkInContainer with mtu: the master lives in the container netns; CHECK; DEL keeps the master', (t) => {
  const host = t.netns('h');
  const a = { ...t.netns('a'), id: 'lic' };
  ip(['link', 'add', 'cm0', 'mtu', '1450', 'type', 'dummy'], a.name);
  ip(['link', 'set', 'cm0', 'up'], a.name);
  const dataDir = t.tempDir();
  const cfg = conf(dataDir, { master: 'cm0', linkInContainer: true, mtu: 1400 });
  const tooBig = run('ADD', host, a, { ...cfg, mtu: 1500 });
  assert.equal(tooBig.json?.msg, 'invalid MTU 1500, must be [0, master MTU(1450)]');
  const res = ok(run('ADD', host, a, cfg), 'ADD');
  const link = linkInfo('eth0', a.name);
  assert.equal(link.linkinfo.info_kind, 'ipvlan');
  assert.equal(link.link, 'cm0');
  assert.equal(link.mtu, 1400);
  ok(run('CHECK', host, a, { ...cfg, prevResult: res }), 'CHECK');
  ok(run('DEL', host, a, { ...cfg, prevResult: res }), 'DEL');
  assert.deepEqual(linkNames(a.name), ['cm0', 'lo']);
  assert.deepEqual(leases(dataDir), []);
});
