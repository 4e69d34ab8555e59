// vlan (802.1Q) in the VM (the host kernel has no 8021q): ours against Debian's Go vlan 1.1.1 — the same link and
// result shape at every version both speak, swap both ways (ADD with one, DEL with the other) — real tagging (a
// container on vlan 100 reaches the far end's vlan 100 over the trunk, one on vlan 200 does not), and what the
// reference gets wrong: DEL after the master was deleted, a failed ADD that leaves its link.
// Each test: a "host" netns whose master m0 is a veth to a "switch" netns (the far end of the trunk), containers beside.
import { ipOf, leases, links, opts, setup } from './vlan-lib.mjs';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, runPlugin, ip, ipJson, addrs, linkInfo, linkExists, ping, sh } from './lib.mjs';

requirePlugins('vlan', 'host-local');

test('ADD: an 802.1Q link with the id and the master MAC in the container; tagged traffic reaches vlan 100, not 200; CHECK; DEL twice', (t) => {
  const { host, sw, dataDir, conf, masterMac } = setup(t, '10.80.0.0/24', [[100, '10.80.0.254/24']]);
  const a = t.netns('a');
  const b = t.netns('b');
  const ra = cniAdd(bin('vlan'), conf, opts(host, a, 'va'));
  const li = linkInfo('eth0', a.name);
  assert.equal(li.linkinfo.info_kind, 'vlan');
  assert.equal(li.linkinfo.info_data.id, 100);
  assert.equal(li.linkinfo.info_data.protocol, '802.1Q');
  assert.equal(li.address, masterMac, 'not the master MAC');
  assert.equal(li.mtu, 1500);
  assert.ok(li.flags.includes('UP'));
  assert.deepEqual(ra.interfaces, [{ name: 'eth0', mac: masterMac, sandbox: a.path }]);
  assert.deepEqual(ra.ips, [{ interface: 0, address: addrs('eth0', a.name)[0], gateway: '10.80.0.1' }]);
  assert.deepEqual(ra.routes, [{ dst: '10.200.0.0/16' }]);
  assert.equal(sh('cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify'], { netns: a.name }).stdout.trim(), '0', 'the reference vlan sets no arp_notify');
  assert.ok(ipJson(['route', 'show', '10.200.0.0/16'], a.name).length === 1, 'IPAM route missing');
  assert.deepEqual(links(a.name), ['lo', 'eth0']);
  assert.deepEqual(links(host.name).sort(), ['lo', 'm0']);
  assert.ok(ping(a.name, '10.80.0.254', { count: 2 }), 'vlan 100 container cannot reach vlan 100 on the far end');
  // the same subnet on vlan 200: the far end has no vlan 200, so nothing answers
  const rb = cniAdd(bin('vlan'), { ...conf, name: 'vl200', vlanId: 200 }, opts(host, b, 'vb'));
  assert.equal(linkInfo('eth0', b.name).linkinfo.info_data.id, 200);
  assert.ok(!ping(b.name, '10.80.0.254', { timeout: 1 }), 'vlan 200 reached vlan 100');
  assert.equal(ipOf(ra), ipOf(rb)); // two networks, two IPAM pools

  cniCheck(bin('vlan'), { ...conf, prevResult: ra }, opts(host, a, 'va'));
  const bad = runPlugin({ plugin: bin('vlan'), command: 'CHECK', conf: { ...conf, vlanId: 101, prevResult: ra }, ifname: 'eth0', ...opts(host, a, 'va') });
  assert.equal(bad.status, 1);
  assert.equal(bad.json.msg, "vlan: container interface eth0 has VLAN id 100, the config's vlanId is 101");
  for (let i = 0; i < 2; i++) cniDel(bin('vlan'), conf, opts(host, a, 'va'));
  cniDel(bin('vlan'), { ...conf, name: 'vl200', vlanId: 200 }, opts(host, b, 'vb'));
  assert.deepEqual(links(a.name), ['lo']);
  assert.deepEqual(links(b.name), ['lo']);
  assert.deepEqual(leases(dataDir), []);
  assert.deepEqual(leases(dataDir, 'vl200'), []);
  assert.ok(linkExists('m0', host.name) && linkExists('p0', sw.name), 'master or trunk gone');
});

test('DEL succeeds and releases the lease with CNI_NETNS="", after the netns is gone, after the master was deleted (Go 1.1.1 fails), twice', (t) => {
  const { host, dataDir, conf } = setup(t, '10.82.0.0/24');
  const a = t.netns('a');
  cniAdd(bin('vlan'), conf, opts(host, a, 'd1'));
  cniDel(bin('vlan'), conf, opts(host, a, 'd1', { netns: '' }));
  assert.deepEqual(leases(dataDir), [], 'lease left after DEL without netns');
  sh('ip', ['netns', 'del', a.name]); // as the runtime does: the link goes with the netns
  const b = t.netns('b');
  cniAdd(bin('vlan'), conf, opts(host, b, 'd2'));
  sh('ip', ['netns', 'del', b.name]);
  for (let i = 0; i < 2; i++) cniDel(bin('vlan'), conf, opts(host, b, 'd2'));
  assert.deepEqual(leases(dataDir), [], 'lease left after DEL of a gone netns');
  const c = t.netns('c');
  cniAdd(bin('vlan'), conf, opts(host, c, 'd3'));
  ip(['link', 'del', 'm0'], host.name); // the kernel removes the vlan with its master
  assert.ok(!linkExists('eth0', c.name));
  const go = runPlugin({ plugin: goBin('vlan'), command: 'DEL', conf, ifname: 'eth0', ...opts(host, c, 'd3') });
  assert.equal(go.status, 1, 'Go 1.1.1 DEL after the master is gone was expected to fail');
  assert.equal(leases(dataDir).length, 1, 'Go released the lease?');
  for (let i = 0; i < 2; i++) cniDel(bin('vlan'), conf, opts(host, c, 'd3'));
  assert.deepEqual(leases(dataDir), [], 'lease left after DEL without the master');
});

test('a failed ADD leaves nothing (Go 1.1.1 leaves its link when IPAM fails): MTU above the master, missing master, ifname taken, IPAM failure', (t) => {
  const { host, dataDir, conf } = setup(t, '10.83.0.0/24');
  const a = t.netns('a');
  ip(['link', 'add', 'eth1', 'type', 'dummy'], a.name); // a foreign link with the ifname asked for below
  const cases = [
    ['MTU above the master', { ...conf, mtu: 9000 }, 'eth0', 7, /invalid MTU 9000, must be \[0, master MTU\(1500\)\]/],
    ['missing master', { ...conf, master: 'nope0' }, 'eth0', 999, /failed to lookup master "nope0"/],
    ['ifname taken', conf, 'eth1', 999, /failed to rename vlan to "eth1": file exists/],
    ['IPAM failure', { ...conf, ipam: { ...conf.ipam, ranges: [[{ subnet: '10.83.0.0/24', rangeStart: '10.99.0.1' }]] } }, 'eth0', 7, /RangeStart 10.99.0.1 not in network/],
    ['no IPAM', { ...conf, ipam: undefined }, 'eth0', 7, /vlan: "ipam" with a "type" is required/],
    ['vlanId out of range', { ...conf, vlanId: 4095 }, 'eth0', 7, /invalid VLAN ID 4095/],
  ];
  for (const [name, c, ifname, code, msg] of cases) {
    const r = runPlugin({ plugin: bin('vlan'), command: 'ADD', conf: c, ifname, ...opts(host, a, 'f1') });
    assert.equal(r.status, 1, `${name}: ${r.stdout}`);
    assert.equal(r.json?.code, code, `${name}: ${r.stdout}`);
    assert.match(r.json.msg + (r.json.details ? `: ${r.json.details}` : ''), msg, name);
    assert.deepEqual(links(a.name).sort(), ['eth1', 'lo'], `${name}: links left`);
    assert.equal(linkInfo('eth1', a.name).linkinfo.info_kind, 'dummy', `${name}: the foreign eth1 changed`);
    assert.deepEqual(leases(dataDir), [], `${name}: lease left`);
  }
  // the reference creates the link before IPAM and does not remove it when IPAM fails
  const g = t.netns('g');
  const go = runPlugin({ plugin: goBin('vlan'), command: 'ADD', conf: cases[3][1], ifname: 'eth0', ...opts(host, g, 'f2') });
  assert.equal(go.status, 1);
  assert.deepEqual(links(g.name), ['lo', 'eth0'], 'Go 1.1.1 no longer leaks its link on an IPAM failure?');
  ip(['link', 'del', 'eth0'], g.name);
  // one vlan per id on a master: the second gets an error naming that, and its lease back
  const holder = t.netns('holder');
  cniAdd(bin('vlan'), { ...conf, name: 'other' }, opts(host, holder, 'holder'));
  const taken = runPlugin({ plugin: bin('vlan'), command: 'ADD', conf, ifname: 'eth0', ...opts(host, a, 'f3') });
  assert.equal(taken.status, 1);
  assert.equal(taken.json.msg, 'failed to create vlan: master "m0" already has a vlan with id 100');
  assert.deepEqual(links(a.name).sort(), ['eth1', 'lo']);
  assert.deepEqual(leases(dataDir), []);
});
