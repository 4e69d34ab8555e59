// vrf (chained) in the VM: the host kernel has no vrf driver, the VM's has.
// Interfaces are veth ends made inside the container netns (addresses and routes set as an interface plugin would).
// Ours is compared with the Go vrf 1.1.1 (/usr/lib/cni), whose CHECK reports nothing and which leaves its VRF behind
// when enslaving fails. The chain, example-config and Go differential tests are in vrf-chain.vm.mjs.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, runPlugin, ip, sh, linkInfo, linkExists, addrs, uniq } from './lib.mjs';
import { MODES, conf, iface, mainRoutesOf, master, opts, tableRoutes, useMode, vrfTable } from './vrf-lib.mjs';

requirePlugins('vrf');

const VRF = bin('vrf');

// every test with the FFI; the reads that differ without it (CNI_TS_NO_FFI=1) by the first and the last
for (const [mode, env] of MODES) {
  test(`${mode}: ADD: a new VRF (table 1), the interface in it, its routes moved into the VRF table (default route kept), global IPv6 kept; CHECK; DEL removes the VRF; DEL twice`, (t) => {
    useMode(env);
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

  if (!env.CNI_TS_NO_FFI) test(`${mode}: two interfaces share a VRF (reused with the same table); a different table is refused; the VRF goes with its last member`, (t) => {
    useMode(env);
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

  if (!env.CNI_TS_NO_FFI) test(`${mode}: a failed enslave creates no VRF: an interface that already has a master, a missing interface`, (t) => {
    useMode(env);
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

  if (!env.CNI_TS_NO_FFI) test(`${mode}: CHECK fails once the interface left the VRF (the Go 1.1.1 CHECK says nothing)`, (t) => {
    useMode(env);
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

  test(`${mode}: DEL succeeds with CNI_NETNS="", after the netns is gone, after the interface is gone (the VRF then removed)`, (t) => {
    useMode(env);
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
    // what the Go vrf 1.1.1 does in the same situations (logged for the record)
    const g = t.netns('g');
    iface(g, 'eth0', { v4: ['10.97.0.2/24'] });
    const cg = conf(g, 'eth0', 'red');
    const go = (o) => runPlugin({ plugin: goBin('vrf'), command: 'DEL', conf: cg, ...opts(g), path: '/usr/lib/cni', ...o });
    cniAdd(goBin('vrf'), cg, { ...opts(g), path: '/usr/lib/cni' });
    const noNetns = go({ netns: '' });
    ip(['link', 'del', 'eth0'], g.name);
    const noIface = go({});
    t.log(`Go 1.1.1 DEL with CNI_NETNS="": exit ${noNetns.status} ${noNetns.json?.msg ?? ''}; after the interface is gone: exit ${noIface.status} ${noIface.json?.msg ?? ''}; VRF left: ${linkExists('red', g.name)}`);
  });
}

test('in-process rtnetlink: ADD, CHECK and DEL run no program (their `ip` lines run over rtnetlink in the plugin)', (t) => {
  useMode({});
  const a = t.netns('a');
  iface(a, 'eth0', { v4: ['10.96.0.2/24'], v6: ['fd96::2/64'], routes: ['default via 10.96.0.1'] });
  const c = conf(a, 'eth0', 'red', {}, [{ address: '10.96.0.2/24', gateway: '10.96.0.1' }]);
  const trace = join(tmpdir(), `vrf-trace-${uniq()}`);
  const o = { ...opts(a), env: { CNI_TS_TRACE: trace } };
  for (const run of [cniAdd, cniCheck, cniDel]) {
    run(VRF, c, o);
    const what = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what);
    rmSync(trace);
    assert.deepEqual(what.filter((w) => w.startsWith('exec ')), [], `${run.name} ran a program`);
    assert.ok(what.some((w) => w.startsWith('netlink ip ')), `${run.name}: no in-process ip line traced`);
  }
  assert.ok(!linkExists('red', a.name), 'VRF left after DEL');
});
