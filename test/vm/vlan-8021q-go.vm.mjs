// vlan (802.1Q) in the VM, part 2 (vlan-8021q.vm.mjs has part 1) (the host kernel has no 8021q): ours against Debian's Go vlan 1.1.1 — the same link and
// result shape at every version both speak, swap both ways (ADD with one, DEL with the other) — real tagging (a
// container on vlan 100 reaches the far end's vlan 100 over the trunk, one on vlan 200 does not), and what the
// reference gets wrong: DEL after the master was deleted, a failed ADD that leaves its link.
// Each test: a "host" netns whose master m0 is a veth to a "switch" netns (the far end of the trunk), containers beside.
import { readFileSync } from 'node:fs';
import { leases, links, opts, setup } from './vlan-lib.mjs';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, ip, ipJson, addrs, linkInfo, ping } from './lib.mjs';

requirePlugins('vlan', 'host-local');

test('the same config through the Go vlan 1.1.1: same link and result at 0.1.0–1.0.0, each CHECKs what the other made; swap both ways leaves nothing; ours also at 1.1.0', (t) => {
  const { host, dataDir, conf: base, masterMac } = setup(t, '10.81.0.0/24');
  ip(['link', 'set', 'm0', 'mtu', '1400'], host.name);
  // a route with its gateway: the Go CHECK looks routes up by dst and gw, and fails on a gw-less one (its own too)
  const conf = { ...base, ipam: { ...base.ipam, routes: [{ dst: '10.200.0.0/16', gw: '10.81.0.1' }] } };
  // addresses differ (the IPAM store is shared); everything else must not
  // (Go 1.1.1 prints an empty "dns": {} in 1.0.0 results; the current reference and ours omit it)
  const norm = (r) => {
    const o = JSON.parse(JSON.stringify(r).replace(/10\.81\.0\.\d+/g, 'IP').replace(/\/run\/netns\/[^"]+/g, 'NS'));
    if (r.cniVersion === '1.0.0' && o.dns && !Object.keys(o.dns).length) delete o.dns;
    return o;
  };
  // one vlan per id and master (a kernel rule): ours and Go's one after the other, each deleted by the other
  const seen = (ns) => {
    const li = linkInfo('eth0', ns);
    return { kind: li.linkinfo.info_kind, id: li.linkinfo.info_data.id, protocol: li.linkinfo.info_data.protocol, mac: li.address, mtu: li.mtu, up: li.flags.includes('UP'), addrs: addrs('eth0', ns).length };
  };
  for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
    const checks = v === '0.4.0' || v === '1.0.0';
    const c = { ...conf, cniVersion: v, mtu: 1300 };
    const o = t.netns(`o${v.replace(/\./g, '')}`);
    const g = t.netns(`g${v.replace(/\./g, '')}`);
    const ro = cniAdd(bin('vlan'), c, opts(host, o, `o${v}`));
    const so = seen(o.name);
    if (checks) cniCheck(goBin('vlan'), { ...c, prevResult: ro }, opts(host, o, `o${v}`)); // Go CHECKs ours
    cniDel(goBin('vlan'), c, opts(host, o, `o${v}`));
    assert.deepEqual(links(o.name), ['lo'], `${v}: ours left after Go's DEL`);
    const rg = cniAdd(goBin('vlan'), c, opts(host, g, `g${v}`));
    const sg = seen(g.name);
    if (checks) cniCheck(bin('vlan'), { ...c, prevResult: rg }, opts(host, g, `g${v}`)); // ours CHECKs Go's
    cniDel(bin('vlan'), c, opts(host, g, `g${v}`));
    assert.deepEqual(links(g.name), ['lo'], `${v}: Go's left after our DEL`);
    assert.deepEqual(norm(ro), norm(rg), `${v} results differ`);
    assert.deepEqual(so, sg, `${v} links differ`);
    assert.deepEqual(so, { kind: 'vlan', id: 100, protocol: '802.1Q', mac: masterMac, mtu: 1300, up: true, addrs: 1 });
    assert.deepEqual(leases(dataDir), [], `${v}: leases left`);
  }
  // 1.1.0: ours only (Go 1.1.1 stops at 1.0.0)
  const x = t.netns('x110');
  const r = cniAdd(bin('vlan'), { ...conf, cniVersion: '1.1.0' }, opts(host, x, 'x110'));
  assert.deepEqual(r.interfaces, [{ name: 'eth0', mac: masterMac, sandbox: x.path }]);
  assert.deepEqual(r.routes, [{ dst: '10.200.0.0/16', gw: '10.81.0.1' }]);
  cniCheck(bin('vlan'), { ...conf, cniVersion: '1.1.0', prevResult: r }, opts(host, x, 'x110'));
  cniDel(bin('vlan'), { ...conf, cniVersion: '1.1.0' }, opts(host, x, 'x110'));
  assert.deepEqual(leases(dataDir), []);
});

test('linkInContainer: the master is looked up in the container; a host link named like CNI_IFNAME is no obstacle', (t) => {
  const { host, sw, dataDir, conf } = setup(t, '10.84.0.0/24', [[100, '10.84.0.254/24']]);
  const a = t.netns('a');
  // a trunk inside the container: a second veth to the switch, its container end is the master
  ip(['link', 'add', 'trunk0', 'type', 'veth', 'peer', 'name', 'p1', 'netns', sw.name], a.name);
  ip(['link', 'set', 'trunk0', 'up'], a.name);
  ip(['link', 'set', 'p1', 'up'], sw.name);
  ip(['link', 'add', 'link', 'p1', 'name', 'p1.300', 'type', 'vlan', 'id', '300'], sw.name);
  ip(['addr', 'add', '10.85.0.254/24', 'dev', 'p1.300'], sw.name);
  ip(['link', 'set', 'p1.300', 'up'], sw.name);
  const inCtr = { ...conf, name: 'vlc', master: 'trunk0', vlanId: 300, linkInContainer: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.85.0.0/24' }]] } };
  const ra = cniAdd(bin('vlan'), inCtr, opts(host, a, 'lc', { ifname: 'net1' }));
  assert.equal(linkInfo('net1', a.name).linkinfo.info_data.id, 300);
  assert.ok(ping(a.name, '10.85.0.254'), 'vlan 300 on the in-container trunk does not reach the far end');
  cniCheck(bin('vlan'), { ...inCtr, prevResult: ra }, opts(host, a, 'lc', { ifname: 'net1' }));
  // with a link named eth0 in the host netns, the vlan eth0 is still made in the container
  ip(['link', 'add', 'eth0', 'type', 'dummy'], host.name);
  const b = t.netns('b');
  const rb = cniAdd(bin('vlan'), conf, opts(host, b, 'hc'));
  assert.equal(linkInfo('eth0', b.name).linkinfo.info_kind, 'vlan');
  assert.equal(linkInfo('eth0', host.name).linkinfo.info_kind, 'dummy');
  assert.ok(ping(b.name, '10.84.0.254'));
  cniDel(bin('vlan'), conf, opts(host, b, 'hc'));
  cniDel(bin('vlan'), inCtr, opts(host, a, 'lc', { ifname: 'net1' }));
  assert.deepEqual(links(a.name).sort(), ['lo', 'trunk0']);
  assert.ok(rb.interfaces[0].mac);
});

test('conf/40-vlan.conflist: ADD, CHECK and DEL as a runtime runs a one-plugin list (master eth1 in the host netns)', (t) => {
  const list = JSON.parse(readFileSync(new URL('../../conf/40-vlan.conflist', import.meta.url), 'utf8'));
  const host = t.netns('h');
  const sw = t.netns('sw');
  ip(['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'p0', 'netns', sw.name], host.name);
  ip(['link', 'set', 'eth1', 'up'], host.name);
  ip(['link', 'set', 'p0', 'up'], sw.name);
  ip(['link', 'add', 'link', 'p0', 'name', 'p0.100', 'type', 'vlan', 'id', '100'], sw.name);
  ip(['addr', 'add', '192.168.100.1/24', 'dev', 'p0.100'], sw.name);
  ip(['link', 'set', 'p0.100', 'up'], sw.name);
  const dataDir = t.tempDir();
  const [p] = list.plugins;
  // libcni: name and cniVersion injected; dataDir made per-test here (the file leaves host-local's default)
  const conf = { ...p, name: list.name, cniVersion: list.cniVersion, ipam: { ...p.ipam, dataDir } };
  const a = t.netns('a');
  const r = cniAdd(bin('vlan'), conf, opts(host, a, 'cf'));
  assert.match(r.ips[0].address, /^192\.168\.100\.1\d\d\/24$/);
  assert.equal(ipJson(['route', 'show', 'default'], a.name)[0]?.gateway, '192.168.100.1');
  assert.ok(ping(a.name, '192.168.100.1'), 'the gateway on vlan 100 does not answer');
  cniCheck(bin('vlan'), { ...conf, prevResult: r }, opts(host, a, 'cf'));
  cniDel(bin('vlan'), { ...conf, prevResult: r }, opts(host, a, 'cf'));
  assert.deepEqual(links(a.name), ['lo']);
  assert.deepEqual(leases(dataDir, list.name), []);
});
