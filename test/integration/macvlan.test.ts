import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, GO_PLUGINS, TestNet, bin, goBin, haveGoPlugins, isRoot, ping, sh, shOk, type Invocation } from '../helpers/harness.js';

// Our host-local once it is built, the Go one until then (ours first).
const CNI_PATH = `${DIST}:${GO_PLUGINS}`;
const NET = 'mvnet';

/** A test net whose host netns has a veth pair m0/m0p (both up): m0 is the macvlan master. */
function setup(label = 'mv'): TestNet {
  const net = new TestNet(label);
  shOk('ip', ['-n', net.host, 'link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm0p']);
  shOk('ip', ['-n', net.host, 'link', 'set', 'm0', 'up']);
  shOk('ip', ['-n', net.host, 'link', 'set', 'm0p', 'up']);
  return net;
}

function conf(dataDir: string, extra: Record<string, unknown> = {}): Record<string, any> {
  return {
    cniVersion: '1.0.0',
    name: NET,
    type: 'macvlan',
    master: 'm0',
    dns: { nameservers: ['10.78.0.53'] },
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.0.0/24', gateway: '10.78.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
    ...extra,
  };
}

/** IP lease files host-local keeps for our network. */
const leases = (dataDir: string): string[] => {
  const d = join(dataDir, NET);
  return existsSync(d) ? readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
};

const links = (net: TestNet, ns: string): string[] => net.ipJson(ns, ['link', 'show']).map((l: any) => l.ifname);
const detail = (net: TestNet, ns: string, ifname = 'eth0'): any => net.ipJson(ns, ['-d', 'link', 'show', 'dev', ifname])[0];

describe.skipIf(!isRoot)('macvlan', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  const inv = (c: { path: string }, containerId: string, config: unknown, extra: Partial<Invocation> = {}): Omit<Invocation, 'hostNetns' | 'command'> => ({
    plugin: bin('macvlan'),
    conf: config,
    containerId,
    netns: c.path,
    ifname: 'eth0',
    path: CNI_PATH,
    ...extra,
  });

  for (const noFfi of [false, true]) {
    it(`ADD ${noFfi ? 'in two ip execs (CNI_TS_NO_FFI=1: create, then configure)' : 'without any exec (one ip batch run in-process over rtnetlink: created in the container on the host master)'}: same link, addresses, routes and sysctls; the container's defaults untouched`, () => {
      net = setup();
      const dataDir = net.tempDir();
      const a = net.addContainer('a');
      const trace = join(dataDir, 'trace');
      const sysctl = (k: string) => net.exec(a.name, 'cat', [`/proc/sys/${k}`]).stdout.trim();
      const defaultsBefore = ['net/ipv4/conf/default/arp_notify', 'net/ipv6/conf/default/ndisc_notify'].map(sysctl);
      const env = { CNI_TS_TRACE: trace, ...(noFfi ? { CNI_TS_NO_FFI: '1' } : {}) };
      const add = net.run({ ...inv(a, 'c1', conf(dataDir, { ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.0.0/24', gateway: '10.78.0.1' }], [{ subnet: 'fd78::/64' }]], routes: [{ dst: '0.0.0.0/0' }] } }), { env }), command: 'ADD' });
      expect(add.status, add.stdout).toBe(0);
      const steps = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string);
      expect(steps.filter((w) => w.startsWith('exec '))).toHaveLength(noFfi ? 4 : 0); // ip link add, flock, nsenter sysctl, ip -batch
      expect(steps.filter((w) => w.startsWith('netlink ip'))).toHaveLength(noFfi ? 0 : 1);
      const link = detail(net, a.name);
      expect(link.linkinfo.info_kind).toBe('macvlan');
      expect(link.linkinfo.info_data.mode).toBe('bridge');
      expect(add.json.interfaces[0].mac).toBe(link.address);
      expect(net.ipJson(a.name, ['addr', 'show', 'dev', 'eth0'])[0].addr_info.filter((x: any) => x.scope === 'global').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual(['10.78.0.2/24', 'fd78::2/64']);
      expect(net.ipJson(a.name, ['route', 'show', 'default'])[0]).toMatchObject({ gateway: '10.78.0.1', dev: 'eth0' });
      expect(sysctl('net/ipv4/conf/eth0/arp_notify')).toBe('1');
      expect(sysctl('net/ipv6/conf/eth0/ndisc_notify')).toBe('1');
      expect(sysctl('net/ipv6/conf/eth0/keep_addr_on_down')).toBe('1');
      expect(['net/ipv4/conf/default/arp_notify', 'net/ipv6/conf/default/ndisc_notify'].map(sysctl)).toEqual(defaultsBefore);
      expect(links(net, a.name)).toEqual(['lo', 'eth0']);
      const delTrace = join(dataDir, 'del-trace');
      const del = net.run({ ...inv(a, 'c1', conf(dataDir), { env: { ...env, CNI_TS_TRACE: delTrace } }), command: 'DEL' });
      expect(del.status, del.stdout).toBe(0);
      const delSteps = readFileSync(delTrace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string);
      // with the FFI the link is deleted by one rtnetlink request from the process itself, no `ip`
      expect(delSteps.filter((w) => w.startsWith('exec '))).toHaveLength(noFfi ? 2 : 0); // flock, ip
      expect(delSteps.includes('netlink ip link del dev eth0')).toBe(!noFfi);
      expect(links(net, a.name)).toEqual(['lo']);
      expect(leases(dataDir)).toEqual([]);
      const again = net.run({ ...inv(a, 'c1', conf(dataDir), { env }), command: 'DEL' });
      expect(again.status, again.stdout).toBe(0);
    });
  }

  it('bridge mode: two containers get addresses, reach each other, CHECK passes, DEL removes links and leases (twice)', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir);
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    const addA = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(addA.status, addA.stdout).toBe(0);
    const addB = net.run({ ...inv(b, 'cb', cfg), command: 'ADD' });
    expect(addB.status, addB.stdout).toBe(0);

    const link = detail(net, a.name);
    expect(addA.json.interfaces).toEqual([{ name: 'eth0', mac: link.address, sandbox: a.path }]);
    expect(addA.json.ips).toEqual([{ interface: 0, address: '10.78.0.2/24', gateway: '10.78.0.1' }]);
    expect(addA.json.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(addA.json.dns).toEqual({ nameservers: ['10.78.0.53'] });
    expect(link.linkinfo.info_kind).toBe('macvlan');
    expect(link.linkinfo.info_data.mode).toBe('bridge');
    expect(link.flags).toContain('UP');
    expect(net.exec(a.name, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('1');
    expect(net.exec(a.name, 'cat', ['/proc/sys/net/ipv6/conf/eth0/ndisc_notify']).stdout.trim()).toBe('1');
    expect(net.ipJson(a.name, ['route', 'show', 'default'])[0]).toMatchObject({ gateway: '10.78.0.1', dev: 'eth0' });
    // No temporary name left in the container, nothing new in the host netns.
    expect(links(net, a.name)).toEqual(['lo', 'eth0']);
    expect(links(net, net.host).sort()).toEqual(['lo', 'm0', 'm0p']);

    expect(ping(a.name, '10.78.0.3')).toBe(true);
    expect(ping(b.name, '10.78.0.2')).toBe(true);

    const check = net.run({ ...inv(a, 'ca', { ...cfg, prevResult: addA.json }), command: 'CHECK' });
    expect(check.status, check.stdout).toBe(0);

    for (const [c, id, res] of [[a, 'ca', addA], [b, 'cb', addB]] as const) {
      for (let i = 0; i < 2; i++) {
        const del = net.run({ ...inv(c, id, { ...cfg, prevResult: res.json }), command: 'DEL' });
        expect(del.status, del.stdout).toBe(0);
      }
      expect(links(net, c.name)).toEqual(['lo']);
    }
    expect(leases(dataDir)).toEqual([]);
  });

  it('private mode isolates two containers on the same master', () => {
    net = setup();
    const cfg = conf(net.tempDir(), { mode: 'private' });
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'ADD' }).status).toBe(0);
    expect(net.run({ ...inv(b, 'cb', cfg), command: 'ADD' }).status).toBe(0);
    expect(detail(net, a.name).linkinfo.info_data.mode).toBe('private');
    expect(ping(a.name, '10.78.0.3')).toBe(false);
    // The same pair in bridge mode does talk (so the failure above is the mode, not the setup).
    const c2 = conf(net.tempDir(), { name: 'mvnet', mode: 'bridge', ipam: { ...cfg.ipam, dataDir: net.tempDir(), ranges: [[{ subnet: '10.79.0.0/24' }]] } });
    const [c, d] = [net.addContainer('c'), net.addContainer('d')];
    expect(net.run({ ...inv(c, 'cc', c2), command: 'ADD' }).status).toBe(0);
    expect(net.run({ ...inv(d, 'cd', c2), command: 'ADD' }).status).toBe(0);
    expect(ping(c.name, '10.79.0.3')).toBe(true);
  });

  it('passthru on a fresh master; a second passthru on it fails cleanly', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir, { mode: 'passthru' });
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    const add = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(detail(net, a.name).linkinfo.info_data.mode).toBe('passthru');
    expect(net.run({ ...inv(a, 'ca', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
    const second = net.run({ ...inv(b, 'cb', cfg), command: 'ADD' });
    expect(second.status).toBe(1);
    expect(second.json.msg).toMatch(/failed to create macvlan/);
    expect(links(net, b.name)).toEqual(['lo']);
    expect(leases(dataDir)).toEqual(['10.78.0.2']);
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'DEL' }).status).toBe(0);
    expect(leases(dataDir)).toEqual([]);
  });

  it('L2 only (no ipam, or an empty one), MAC from CNI_ARGS / runtimeConfig, mtu and bcqueuelen', () => {
    net = setup();
    const a = net.addContainer('a');
    const l2 = { cniVersion: '1.0.0', name: NET, type: 'macvlan', master: 'm0', mtu: 1400 };
    const add = net.run({ ...inv(a, 'ca', l2, { args: 'IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:AA:bb:cc:dd:01' }), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(add.json.interfaces).toEqual([{ name: 'eth0', mac: '02:aa:bb:cc:dd:01', sandbox: a.path }]);
    expect(add.json.ips).toBeUndefined();
    const link = detail(net, a.name);
    expect(link).toMatchObject({ address: '02:aa:bb:cc:dd:01', mtu: 1400 });
    expect(link.flags).toContain('UP');
    expect(net.run({ ...inv(a, 'ca', { ...l2, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
    expect(net.run({ ...inv(a, 'ca', l2), command: 'DEL' }).status).toBe(0);

    const b = net.addContainer('b');
    const rc = { ...l2, ipam: {}, bcqueuelen: 100, runtimeConfig: { mac: '02:aa:bb:cc:dd:02' }, args: { cni: { mac: '02:aa:bb:cc:dd:03' } } };
    const add2 = net.run({ ...inv(b, 'cb', rc, { args: 'MAC=02:aa:bb:cc:dd:04' }), command: 'ADD' });
    expect(add2.status, add2.stdout).toBe(0);
    expect(detail(net, b.name)).toMatchObject({ address: '02:aa:bb:cc:dd:02', linkinfo: { info_data: { bcqueuelen: 100 } } });

    for (const mode of ['vepa', 'source']) {
      const c = net.addContainer(mode);
      const r = net.run({ ...inv(c, mode, { ...l2, mode }), command: 'ADD' });
      expect(r.status, r.stdout).toBe(0);
      expect(detail(net, c.name).linkinfo.info_data.mode).toBe(mode);
      expect(net.run({ ...inv(c, mode, { ...l2, mode, prevResult: r.json }), command: 'CHECK' }).status).toBe(0);
    }
  });

  it('master defaults to the default-route interface; without a default route ADD fails and leaves nothing', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir);
    delete cfg.master;
    const a = net.addContainer('a');
    const none = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(none.status).toBe(1);
    expect(none.json).toMatchObject({ code: 999, msg: 'no default route interface found: set "master"' });
    expect(links(net, a.name)).toEqual(['lo']);
    expect(leases(dataDir)).toEqual([]);

    shOk('ip', ['-n', net.host, 'addr', 'add', '10.78.0.254/24', 'dev', 'm0']);
    shOk('ip', ['-n', net.host, 'route', 'add', 'default', 'via', '10.78.0.1', 'dev', 'm0']);
    const add = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    const m0 = net.ipJson(net.host, ['link', 'show', 'dev', 'm0'])[0];
    expect(detail(net, a.name).link_index).toBe(m0.ifindex);
    expect(net.run({ ...inv(a, 'ca', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
    // DEL needs neither the default route nor the master.
    shOk('ip', ['-n', net.host, 'route', 'del', 'default']);
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'DEL' }).status).toBe(0);
    expect(links(net, a.name)).toEqual(['lo']);
    expect(leases(dataDir)).toEqual([]);
  });

  it('linkInContainer: the master lives in the container netns', () => {
    net = setup();
    const a = net.addContainer('a');
    shOk('ip', ['-n', a.name, 'link', 'add', 'cm0', 'type', 'veth', 'peer', 'name', 'cm0p']);
    shOk('ip', ['-n', a.name, 'link', 'set', 'cm0', 'up']);
    const cfg = conf(net.tempDir(), { master: 'cm0', linkInContainer: true });
    const add = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    const link = detail(net, a.name);
    expect(link.linkinfo.info_kind).toBe('macvlan');
    expect(link.link).toBe('cm0');
    expect(net.run({ ...inv(a, 'ca', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'DEL' }).status).toBe(0);
    expect(links(net, a.name).sort()).toEqual(['cm0', 'cm0p', 'lo']);
  });

  it('bad inputs: precise error, no link and no lease left', () => {
    net = setup();
    const dataDir = net.tempDir();
    const a = net.addContainer('a');
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ mode: 'bogus' }, 7, /^unknown macvlan mode: "bogus"$/],
      [{ mtu: 9000 }, 7, /^invalid MTU 9000, must be \[0, master MTU\(1500\)\]$/],
      [{ mtu: -1 }, 7, /"mtu" is -1, below the minimum 0/],
      [{ master: 'nosuch0' }, 999, /^failed to lookup master "nosuch0" in host netns: Link not found$/],
      [{ mac: 'zz' }, 7, /"mac" is not a MAC address/],
    ];
    for (const [extra, code, msg] of cases) {
      const r = net.run({ ...inv(a, 'ca', conf(dataDir, extra)), command: 'ADD' });
      expect(r.status, JSON.stringify(extra)).toBe(1);
      expect(r.json.code, r.stdout).toBe(code);
      expect(r.json.msg, r.stdout).toMatch(msg);
    }
    const badArgs = net.run({ ...inv(a, 'ca', conf(dataDir), { args: 'MAC=nope' }), command: 'ADD' });
    expect(badArgs.json.msg).toBe('invalid MAC address "nope" in CNI_ARGS MAC');
    expect(links(net, a.name)).toEqual(['lo']);

    // ifname taken: IPAM ran, so its lease must be released again, and the temporary link removed.
    shOk('ip', ['-n', a.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other']);
    const taken = net.run({ ...inv(a, 'ca', conf(dataDir)), command: 'ADD' });
    expect(taken.status).toBe(1);
    expect(taken.json).toMatchObject({ code: 999, msg: 'failed to rename macvlan to "eth0": file exists' });
    expect(links(net, a.name).sort()).toEqual(['eth0', 'lo', 'other']);
    expect(detail(net, a.name).linkinfo.info_kind).toBe('veth');
    expect(leases(dataDir)).toEqual([]);
    expect(links(net, net.host).sort()).toEqual(['lo', 'm0', 'm0p']);
  });

  it('a failure after the rename (route via an unreachable gateway) removes eth0 and releases the lease', () => {
    net = setup();
    const dataDir = net.tempDir();
    const a = net.addContainer('a');
    const cfg = conf(dataDir);
    cfg.ipam.routes = [{ dst: '10.200.0.0/16', gw: '10.250.0.1' }];
    const r = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(r.status).toBe(1);
    expect(r.json.msg).toBe('failed to configure eth0 in ' + a.path);
    expect(r.json.details).toMatch(/route add 10.200.0.0\/16 via 10.250.0.1 dev eth0/);
    expect(links(net, a.name)).toEqual(['lo']);
    expect(leases(dataDir)).toEqual([]);
  });

  it('dual-stack: IPv4 and IPv6 addresses, v6 enabled on the link, containers reach each other over both', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir);
    cfg.ipam.ranges = [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd00:78::/64' }]];
    cfg.ipam.routes = [];
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    for (const c of [a, b]) net.exec(c.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const add = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(net.run({ ...inv(b, 'cb', cfg), command: 'ADD' }).status).toBe(0);
    expect(add.json.ips.map((i: any) => i.address)).toEqual(['10.78.0.2/24', 'fd00:78::2/64']);
    expect(net.exec(a.name, 'cat', ['/proc/sys/net/ipv6/conf/eth0/disable_ipv6']).stdout.trim()).toBe('0');
    expect(ping(a.name, '10.78.0.3')).toBe(true);
    let v6 = false;
    for (let i = 0; i < 5 && !v6; i++) v6 = ping(a.name, 'fd00:78::3'); // DAD may still run for a moment
    expect(v6).toBe(true);
    expect(net.run({ ...inv(a, 'ca', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
  });

  it('DEL succeeds when the netns is gone or CNI_NETNS is empty, and still releases the lease', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir);
    const a = net.addContainer('a');
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'ADD' }).status).toBe(0);
    expect(leases(dataDir)).toEqual(['10.78.0.2']);
    net.removeNetns(a.name);
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'DEL' }).status).toBe(0);
    expect(leases(dataDir)).toEqual([]);
    expect(net.run({ ...inv(a, 'ca', cfg, { netns: '' }), command: 'DEL' }).status).toBe(0);
    // No master, no default route: still fine.
    expect(net.run({ ...inv(a, 'ca', { ...cfg, master: undefined }), command: 'DEL' }).status).toBe(0);
  });

  it('CHECK reports a wrong mode, a changed MAC and a missing address', () => {
    net = setup();
    const cfg = conf(net.tempDir());
    const a = net.addContainer('a');
    const add = net.run({ ...inv(a, 'ca', cfg), command: 'ADD' });
    expect(add.status).toBe(0);
    const check = (c: unknown) => net.run({ ...inv(a, 'ca', c), command: 'CHECK' });
    expect(check({ ...cfg, mode: 'vepa', prevResult: add.json }).json.msg).toBe('container macvlan mode bridge does not match expected value: vepa');
    const otherMac = { ...add.json, interfaces: [{ ...add.json.interfaces[0], mac: '02:00:00:00:00:99' }] };
    expect(check({ ...cfg, prevResult: otherMac }).json.msg).toMatch(/^interface eth0 Mac 02:00:00:00:00:99 doesn't match container Mac/);
    expect(check({ ...cfg }).json.msg).toBe('required prevResult missing');
    shOk('ip', ['-n', a.name, 'addr', 'del', '10.78.0.2/24', 'dev', 'eth0']);
    expect(check({ ...cfg, prevResult: add.json }).json.msg).toBe('Failed to match addr 10.78.0.2/24 on interface eth0');
  });

  it.skipIf(!haveGoPlugins)('gives the same result as the Go macvlan (modulo MAC and sandbox)', () => {
    net = setup();
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    for (const version of ['1.0.0', '0.4.0', '0.3.1']) {
      const cfgOurs = conf(net.tempDir(), { cniVersion: version });
      const cfgGo = { ...cfgOurs, ipam: { ...cfgOurs.ipam, dataDir: net.tempDir() } };
      const ours = net.run({ ...inv(a, `o${version}`, cfgOurs), command: 'ADD' });
      const go = net.run({ ...inv(b, `g${version}`, cfgGo, { plugin: goBin('macvlan'), path: GO_PLUGINS }), command: 'ADD' });
      expect(ours.status, ours.stdout).toBe(0);
      expect(go.status, go.stdout).toBe(0);
      const norm = (j: any) => ({ ...j, interfaces: j.interfaces.map((i: any) => ({ ...i, mac: 'M', sandbox: 'S' })) });
      expect(norm(ours.json)).toEqual(norm(go.json));
      expect(net.run({ ...inv(a, `o${version}`, cfgOurs), command: 'DEL' }).status).toBe(0);
      expect(net.run({ ...inv(b, `g${version}`, cfgGo, { plugin: goBin('macvlan'), path: GO_PLUGINS }), command: 'DEL' }).status).toBe(0);
    }
  });

  it.skipIf(!haveGoPlugins)('swap with the Go macvlan: ADD with one, CHECK and DEL with the other leaves nothing', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir);
    const a = net.addContainer('a');
    const pairs: Array<[string, string]> = [
      [bin('macvlan'), goBin('macvlan')],
      [goBin('macvlan'), bin('macvlan')],
    ];
    for (const [adder, deleter] of pairs) {
      const add = net.run({ ...inv(a, 'cs', cfg, { plugin: adder }), command: 'ADD' });
      expect(add.status, add.stdout).toBe(0);
      const check = net.run({ ...inv(a, 'cs', { ...cfg, prevResult: add.json }, { plugin: deleter }), command: 'CHECK' });
      expect(check.status, check.stdout).toBe(0);
      const del = net.run({ ...inv(a, 'cs', { ...cfg, prevResult: add.json }, { plugin: deleter }), command: 'DEL' });
      expect(del.status, del.stdout).toBe(0);
      expect(links(net, a.name)).toEqual(['lo']);
      expect(leases(dataDir)).toEqual([]);
      expect(links(net, net.host).sort()).toEqual(['lo', 'm0', 'm0p']);
    }
  });

  it.skipIf(!existsSync(bin('host-local')))('STATUS and GC (1.1.0) are delegated to the IPAM plugin', () => {
    net = setup();
    const dataDir = net.tempDir();
    const cfg = conf(dataDir, { cniVersion: '1.1.0' });
    const [a, b] = [net.addContainer('a'), net.addContainer('b')];
    expect(net.run({ ...inv(a, 'ca', cfg), command: 'ADD' }).status).toBe(0);
    expect(net.run({ ...inv(b, 'cb', cfg), command: 'ADD' }).status).toBe(0);
    const status = net.run({ ...inv(a, '', cfg, { containerId: undefined, netns: undefined, ifname: undefined }), command: 'STATUS' });
    expect(status.status, status.stdout).toBe(0);
    const gcConf = { ...cfg, 'cni.dev/valid-attachments': [{ containerID: 'ca', ifname: 'eth0' }] };
    const gc = net.run({ ...inv(a, '', gcConf, { containerId: undefined, netns: undefined, ifname: undefined }), command: 'GC' });
    expect(gc.status, gc.stdout).toBe(0);
    expect(leases(dataDir)).toEqual(['10.78.0.2']);
  });

  it('works with a CNI_NETNS path outside /run/netns', () => {
    net = setup();
    const a = net.addContainer('a');
    const dir = net.tempDir();
    const path = join(dir, 'ns');
    shOk('touch', [path]);
    shOk('mount', ['--bind', `/run/netns/${a.name}`, path]);
    try {
      const cfg = conf(net.tempDir());
      const add = net.run({ ...inv({ path }, 'cp', cfg), command: 'ADD' });
      expect(add.status, add.stdout).toBe(0);
      expect(add.json.interfaces[0].sandbox).toBe(path);
      expect(detail(net, a.name).linkinfo.info_kind).toBe('macvlan');
      expect(net.run({ ...inv({ path }, 'cp', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
      expect(net.run({ ...inv({ path }, 'cp', cfg), command: 'DEL' }).status).toBe(0);
      expect(links(net, a.name)).toEqual(['lo']);
    } finally {
      sh('umount', [path]);
    }
  });
});
