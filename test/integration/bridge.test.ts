/**
 * bridge, end to end: the built dist/bin/bridge run as a runtime runs it, in a throwaway host netns, with containers
 * beside it. IPAM is host-local from CNI_PATH (ours first, the Go one as fallback).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostVeths as hostVethsOf, hostVethsSettled, leaseFiles, masqState as masqStateOf, normResult, pathWithoutNetfilter, withPidNetns, withPrev } from '../helpers/attachment.js';
import { DIST, GO_PLUGINS, TestNet, addressesOf, bin, goBin, haveGoPlugins, isRoot, ping, sh, type PluginRun } from '../helpers/harness.js';

const CNI_PATH = `${DIST}:${GO_PLUGINS}`;
const BR = 'cnibr0';

let net: TestNet;
let dataDir: string;
afterEach(() => net?.cleanup());

function start(label = 'br'): void {
  net = new TestNet(label);
  dataDir = net.tempDir();
}

const mkConf = (over: Record<string, unknown> = {}): Record<string, any> => ({
  cniVersion: '1.0.0',
  name: 'brnet',
  type: 'bridge',
  bridge: BR,
  isGateway: true,
  ipMasq: true,
  ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir },
  ...over,
});

interface Ctr {
  name: string;
  path: string;
}

function run(command: string, conf: unknown, cid: string, c: Ctr | { path: string }, extra: Record<string, any> = {}): PluginRun {
  return net.run({ plugin: bin('bridge'), command, conf, containerId: cid, netns: c.path, ifname: 'eth0', path: CNI_PATH, ...extra });
}

function addOk(conf: unknown, cid: string, c: Ctr, extra: Record<string, any> = {}): any {
  const r = run('ADD', conf, cid, c, extra);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.json;
}

function hostExec(cmd: string, args: string[]): string {
  return net.exec(net.host, cmd, args).stdout;
}

const masqState = (): { ipt: string[]; nft: string } => masqStateOf(net);
const hostVeths = (): string[] => hostVethsOf(net);
const leases = (name = 'brnet'): string[] => leaseFiles(dataDir, name);

function expectNothingLeft(): void {
  expect(hostVethsSettled(net)).toEqual([]);
  expect(leases()).toEqual([]);
  const m = masqState();
  expect(m.ipt).toEqual([]);
  expect(m.nft).not.toMatch(/masquerade comment/);
}

describe.skipIf(!isRoot)('bridge plugin', () => {
  it('two containers on one bridge ping each other and the gateway; CHECK passes; DEL twice leaves nothing', () => {
    start();
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = mkConf();
    const r1 = addOk(conf, 'ctr-a', c1);
    const r2 = addOk(conf, 'ctr-b', c2);
    expect(r1.interfaces).toHaveLength(3);
    expect(r1.interfaces[0]).toEqual({ name: BR, mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    expect(r1.interfaces[1].name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(r1.interfaces[2]).toEqual({ name: 'eth0', mac: expect.any(String), sandbox: c1.path });
    expect(r1.ips).toEqual([{ interface: 2, address: '10.77.0.2/24', gateway: '10.77.0.1' }]);
    expect(r2.ips[0].address).toBe('10.77.0.3/24');
    // Bridge MAC is stable as ports come and go.
    expect(r2.interfaces[0].mac).toBe(r1.interfaces[0].mac);
    expect(addressesOf(net.host, BR)).toContain('10.77.0.1/24');
    expect(addressesOf(c1.name, 'eth0')).toContain('10.77.0.2/24');
    expect(ping(c1.name, '10.77.0.3')).toBe(true);
    expect(ping(c2.name, '10.77.0.2')).toBe(true);
    expect(ping(c1.name, '10.77.0.1')).toBe(true);
    // Sysctls as the reference.
    expect(hostExec('cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    expect(hostExec('cat', [`/proc/sys/net/ipv6/conf/${BR}/accept_ra`]).trim()).toBe('0');
    expect(net.exec(c1.name, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('1');
    expect(net.exec(c1.name, 'cat', ['/proc/sys/net/ipv6/conf/eth0/accept_dad']).stdout.trim()).toBe('0');
    // Masquerade with the reference's chain names.
    expect(masqState().ipt.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(2);
    expect(run('CHECK', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);

    const d1 = run('DEL', withPrev(conf, r1), 'ctr-a', c1);
    expect(d1.status, d1.stdout).toBe(0);
    expect(run('DEL', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);
    expect(ping(c2.name, '10.77.0.1')).toBe(true);
    expect(run('DEL', conf, 'ctr-b', c2).status).toBe(0);
    expectNothingLeft();
    expect(net.ipJson(net.host, ['link', 'show', BR])).toHaveLength(1); // the bridge stays
    expect(run('DEL', conf, 'never-added', c2).status).toBe(0);
  });

  it('a container reaches an outside namespace through masquerade (the outside sees the host address)', () => {
    start('brm');
    const c = net.addContainer();
    // Host <-> outside link; the outside has no route back to the container subnet.
    const out = net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    const counters = 'table ip seen {\n chain input {\n type filter hook input priority 0;\n ip saddr 192.0.2.1 icmp type echo-request counter\n ip saddr 10.77.0.0/24 counter\n }\n}\n';
    expect(net.exec(out, 'nft', ['-f', '-'], counters).status).toBe(0);
    addOk(mkConf({ isDefaultGateway: true }), 'ctr-m', c);
    expect(ping(c.name, '192.0.2.2')).toBe(true);
    const seen = net.exec(out, 'nft', ['list', 'table', 'ip', 'seen']).stdout;
    expect(seen).toMatch(/ip saddr 192\.0\.2\.1 icmp type echo-request counter packets [1-9]/);
    expect(seen).toMatch(/ip saddr 10\.77\.0\.0\/24 counter packets 0 /);
    expect(run('DEL', mkConf({ isDefaultGateway: true }), 'ctr-m', c).status).toBe(0);
    expectNothingLeft();
  });

  it('nftables backend: masquerade works, DEL removes the rule, GC keeps only valid attachments (rules and leases)', () => {
    start('brn');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    const conf = mkConf({ cniVersion: '1.1.0', isDefaultGateway: true, ipMasqBackend: 'nftables' });
    const r1 = addOk(conf, 'ctr-1', c1);
    addOk(conf, 'ctr-2', c2);
    expect(ping(c1.name, '192.0.2.2')).toBe(true);
    expect(run('CHECK', withPrev(conf, r1), 'ctr-1', c1).status).toBe(0);
    let m = masqState();
    expect(m.ipt).toEqual([]);
    expect(m.nft).toContain('ip saddr 10.77.0.2 ip daddr != 10.77.0.0/24 masquerade comment');
    expect(m.nft).toContain('id: ctr-2"');
    const gc = net.run({
      plugin: bin('bridge'),
      command: 'GC',
      conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-1', ifname: 'eth0' }] },
      path: CNI_PATH,
    });
    expect(gc.status, gc.stdout).toBe(0);
    m = masqState();
    expect(m.nft).toContain('id: ctr-1"');
    expect(m.nft).not.toContain('id: ctr-2"');
    expect(leases()).toEqual(['10.77.0.2']);
    expect(run('DEL', conf, 'ctr-1', c1).status).toBe(0);
    expect(run('DEL', conf, 'ctr-2', c2).status).toBe(0);
    expectNothingLeft();
    // STATUS goes to the IPAM.
    expect(net.run({ plugin: bin('bridge'), command: 'STATUS', conf, path: CNI_PATH }).status).toBe(0);
  });

  it('GC with the iptables backend removes the chains of containers not in the valid attachments', () => {
    start('brg');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = mkConf({ cniVersion: '1.1.0' });
    addOk(conf, 'ctr-1', c1);
    addOk(conf, 'ctr-2', c2);
    const gc = net.run({ plugin: bin('bridge'), command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-2', ifname: 'eth0' }] }, path: CNI_PATH });
    expect(gc.status, gc.stdout).toBe(0);
    const ipt = masqState().ipt.join('\n');
    expect(ipt).toContain('id: \\"ctr-2\\"');
    expect(ipt).not.toContain('id: \\"ctr-1\\"');
  });

  it('DEL after the netns is gone (or with CNI_NETNS empty, no prevResult) releases the lease and removes masquerade', () => {
    start('brd');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = mkConf({ ipam: { type: 'host-local', ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]], dataDir } });
    const r1 = addOk(conf, 'ctr-a', c1);
    addOk(conf, 'ctr-b', c2);
    expect(masqState().ipt.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(4);
    net.removeNetns(c1.name);
    net.removeNetns(c2.name);
    expect(run('DEL', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);
    const d2 = run('DEL', conf, 'ctr-b', { path: '' });
    expect(d2.status, d2.stdout).toBe(0);
    expectNothingLeft();
  });

  it('DEL still cleans up when the config was edited into something invalid since ADD (the reference fails and leaks)', () => {
    start('bre');
    const c = net.addContainer();
    const conf = mkConf();
    addOk(conf, 'ctr-e', c);
    const broken = { ...conf, mtu: 'large', hairpinMode: true, promiscMode: true };
    expect(run('ADD', broken, 'ctr-x', c).json.code).toBe(7);
    const d = run('DEL', broken, 'ctr-e', c);
    expect(d.status, d.stdout).toBe(0);
    expectNothingLeft();
  });

  it('fails cleanly: container ifname taken, IPAM error, unusable masquerade backend — nothing left, no lease', () => {
    start('brf');
    const c = net.addContainer();
    // ifname taken
    sh('ip', ['-n', c.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0']);
    const taken = run('ADD', mkConf(), 'ctr-f', c);
    expect(taken.status).toBe(1);
    expect(taken.json.msg).toMatch(/container veth name provided \(eth0\) already exists/);
    expectNothingLeft();
    sh('ip', ['-n', c.name, 'link', 'del', 'eth0']);

    // IPAM fails (missing plugin, then a config host-local refuses)
    const noIpam = run('ADD', mkConf({ ipam: { type: 'no-such-ipam' } }), 'ctr-f', c);
    expect(noIpam.status).toBe(1);
    expect(noIpam.json.msg).toMatch(/failed to find plugin "no-such-ipam"/);
    const badIpam = run('ADD', mkConf({ ipam: { type: 'host-local', subnet: '10.77.0.0/31', dataDir } }), 'ctr-f', c);
    expect(badIpam.status).toBe(1);
    expectNothingLeft();
    expect(net.ipJson(c.name, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);

    // masquerade backend unusable: a PATH without iptables and nft
    const bin2 = pathWithoutNetfilter(net);
    for (const backend of [undefined, 'iptables', 'nftables']) {
      const r = run('ADD', mkConf(backend ? { ipMasqBackend: backend } : {}), 'ctr-f', c, { env: { PATH: bin2 } });
      expect(r.status, r.stdout).toBe(1);
      expect(r.json.msg).toMatch(/masquerade/);
      expectNothingLeft();
      expect(net.ipJson(c.name, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
    }
  });

  it('CHECK passes after ADD and names what differs: address, route, veth', () => {
    start('brc');
    const c = net.addContainer();
    const conf = mkConf({ isDefaultGateway: true });
    const res = addOk(conf, 'ctr-c', c);
    const check = (): PluginRun => run('CHECK', withPrev(conf, res), 'ctr-c', c);
    expect(check().status).toBe(0);
    sh('ip', ['-n', c.name, 'route', 'del', 'default']);
    expect(check().json.msg).toBe('Failed to match route 0.0.0.0/0 via 10.77.0.1 on interface eth0');
    sh('ip', ['-n', c.name, 'addr', 'del', '10.77.0.2/24', 'dev', 'eth0']);
    expect(check().json.msg).toBe('Failed to match addr 10.77.0.2/24 on interface eth0');
    sh('ip', ['-n', c.name, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    sh('ip', ['-n', c.name, 'route', 'add', 'default', 'via', '10.77.0.1']);
    expect(check().status).toBe(0);
    // Masquerade is checked too (the reference does not): remove the rules, CHECK names them, ADD's rules restored by DEL+ADD.
    const chain = masqState().ipt.find((l) => l.startsWith(':'))!.split(' ')[0]!.slice(1);
    const saved = hostExec('iptables-save', ['-t', 'nat']);
    net.exec(net.host, 'iptables', ['-t', 'nat', '-F', 'POSTROUTING']);
    expect(check().json.msg).toMatch(new RegExp(`IP masquerade for ctr-c is missing: IPv4 \\(no iptables chain ${chain}`));
    expect(net.exec(net.host, 'iptables-restore', [], saved).status).toBe(0);
    expect(check().status).toBe(0);
    sh('ip', ['-n', net.host, 'link', 'del', res.interfaces[1].name]);
    expect(check().json.msg).toMatch(/CNI created interface in container eth0 not found/);
    expect(run('CHECK', conf, 'ctr-c', c).json.msg).toBe('Required prevResult missing');
    expect(run('DEL', conf, 'ctr-c', c).status).toBe(0);
  });

  it('bad inputs: the right error, nothing created', () => {
    start('brb');
    const c = net.addContainer();
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ isGateway: 'yes' }, 7, /"isGateway" must be true or false/],
      [{ mtu: 70000 }, 7, /"mtu" is 70000, above the maximum 65535/],
      [{ bridge: 'bridge-name-16ch' }, 7, /"bridge" "bridge-name-16ch" is not a valid interface name/],
      [{ hairpinMode: true, promiscMode: true }, 7, /cannot set hairpin mode and promiscuous mode/],
      [{ vlan: 5000 }, 7, /invalid VLAN ID 5000/],
      [{ vlanTrunk: [{ minID: 4, maxID: 2 }] }, 7, /minID is greater than maxID/],
    ];
    for (const [over, code, msg] of cases) {
      const r = run('ADD', mkConf(over), 'ctr-b', c);
      expect(r.status).toBe(1);
      expect(r.json.code).toBe(code);
      expect(r.json.msg).toMatch(msg);
    }
    const l2old = run('ADD', { cniVersion: '0.2.0', name: 'l2', type: 'bridge', bridge: BR }, 'ctr-b', c);
    expect(l2old.json.code).toBe(1);
    expect(l2old.json.msg).toMatch(/cannot convert: no valid IP addresses/);
    expect(net.ipJson(net.host, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
    expect(net.ipJson(c.name, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
    expect(existsSync(join(dataDir, 'brnet'))).toBe(false);
    // A non-bridge link with the bridge's name is refused.
    sh('ip', ['-n', net.host, 'link', 'add', BR, 'type', 'veth', 'peer', 'name', 'p0']);
    const nb = run('ADD', mkConf(), 'ctr-b', c);
    expect(nb.json.msg).toBe(`"${BR}" already exists but is not a bridge`);
    expect(leases()).toEqual([]);
  });

  it('VLAN on a kernel without bridge VLAN filtering fails naming the feature, nothing left', () => {
    start('brv');
    const probe = sh('ip', ['-n', net.host, 'link', 'add', 'vprobe', 'type', 'bridge', 'vlan_filtering', '1']);
    if (probe.status === 0) return; // the VM test covers kernels that have it
    const c = net.addContainer();
    for (const over of [{ vlan: 10 }, { vlanTrunk: [{ id: 20 }] }]) {
      const r = run('ADD', mkConf(over), 'ctr-v', c);
      expect(r.status).toBe(1);
      expect(r.json.msg).toMatch(/bridge VLAN filtering \(CONFIG_BRIDGE_VLAN_FILTERING\)/);
      expectNothingLeft();
    }
    // An existing bridge is refused the same way.
    addOk(mkConf(), 'ctr-ok', c);
    const c2 = net.addContainer();
    const r = run('ADD', mkConf({ vlan: 10 }), 'ctr-v', c2);
    expect(r.json.msg).toMatch(/VLAN filtering/);
    expect(hostVeths()).toHaveLength(1);
    expect(leases()).toHaveLength(1);
  });

  it('L2 mode, MAC from CNI_ARGS / args.cni / runtimeConfig, mtu, hairpin, isolation, macspoofchk, dns override', () => {
    start('brl');
    const c1 = net.addContainer();
    const l2 = addOk({ cniVersion: '1.0.0', name: 'l2', type: 'bridge', bridge: BR, mtu: 1400, hairpinMode: true, portIsolation: true }, 'ctr-l2', c1, {
      args: 'IgnoreUnknown=1;MAC=02:aa:bb:cc:dd:01;K8S_POD_NAME=x',
    });
    expect(l2.ips).toBeUndefined();
    expect(l2.interfaces[2].mac).toBe('02:aa:bb:cc:dd:01');
    const link = net.ipJson(c1.name, ['link', 'show', 'eth0'])[0];
    expect(link.flags).toContain('UP');
    expect(link.mtu).toBe(1400);
    expect(link.address).toBe('02:aa:bb:cc:dd:01');
    const port = net.ipJson(net.host, ['-d', 'link', 'show', l2.interfaces[1].name])[0];
    expect(port.linkinfo.info_slave_data).toMatchObject({ hairpin: true, isolated: true });

    const cd = net.addContainer();
    addOk({ cniVersion: '1.0.0', name: 'l2', type: 'bridge', bridge: BR, promiscMode: true, disableContainerInterface: true }, 'ctr-down', cd);
    expect(net.ipJson(cd.name, ['link', 'show', 'eth0'])[0].flags).not.toContain('UP');
    expect(net.ipJson(net.host, ['link', 'show', BR])[0].flags).toContain('PROMISC');

    const c2 = net.addContainer();
    const conf = mkConf({
      macspoofchk: true,
      dns: { nameservers: ['10.77.0.53'] },
      args: { cni: { mac: '02:aa:bb:cc:dd:02' } },
      runtimeConfig: { mac: '02:aa:bb:cc:dd:03' },
    });
    const r = addOk(conf, 'ctr-s', c2);
    expect(r.interfaces[2].mac).toBe('02:aa:bb:cc:dd:03');
    expect(r.dns).toEqual({ nameservers: ['10.77.0.53'] });
    const nft = hostExec('nft', ['list', 'table', 'bridge', 'nat']);
    expect(nft).toContain(`iifname "${r.interfaces[1].name}" jump cni-br-iface-ctr-s-eth0 comment "macspoofchk-ctr-s-eth0"`);
    expect(nft).toContain('ether saddr 02:aa:bb:cc:dd:03 return');
    expect(ping(c2.name, '10.77.0.1')).toBe(true);
    // A spoofed source MAC is dropped.
    sh('ip', ['-n', c2.name, 'link', 'set', 'eth0', 'address', '02:aa:bb:cc:dd:99']);
    sh('ip', ['-n', c2.name, 'neigh', 'flush', 'all']);
    expect(ping(c2.name, '10.77.0.1')).toBe(false);
    expect(run('DEL', conf, 'ctr-s', c2).status).toBe(0);
    expect(hostExec('nft', ['list', 'table', 'bridge', 'nat'])).not.toContain('cni-br-iface-ctr-s-eth0');
  });

  it('enabledad: DAD on in the container, IPv6 routes added once the address settled', () => {
    start('brdad');
    const c = net.addContainer();
    const conf = mkConf({ isDefaultGateway: true, enabledad: true, ipam: { type: 'host-local', ranges: [[{ subnet: 'fd79::/64' }]], dataDir } });
    const r = addOk(conf, 'ctr-dad', c);
    expect(r.routes).toEqual([{ dst: '::/0', gw: 'fd79::1' }]);
    expect(net.exec(c.name, 'cat', ['/proc/sys/net/ipv6/conf/eth0/accept_dad']).stdout.trim()).toBe('1');
    const addr = (net.ipJson(c.name, ['-6', 'addr', 'show', 'dev', 'eth0'])[0].addr_info as any[]).find((a) => a.local === 'fd79::2');
    expect(addr.tentative).toBeUndefined();
    expect(net.ipJson(c.name, ['-6', 'route', 'show', 'default'])[0].gateway).toBe('fd79::1');
    expect(run('DEL', conf, 'ctr-dad', c).status).toBe(0);
    expectNothingLeft();
  });

  it('works with a netns given as /proc/<pid>/ns/net (not under /run/netns)', async () => {
    start('brpid');
    const c = net.addContainer();
    await withPidNetns(c.name, (path) => {
      const conf = mkConf();
      const r = addOk(conf, 'ctr-pid', { name: c.name, path });
      expect(r.interfaces[2].sandbox).toBe(path);
      expect(addressesOf(c.name, 'eth0')).toContain('10.77.0.2/24');
      expect(run('CHECK', withPrev(conf, r), 'ctr-pid', { path }).status).toBe(0);
      expect(run('DEL', conf, 'ctr-pid', { path }).status).toBe(0);
      expect(net.ipJson(c.name, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
      expectNothingLeft();
    });
  });

  it('concurrent ADDs onto a bridge that does not exist yet all succeed', async () => {
    start('brp');
    const cs = [0, 1, 2, 3].map(() => net.addContainer());
    const conf = mkConf();
    const rs = await Promise.all(cs.map((c, i) => net.runAsync({ plugin: bin('bridge'), command: 'ADD', conf, containerId: `p${i}`, netns: c.path, ifname: 'eth0', path: CNI_PATH })));
    for (const r of rs) expect(r.status, r.stdout).toBe(0);
    expect(new Set(rs.map((r) => r.json.ips[0].address)).size).toBe(4);
    expect(ping(cs[0]!.name, rs[3]!.json.ips[0].address.split('/')[0])).toBe(true);
  });
});

describe.skipIf(!isRoot || !haveGoPlugins)('bridge vs the Go reference bridge', () => {
  let go: TestNet | undefined;
  afterEach(() => go?.cleanup());

  for (const version of ['0.2.0', '0.3.1', '0.4.0', '1.0.0']) {
    it(`same result and host state as /usr/lib/cni/bridge at ${version} (dual-stack, default gw, masquerade, hairpin)`, () => {
      start('bre');
      go = new TestNet('bgo');
      const goData = go.tempDir();
      const c = net.addContainer();
      const cg = go.addContainer();
      const base = {
        cniVersion: version,
        name: 'diffnet',
        type: 'bridge',
        bridge: BR,
        isDefaultGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd78::/64' }]], routes: [{ dst: '192.168.0.0/16' }] },
      };
      const ours = run('ADD', { ...base, ipam: { ...base.ipam, dataDir } }, 'diff1', c);
      const theirs = go.run({ plugin: goBin('bridge'), command: 'ADD', conf: { ...base, ipam: { ...base.ipam, dataDir: goData } }, containerId: 'diff1', netns: cg.path, ifname: 'eth0', path: GO_PLUGINS });
      expect(ours.status, ours.stdout).toBe(0);
      expect(theirs.status, theirs.stdout).toBe(0);
      expect(normResult(ours.json)).toEqual(normResult(theirs.json));
      // Same host state: bridge addresses, masquerade rules, container addresses and routes.
      const global = (a: string[]): string[] => a.filter((x) => !x.startsWith('fe80:')).sort();
      expect(global(addressesOf(net.host, BR))).toEqual(global(addressesOf(go.host, BR)));
      const nat = (t: TestNet): string[] =>
        ['iptables-save', 'ip6tables-save'].flatMap((tool) => t.exec(t.host, tool, ['-t', 'nat']).stdout.split('\n').filter((l) => l.includes('CNI-')));
      expect(nat(net)).toEqual(nat(go));
      const routes = (t: TestNet, ns: string): string[] =>
        ['-4', '-6'].flatMap((f) => (t.ipJson(ns, [f, 'route', 'show']) as any[]).map((r) => `${r.dst} ${r.gateway ?? ''}`)).sort();
      expect(routes(net, c.name)).toEqual(routes(go, cg.name));
      expect(global(addressesOf(c.name, 'eth0'))).toEqual(global(addressesOf(cg.name, 'eth0')));
      const port = (t: TestNet, veth: string): unknown => t.ipJson(t.host, ['-d', 'link', 'show', veth])[0].linkinfo.info_slave_data.hairpin;
      if (ours.json.interfaces) expect(port(net, ours.json.interfaces[1].name)).toBe(port(go, theirs.json.interfaces[1].name));
    });
  }

  it('a container re-created with the same address announces its new MAC: a peer that cached the old one updates at once (the Go 1.1.1 bridge leaves it: containernetworking/plugins#858)', () => {
    start('brga');
    go = new TestNet('bgga');
    const goData = go.tempDir();
    const sides = [
      { t: net, plugin: bin('bridge'), path: CNI_PATH, data: dataDir },
      { t: go, plugin: goBin('bridge'), path: GO_PLUGINS, data: goData },
    ].map((s) => ({ ...s, peer: s.t.addContainer(), ctr: s.t.addContainer() }));
    const entry = (s: (typeof sides)[number]): string | undefined => (s.t.ipJson(s.peer.name, ['neigh', 'show', '10.79.0.20', 'dev', 'eth0']) as any[])[0]?.lladdr;
    const macOf = (s: (typeof sides)[number]): string => s.t.ipJson(s.ctr.name, ['link', 'show', 'eth0'])[0].address;
    const conf = (s: (typeof sides)[number]): unknown => mkConf({ isGateway: false, ipMasq: false, ipam: { type: 'host-local', subnet: '10.79.0.0/24', dataDir: s.data } });
    const add = (s: (typeof sides)[number], cid: string, ip: string, c: Ctr): void => {
      const r = s.t.run({ plugin: s.plugin, command: 'ADD', conf: conf(s), containerId: cid, netns: c.path, ifname: 'eth0', path: s.path, args: `IgnoreUnknown=1;IP=${ip}` });
      expect(r.status, r.stdout).toBe(0);
    };
    const del = (s: (typeof sides)[number], cid: string, c: Ctr): void => {
      expect(s.t.run({ plugin: s.plugin, command: 'DEL', conf: conf(s), containerId: cid, netns: c.path, ifname: 'eth0', path: s.path }).status).toBe(0);
    };
    const after = sides.map((s) => {
      add(s, 'peer', '10.79.0.10', s.peer);
      add(s, 'old', '10.79.0.20', s.ctr);
      expect(ping(s.peer.name, '10.79.0.20')).toBe(true);
      const oldMac = macOf(s);
      expect(entry(s)).toBe(oldMac); // the peer has the address cached (REACHABLE)
      del(s, 'old', s.ctr);
      add(s, 'new', '10.79.0.20', s.ctr); // a new veth: a new MAC, the same address
      const newMac = macOf(s);
      expect(newMac).not.toBe(oldMac);
      return { oldMac, newMac, cached: entry(s) };
    });
    // checked right after ADD returned: no traffic from the peer in between
    expect(after[0]!.cached).toBe(after[0]!.newMac);
    expect(ping(sides[0]!.peer.name, '10.79.0.20')).toBe(true);
    expect(after[1]!.cached).toBe(after[1]!.oldMac);
    for (const s of sides) {
      del(s, 'new', s.ctr);
      del(s, 'peer', s.peer);
    }
  });

  it('swap: ADD with Go, DEL with ours — and ADD with ours, DEL with Go — leave no veth, rule or lease', () => {
    start('brs');
    const c = net.addContainer();
    const conf = mkConf({ cniVersion: '0.4.0', ipam: { type: 'host-local', ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]], dataDir } });
    const goAdd = net.run({ plugin: goBin('bridge'), command: 'ADD', conf, containerId: 'sw1', netns: c.path, ifname: 'eth0', path: GO_PLUGINS });
    expect(goAdd.status, goAdd.stdout).toBe(0);
    expect(masqState().ipt.length).toBeGreaterThan(0);
    expect(run('DEL', withPrev(conf, goAdd.json), 'sw1', c).status).toBe(0);
    expectNothingLeft();

    const ours = addOk(conf, 'sw2', c);
    expect(masqState().ipt.length).toBeGreaterThan(0);
    const goDel = net.run({ plugin: goBin('bridge'), command: 'DEL', conf: withPrev(conf, ours), containerId: 'sw2', netns: c.path, ifname: 'eth0', path: GO_PLUGINS });
    expect(goDel.status, goDel.stdout).toBe(0);
    expectNothingLeft();
  });
});
