// macvlan on a real dummy master (the host kernel has no dummy driver; the VM does).
// Each test: a "host" netns holding the dummy master, containers beside it; plugins run in the host netns.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, requirePlugins, assert, bin, goBin, cniAdd, cniDel, cniCheck, runPlugin, ip, addrs, linkInfo, linkExists, ping } from './lib.mjs';

requirePlugins('macvlan', 'host-local');

function setup(t, mode, subnet) {
  const host = t.netns('h');
  ip(['link', 'add', 'dm0', 'type', 'dummy'], host.name);
  ip(['link', 'set', 'dm0', 'up'], host.name);
  const dataDir = t.tempDir();
  const conf = {
    cniVersion: '1.0.0',
    name: `mv-${mode}`,
    type: 'macvlan',
    master: 'dm0',
    mode,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  };
  return { host, conf, dataDir };
}

/** IP files host-local keeps for a network (everything but its lock and last_reserved_ip files). */
const leases = (dataDir, net) => {
  try {
    return readdirSync(join(dataDir, net)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
  } catch {
    return [];
  }
};

const ipOf = (res) => res.ips[0].address.split('/')[0];

test('bridge mode: ADD two containers on a dummy master, they ping each other; CHECK; DEL cleans up', (t) => {
  const { host, conf, dataDir } = setup(t, 'bridge', '10.70.0.0/24');
  const a = t.netns('a');
  const b = t.netns('b');
  const ra = cniAdd(bin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'ctr-a' });
  const rb = cniAdd(bin('macvlan'), conf, { netns: b.path, hostNetns: host.name, containerId: 'ctr-b' });

  // result shape
  assert.equal(ra.cniVersion, '1.0.0');
  assert.equal(ra.interfaces.length, 1);
  assert.equal(ra.interfaces[0].name, 'eth0');
  assert.equal(ra.interfaces[0].sandbox, a.path);
  assert.equal(ra.ips[0].interface, 0);
  assert.match(ra.ips[0].address, /^10\.70\.0\.\d+\/24$/);
  assert.notEqual(ipOf(ra), ipOf(rb));

  // the kernel state matches the result
  for (const [ns, r] of [[a, ra], [b, rb]]) {
    const li = linkInfo('eth0', ns.name);
    assert.ok(li, `no eth0 in ${ns.name}`);
    assert.equal(li.linkinfo?.info_kind, 'macvlan');
    assert.equal(li.linkinfo?.info_data?.mode, 'bridge');
    assert.equal(li.address, r.interfaces[0].mac);
    assert.ok(li.flags.includes('UP'), 'eth0 not up');
    assert.deepEqual(addrs('eth0', ns.name), [r.ips[0].address]);
  }
  assert.ok(!linkExists('eth0', host.name), 'eth0 left in the host netns');
  assert.equal(leases(dataDir, conf.name).length, 2);

  assert.ok(ping(a.name, ipOf(rb), { count: 2 }), 'a cannot ping b');
  assert.ok(ping(b.name, ipOf(ra)), 'b cannot ping a');

  cniCheck(bin('macvlan'), { ...conf, prevResult: ra }, { netns: a.path, hostNetns: host.name, containerId: 'ctr-a' });

  cniDel(bin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'ctr-a' });
  cniDel(bin('macvlan'), conf, { netns: b.path, hostNetns: host.name, containerId: 'ctr-b' });
  assert.ok(!linkExists('eth0', a.name), 'eth0 still in a after DEL');
  assert.ok(!linkExists('eth0', b.name), 'eth0 still in b after DEL');
  assert.deepEqual(leases(dataDir, conf.name), [], 'IPAM leases left after DEL');
  assert.ok(linkExists('dm0', host.name), 'master deleted');
  // a second DEL is fine (spec: DEL must be idempotent)
  cniDel(bin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'ctr-a' });
});

test('private mode: two containers on the same master cannot reach each other', (t) => {
  const { host, conf } = setup(t, 'private', '10.71.0.0/24');
  const a = t.netns('a');
  const b = t.netns('b');
  cniAdd(bin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'p-a' });
  const rb = cniAdd(bin('macvlan'), conf, { netns: b.path, hostNetns: host.name, containerId: 'p-b' });
  assert.equal(linkInfo('eth0', a.name).linkinfo?.info_data?.mode, 'private');
  assert.ok(!ping(a.name, ipOf(rb), { timeout: 1 }), 'private-mode macvlans reached each other');
});

test('same config through the Go macvlan: same link kind/mode/MTU, and ours and Go containers ping each other', (t) => {
  const { host, conf } = setup(t, 'bridge', '10.72.0.0/24');
  ip(['link', 'set', 'dm0', 'mtu', '1400'], host.name);
  const a = t.netns('a');
  const g = t.netns('g');
  const ra = cniAdd(bin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'i-a' });
  const rg = cniAdd(goBin('macvlan'), conf, { netns: g.path, hostNetns: host.name, containerId: 'i-g' });
  const la = linkInfo('eth0', a.name);
  const lg = linkInfo('eth0', g.name);
  assert.equal(la.linkinfo.info_kind, lg.linkinfo.info_kind);
  assert.equal(la.linkinfo.info_data.mode, lg.linkinfo.info_data.mode);
  assert.equal(la.mtu, lg.mtu);
  assert.equal(la.mtu, 1400);
  // result structure as the Go plugin's (addresses differ, the IPAM state is shared)
  const shape = (r) => ({ ifaces: r.interfaces.map((i) => [i.name, Boolean(i.mac), Boolean(i.sandbox)]), ips: r.ips.map((i) => [i.interface, Boolean(i.address)]) });
  assert.deepEqual(shape(ra), shape(rg));
  assert.ok(ping(a.name, ipOf(rg)), 'ours cannot ping the Go container');
  assert.ok(ping(g.name, ipOf(ra)), 'the Go container cannot ping ours');
  // each plugin can DEL what the other created
  cniDel(goBin('macvlan'), conf, { netns: a.path, hostNetns: host.name, containerId: 'i-a' });
  cniDel(bin('macvlan'), conf, { netns: g.path, hostNetns: host.name, containerId: 'i-g' });
  assert.ok(!linkExists('eth0', a.name) && !linkExists('eth0', g.name), 'eth0 left after cross DEL');
});

test('missing master: ADD fails with a CNI error, nothing left behind', (t) => {
  const { host, conf, dataDir } = setup(t, 'bridge', '10.73.0.0/24');
  const a = t.netns('a');
  const r = runPlugin({ plugin: bin('macvlan'), command: 'ADD', conf: { ...conf, master: 'nope0' }, netns: a.path, ifname: 'eth0', containerId: 'm-a', hostNetns: host.name });
  assert.notEqual(r.status, 0);
  assert.equal(typeof r.json?.code, 'number', `no CNI error on stdout: ${r.stdout}`);
  assert.ok(!linkExists('eth0', a.name));
  assert.deepEqual(leases(dataDir, conf.name), []);
});
