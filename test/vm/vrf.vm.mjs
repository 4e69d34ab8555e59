// vrf (chained) in the VM: the host kernel has no vrf driver, the VM's has.
// Interfaces are veth ends made inside the container netns (addresses and routes set as an interface plugin would),
// or a real bridge + host-local chain in front of vrf. Ours is compared with the Go vrf 1.1.1 (/usr/lib/cni), which
// keeps the VRF/table/enslaving the same but loses the interface's default route (current upstream moves it into the
// VRF's table, as ours does) and whose CHECK reports nothing.
import { readFileSync } from 'node:fs';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, runPlugin, ip, ipJson, sh, linkInfo, linkExists, addrs, ping } from './lib.mjs';

requirePlugins('vrf', 'bridge', 'host-local');

const VRF = bin('vrf');

/** A container with a veth `ifname` (peer `<ifname>p` in the same netns), up, with the addresses and routes given. */
function iface(ns, ifname, { v4 = [], v6 = [], routes = [] } = {}) {
  ip(['link', 'add', ifname, 'type', 'veth', 'peer', 'name', `${ifname}p`], ns.name);
  ip(['link', 'set', `${ifname}p`, 'up'], ns.name);
  ip(['link', 'set', ifname, 'up'], ns.name);
  for (const a of v4) ip(['addr', 'add', a, 'dev', ifname], ns.name);
  for (const a of v6) ip(['addr', 'add', a, 'dev', ifname, 'nodad'], ns.name);
  for (const r of routes) ip(['route', 'add', ...r.split(' '), 'dev', ifname], ns.name);
}

/** A vrf config with a prevResult naming `ifname` in `ns` with the given addresses. */
function conf(ns, ifname, vrfname, extra = {}, ips = [{ address: '10.90.0.2/24', gateway: '10.90.0.1' }]) {
  const cniVersion = extra.cniVersion ?? '1.0.0';
  const version = (x) => (cniVersion.startsWith('0.') ? { version: x.address.includes(':') ? '6' : '4' } : {});
  return {
    cniVersion,
    name: 'vrfnet',
    type: 'vrf',
    vrfname,
    ...extra,
    prevResult: { cniVersion, interfaces: [{ name: ifname, sandbox: ns.path }], ips: ips.map((x) => ({ ...version(x), ...x, interface: 0 })) },
  };
}

const opts = (ns, ifname = 'eth0', containerId = 'ctr') => ({ netns: ns.path, ifname, containerId });
const master = (ns, ifname) => linkInfo(ifname, ns.name)?.master;
const vrfTable = (ns, name) => linkInfo(name, ns.name)?.linkinfo?.info_data?.table;
/** Routes of a table as "dst[ via gw]" strings (both families). */
const tableRoutes = (ns, table) =>
  ['-4', '-6'].flatMap((f) => ipJson([f, 'route', 'show', 'table', String(table)], ns.name))
    .filter((r) => r.type !== 'local' && r.type !== 'broadcast' && r.type !== 'multicast' && !String(r.dst).startsWith('fe80'))
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`)
    .sort();
const mainRoutesOf = (ns, dev) => ['-4', '-6'].flatMap((f) => ipJson([f, 'route', 'show', 'table', 'main', 'dev', dev], ns.name)).filter((r) => !String(r.dst).startsWith('fe80'));

test('ADD: a new VRF (table 1), the interface in it, its routes moved into the VRF table (default route kept), global IPv6 kept; CHECK; DEL removes the VRF; DEL twice', (t) => {
  const a = t.netns('a');
  iface(a, 'eth0', { v4: ['10.90.0.2/24'], v6: ['fd90::2/64'], routes: ['default via 10.90.0.1', '10.99.0.0/16 via 10.90.0.254'] });
  ip(['-6', 'route', 'add', 'default', 'via', 'fd90::1', 'dev', 'eth0'], a.name);
  const c = conf(a, 'eth0', 'red', {}, [{ address: '10.90.0.2/24', gateway: '10.90.0.1' }, { address: 'fd90::2/64', gateway: 'fd90::1' }]);
  const res = cniAdd(VRF, c, opts(a));
  assert.deepEqual(res.ips.map((x) => x.address), ['10.90.0.2/24', 'fd90::2/64'], 'prevResult not passed through');
  const red = linkInfo('red', a.name);
  assert.equal(red?.linkinfo?.info_kind, 'vrf');
  assert.equal(red.linkinfo.info_data.table, 1);
  assert.ok(red.flags.includes('UP'), 'VRF not up');
  assert.equal(master(a, 'eth0'), 'red');
  assert.deepEqual(addrs('eth0', a.name).sort(), ['10.90.0.2/24', 'fd90::2/64']);
  assert.deepEqual(tableRoutes(a, 1), ['10.90.0.0/24', '10.99.0.0/16 via 10.90.0.254', 'default via 10.90.0.1', 'default via fd90::1', 'fd90::/64'].sort());
  assert.deepEqual(mainRoutesOf(a, 'eth0'), [], 'routes left in the main table');
  cniCheck(VRF, c, opts(a));
  cniDel(VRF, c, opts(a));
  assert.ok(!linkExists('red', a.name), 'VRF left after DEL of its only member');
  assert.equal(master(a, 'eth0'), undefined);
  cniDel(VRF, c, opts(a));
});

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

test('two interfaces share a VRF (reused with the same table); a different table is refused; the VRF goes with its last member', (t) => {
  const a = t.netns('a');
  iface(a, 'e0', { v4: ['10.92.0.2/24'] });
  iface(a, 'e1', { v4: ['10.93.0.2/24'] });
  iface(a, 'e2', { v4: ['10.94.0.2/24'] });
  cniAdd(VRF, conf(a, 'e0', 'red', { table: 1001 }), opts(a, 'e0'));
  cniAdd(VRF, conf(a, 'e1', 'red', { table: 1001 }), opts(a, 'e1'));
  const other = runPlugin({ plugin: VRF, command: 'ADD', conf: conf(a, 'e2', 'red', { table: 1002 }), ...opts(a, 'e2') });
  assert.equal(other.status, 1);
  assert.match(other.json?.msg ?? '', /VRF red already exist with different routing table 1001/);
  assert.equal(master(a, 'e2'), undefined, 'e2 enslaved despite the error');
  // a second VRF gets the next free table
  cniAdd(VRF, conf(a, 'e2', 'green'), opts(a, 'e2'));
  assert.equal(vrfTable(a, 'green'), 1);
  cniDel(VRF, conf(a, 'e0', 'red'), opts(a, 'e0'));
  assert.ok(linkExists('red', a.name), 'VRF removed while e1 is still in it');
  assert.equal(master(a, 'e1'), 'red');
  cniDel(VRF, conf(a, 'e1', 'red'), opts(a, 'e1'));
  assert.ok(!linkExists('red', a.name), 'VRF left after its last member');
  assert.ok(linkExists('green', a.name), 'another VRF removed');
});

test('a failed enslave creates no VRF: an interface that already has a master, a missing interface', (t) => {
  const a = t.netns('a');
  iface(a, 'eth0', { v4: ['10.95.0.2/24'] });
  ip(['link', 'add', 'br9', 'type', 'bridge'], a.name);
  ip(['link', 'set', 'eth0', 'master', 'br9'], a.name);
  const r = runPlugin({ plugin: VRF, command: 'ADD', conf: conf(a, 'eth0', 'red'), ...opts(a) });
  assert.equal(r.status, 1);
  assert.match(r.json?.msg ?? '', /interface eth0 has already a master set: br9/);
  assert.ok(!linkExists('red', a.name), 'VRF created although enslaving failed');
  assert.equal(master(a, 'eth0'), 'br9');
  const gone = runPlugin({ plugin: VRF, command: 'ADD', conf: conf(a, 'nope0', 'red'), ...opts(a, 'nope0') });
  assert.equal(gone.status, 1);
  assert.match(gone.json?.msg ?? '', /could not get link by name nope0/);
  assert.ok(!linkExists('red', a.name));
  // the Go 1.1.1 vrf creates the VRF first and leaves it behind
  const go = runPlugin({ plugin: goBin('vrf'), command: 'ADD', conf: conf(a, 'eth0', 'gored'), ...opts(a), path: '/usr/lib/cni' });
  assert.equal(go.status, 1);
  t.log(`Go 1.1.1 after a failed enslave: VRF left = ${linkExists('gored', a.name)}`);
  // DEL leaves an interface enslaved elsewhere alone
  cniDel(VRF, conf(a, 'eth0', 'red'), opts(a));
  assert.equal(master(a, 'eth0'), 'br9');
});

test('CHECK fails once the interface left the VRF (the Go 1.1.1 CHECK says nothing)', (t) => {
  const a = t.netns('a');
  iface(a, 'eth0', { v4: ['10.96.0.2/24'] });
  const c = conf(a, 'eth0', 'red');
  cniAdd(VRF, c, opts(a));
  cniCheck(VRF, c, opts(a));
  ip(['link', 'set', 'eth0', 'nomaster'], a.name);
  const r = runPlugin({ plugin: VRF, command: 'CHECK', conf: c, ...opts(a) });
  assert.equal(r.status, 1);
  assert.match(r.json?.msg ?? '', /Failed to find eth0 associated to vrf red/);
  const go = runPlugin({ plugin: goBin('vrf'), command: 'CHECK', conf: c, ...opts(a), path: '/usr/lib/cni' });
  t.log(`Go 1.1.1 CHECK after the interface left: exit ${go.status}`);
  cniDel(VRF, c, opts(a));
  assert.ok(!linkExists('red', a.name), 'empty VRF left after DEL');
});

test('DEL succeeds with CNI_NETNS="", after the netns is gone, after the interface is gone (the VRF then removed)', (t) => {
  const a = t.netns('a');
  iface(a, 'eth0', { v4: ['10.97.0.2/24'] });
  const c = conf(a, 'eth0', 'red');
  cniAdd(VRF, c, opts(a));
  cniDel(VRF, c, { ...opts(a), netns: '' });
  assert.equal(master(a, 'eth0'), 'red', 'DEL without a netns changed the container');
  ip(['link', 'del', 'eth0'], a.name);
  cniDel(VRF, c, opts(a));
  assert.ok(!linkExists('red', a.name), 'empty VRF left after DEL');
  const b = t.netns('b');
  const path = b.path;
  sh('ip', ['netns', 'del', b.name]);
  cniDel(VRF, conf(b, 'eth0', 'red'), { netns: path, ifname: 'eth0', containerId: 'gone' });
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
