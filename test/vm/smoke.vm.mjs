// Smoke test of the VM test bed: the kernel has what the host lacks, tools work, our plugins run.
import { test, assert, sh, shOk, ip, linkInfo, linkExists, addrs, runPlugin, cniAdd, cniDel, bin, goBin, havePlugin, DIST, GO_PLUGINS } from './lib.mjs';

test('node and tools are present', () => {
  assert.match(process.version, /^v2\d\./);
  for (const [cmd, args] of [['ip', ['-V']], ['bridge', ['-V']], ['nft', ['-v']], ['iptables', ['-V']], ['nsenter', ['-V']], ['flock', ['-V']], ['sysctl', ['-V']]]) {
    const r = sh(cmd, args);
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  }
  assert.ok(sh('test', ['-x', `${GO_PLUGINS}/bridge`]).status === 0, 'Go plugins present');
  assert.ok(sh('test', ['-d', DIST]).status === 0, 'DIST present');
});

for (const [kind, extra] of [
  ['dummy', []],
  ['ipvlan', ['mode', 'l2']],
  ['vlan', ['id', '42']],
  ['macvlan', ['mode', 'bridge']],
  ['vrf', ['table', '100']],
]) {
  test(`kernel: ${kind} link create + delete in a netns`, (t) => {
    const ns = t.netns('k');
    const needsParent = kind === 'ipvlan' || kind === 'vlan' || kind === 'macvlan';
    if (needsParent) {
      ip(['link', 'add', 'par0', 'type', 'dummy'], ns.name);
      ip(['link', 'set', 'par0', 'up'], ns.name);
    }
    ip(['link', 'add', ...(needsParent ? ['link', 'par0'] : []), 'name', 'x0', 'type', kind, ...extra], ns.name);
    const info = linkInfo('x0', ns.name);
    assert.equal(info?.linkinfo?.info_kind, kind);
    if (kind === 'vlan') assert.equal(info.linkinfo.info_data.id, 42);
    if (kind === 'ipvlan') assert.equal(info.linkinfo.info_data.mode, 'l2');
    ip(['link', 'set', 'x0', 'up'], ns.name);
    ip(['link', 'del', 'x0'], ns.name);
    assert.ok(!linkExists('x0', ns.name), 'x0 still there after delete');
  });
}

test('netfilter: nft table and iptables-nft rule', (t) => {
  const ns = t.netns('nf');
  shOk('nft', ['-f', '-'], { netns: ns.name, input: 'table inet cnits {\n chain c {\n  type nat hook postrouting priority 100;\n  ip saddr 10.0.0.0/8 masquerade\n }\n}\n' });
  assert.match(shOk('nft', ['list', 'ruleset'], { netns: ns.name }), /masquerade/);
  shOk('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '10.1.0.0/16', '-m', 'comment', '--comment', 'cnits', '-j', 'MASQUERADE'], { netns: ns.name });
  assert.match(shOk('iptables', ['-t', 'nat', '-S', 'POSTROUTING'], { netns: ns.name }), /cnits/);
});

test('our loopback plugin: ADD brings lo up, DEL works', (t) => {
  if (!havePlugin('loopback')) t.skip('dist/bin/loopback not built');
  const ns = t.netns('lo');
  ip(['link', 'set', 'lo', 'down'], ns.name);
  const conf = { cniVersion: '1.0.0', name: 'lo-test', type: 'loopback' };
  const res = cniAdd(bin('loopback'), conf, { netns: ns.path, ifname: 'lo' });
  assert.ok(Array.isArray(res.interfaces) && res.interfaces[0].name === 'lo', JSON.stringify(res));
  assert.ok(linkInfo('lo', ns.name).flags.includes('UP'), 'lo is not up');
  assert.ok(sh('ping', ['-c', '1', '-W', '1', '127.0.0.1'], { netns: ns.name }).status === 0, 'ping 127.0.0.1 failed');
  cniDel(bin('loopback'), conf, { netns: ns.path, ifname: 'lo' });
  assert.ok(!linkInfo('lo', ns.name).flags.includes('UP'), 'lo still up after DEL');
});

test('Go reference plugin runs (VERSION)', () => {
  const r = runPlugin({ plugin: goBin('bridge'), command: 'VERSION', conf: { cniVersion: '1.0.0' } });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.json.supportedVersions.includes('1.0.0'));
});
