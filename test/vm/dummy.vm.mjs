// dummy in the VM (the host kernel has no dummy driver). Debian's Go plugins 1.1.1 have no dummy: behaviour follows
// upstream's dummy.go and dummy_test.go — ADD/CHECK/DEL at every spec version, the result is the IPAM result (its routes
// and DNS) with the dummy as its one interface, the link is deleted when IPAM fails — plus DEL without the netns, and
// an ifname that is taken left alone.
import { readdirSync, writeFileSync } from 'node:fs';
import { test, requirePlugins, assert, bin, cniAdd, cniDel, cniCheck, runPlugin, ip, ipJson, addrs, linkInfo, ping, sh } from './lib.mjs';

requirePlugins('dummy', 'host-local');

const NET = 'dmnet';
const leases = (dataDir) => {
  try {
    return readdirSync(`${dataDir}/${NET}`).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
  } catch {
    return [];
  }
};
const links = (ns) => ipJson(['link', 'show'], ns).map((l) => l.ifname);

function setup(t) {
  const host = t.netns('h');
  const dataDir = t.tempDir();
  const resolv = `${dataDir}/resolv.conf`;
  writeFileSync(resolv, 'nameserver 10.86.0.53\nsearch example.test\n');
  const conf = {
    cniVersion: '1.0.0',
    name: NET,
    type: 'dummy',
    dns: { nameservers: ['192.0.2.1'] }, // the config's DNS: not what dummy reports (the IPAM's is)
    ipam: { type: 'host-local', dataDir, resolvConf: resolv, ranges: [[{ subnet: '10.86.0.0/24' }], [{ subnet: 'fd86::/64' }]], routes: [{ dst: '10.87.0.0/16' }] },
  };
  return { host, dataDir, conf };
}
const opts = (host, c, containerId, extra = {}) => ({ netns: c.path, hostNetns: host.name, containerId, ...extra });

test('every spec version (as upstream dummy_test.go): a dummy, up, with the IPAM addresses and routes; result = IPAM result + the interface; CHECK 0.4.0+; DEL (twice at 1.0.0)', (t) => {
  const { host, dataDir, conf } = setup(t);
  for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    const c = t.netns(`v${v.replace(/\./g, '')}`);
    const cfg = { ...conf, cniVersion: v };
    const id = `d${v}`;
    const r = cniAdd(bin('dummy'), cfg, opts(host, c, id));
    const li = linkInfo('eth0', c.name);
    assert.equal(li.linkinfo.info_kind, 'dummy');
    assert.ok(li.flags.includes('UP'), `${v}: not up`);
    const have = addrs('eth0', c.name).sort();
    assert.equal(have.length, 2, `${v}: ${have}`);
    assert.ok(ipJson(['route', 'show', '10.87.0.0/16'], c.name).length === 1, `${v}: IPAM route missing`);
    if (v === '1.0.0') assert.ok(ping(c.name, have.find((a) => a.startsWith('10.')).split('/')[0]), 'own address not reachable');
    if (v === '0.1.0' || v === '0.2.0') {
      assert.equal(r.ip4.ip, have.find((a) => a.startsWith('10.')));
      assert.equal(r.ip6.ip, have.find((a) => a.startsWith('fd86')));
      assert.deepEqual(r.ip4.routes, [{ dst: '10.87.0.0/16' }]);
      assert.deepEqual(r.dns, { nameservers: ['10.86.0.53'], search: ['example.test'] });
    } else {
      assert.deepEqual(r.interfaces, [{ name: 'eth0', mac: li.address, sandbox: c.path }]);
      assert.deepEqual(r.ips.map((i) => [i.interface, i.address]).sort(), have.map((a) => [0, a]).sort());
      assert.deepEqual(r.routes, [{ dst: '10.87.0.0/16' }]);
      assert.deepEqual(r.dns, { nameservers: ['10.86.0.53'], search: ['example.test'] }, `${v}: the IPAM's DNS`);
      if (v.startsWith('0.')) assert.ok(r.ips.every((i) => i.version === (i.address.includes(':') ? '6' : '4')));
    }
    const check = runPlugin({ plugin: bin('dummy'), command: 'CHECK', conf: { ...cfg, prevResult: r }, ifname: 'eth0', ...opts(host, c, id) });
    if (v === '0.4.0' || v.startsWith('1.')) assert.equal(check.status, 0, `${v}: ${check.stdout}`);
    else assert.equal(check.json?.code, 1, `${v}: CHECK before 0.4.0 must be refused: ${check.stdout}`);
    for (let i = 0; i < (v === '1.0.0' ? 2 : 1); i++) cniDel(bin('dummy'), cfg, opts(host, c, id));
    assert.deepEqual(links(c.name), ['lo']);
  }
  assert.deepEqual(leases(dataDir), []);
});

test('CHECK fails when the dummy is down or not a dummy; DEL with CNI_NETNS="" and after the netns is gone releases the lease', (t) => {
  const { host, dataDir, conf } = setup(t);
  const a = t.netns('a');
  const r = cniAdd(bin('dummy'), conf, opts(host, a, 'c1'));
  cniCheck(bin('dummy'), { ...conf, prevResult: r }, opts(host, a, 'c1'));
  ip(['link', 'set', 'eth0', 'down'], a.name);
  const down = runPlugin({ plugin: bin('dummy'), command: 'CHECK', conf: { ...conf, prevResult: r }, ifname: 'eth0', ...opts(host, a, 'c1') });
  assert.equal(down.status, 1);
  assert.equal(down.json.msg, 'Interface eth0 is down');
  ip(['link', 'del', 'eth0'], a.name);
  ip(['link', 'add', 'eth0', 'type', 'bridge'], a.name);
  const kind = runPlugin({ plugin: bin('dummy'), command: 'CHECK', conf: { ...conf, prevResult: r }, ifname: 'eth0', ...opts(host, a, 'c1') });
  assert.equal(kind.status, 1);
  assert.match(kind.json.msg, /Mac .* doesn't match|not of type dummy/);
  cniDel(bin('dummy'), conf, opts(host, a, 'c1', { netns: '' }));
  assert.deepEqual(leases(dataDir), [], 'lease left after DEL without netns');
  const b = t.netns('b');
  cniAdd(bin('dummy'), conf, opts(host, b, 'c2'));
  sh('ip', ['netns', 'del', b.name]);
  for (let i = 0; i < 2; i++) cniDel(bin('dummy'), conf, opts(host, b, 'c2'));
  assert.deepEqual(leases(dataDir), [], 'lease left after DEL of a gone netns');
});

test('a failed ADD leaves nothing: IPAM failure (no link), no ipam (code 7), the ifname taken (the foreign link untouched, lease released)', (t) => {
  const { host, dataDir, conf } = setup(t);
  const a = t.netns('a');
  ip(['link', 'add', 'eth1', 'address', '02:00:00:00:ee:01', 'type', 'dummy'], a.name);
  const cases = [
    ['IPAM failure', { ...conf, ipam: { ...conf.ipam, ranges: [[{ subnet: '10.86.0.0/24', rangeStart: '10.99.0.1' }]] } }, 'eth0', 7, /RangeStart 10.99.0.1 not in network/],
    ['no ipam', { ...conf, ipam: undefined }, 'eth0', 7, /^dummy interface requires an IPAM configuration/],
    ['ifname taken', conf, 'eth1', 999, /^failed to create dummy: file exists/],
  ];
  for (const [name, c, ifname, code, msg] of cases) {
    const r = runPlugin({ plugin: bin('dummy'), command: 'ADD', conf: c, ifname, ...opts(host, a, 'f1') });
    assert.equal(r.status, 1, `${name}: ${r.stdout}`);
    assert.equal(r.json?.code, code, `${name}: ${r.stdout}`);
    assert.match(r.json.msg + (r.json.details ? `: ${r.json.details}` : ''), msg, name);
    assert.deepEqual(links(a.name).sort(), ['eth1', 'lo'], `${name}: links left`);
    assert.deepEqual(leases(dataDir), [], `${name}: lease left`);
  }
  const eth1 = linkInfo('eth1', a.name);
  assert.equal(eth1.address, '02:00:00:00:ee:01');
  assert.deepEqual(addrs('eth1', a.name), [], 'addresses put on the foreign eth1');
});
