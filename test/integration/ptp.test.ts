/**
 * ptp, end to end: the built dist/bin/ptp run as a runtime runs it, in a throwaway host netns, with containers beside
 * it. IPAM is host-local from CNI_PATH (ours first; the Go plugins after it, for `static`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostVeths as hostVethsOf, hostVethsSettled, leaseFiles, masqState as masqStateOf, normResult, pathWithoutNetfilter, withPidNetns, withPrev } from '../helpers/attachment.js';
import { DIST, GO_PLUGINS, TestNet, addressesOf, bin, goBin, haveGoPlugins, isRoot, ping, sh, type PluginRun } from '../helpers/harness.js';

const CNI_PATH = `${DIST}:${GO_PLUGINS}`;
const NET = 'ptpnet';

let net: TestNet;
let dataDir: string;
afterEach(() => net?.cleanup());

function start(label = 'ptp'): void {
  net = new TestNet(label);
  dataDir = net.tempDir();
}

const dualIpam = (dir = dataDir): Record<string, unknown> => ({
  type: 'host-local',
  dataDir: dir,
  ranges: [[{ subnet: '10.79.0.0/24' }], [{ subnet: 'fd79::/64' }]],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
});

const mkConf = (over: Record<string, unknown> = {}): Record<string, any> => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'ptp',
  ipMasq: true,
  ipam: dualIpam(),
  ...over,
});

function run(command: string, conf: unknown, cid: string, c: { path: string }, extra: Record<string, any> = {}): PluginRun {
  return net.run({ plugin: bin('ptp'), command, conf, containerId: cid, netns: c.path, ifname: 'eth0', path: CNI_PATH, ...extra });
}

function addOk(conf: unknown, cid: string, c: { path: string }, extra: Record<string, any> = {}): any {
  const r = run('ADD', conf, cid, c, extra);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.json;
}

const hostExec = (cmd: string, args: string[]): string => net.exec(net.host, cmd, args).stdout;

const masqState = (t: TestNet = net): { ipt: string[]; nft: string } => masqStateOf(t);
const hostVeths = (t: TestNet = net): string[] => hostVethsOf(t);

/** Routes of a netns as "dst [via gw] [dev] [scope] [src] [metric]" lines (main table, both families), devs renamed. */
function routes(t: TestNet, ns: string, rename: Record<string, string> = {}): string[] {
  return ['-4', '-6']
    .flatMap((f) => t.ipJson(ns, [f, 'route', 'show']) as any[])
    .map((r) =>
      [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${rename[r.dev] ?? r.dev}`, r.scope && `scope ${r.scope}`, r.prefsrc && `src ${r.prefsrc}`, r.metric !== undefined && `metric ${r.metric}`]
        .filter(Boolean)
        .join(' '),
    )
    .sort();
}

const hostRoutesTo = (prefix: string): string[] => routes(net, net.host).filter((r) => r.startsWith(prefix));

const leases = (dir = dataDir): string[] => leaseFiles(dir, NET);

function expectNothingLeft(t: TestNet = net, dir = dataDir): void {
  expect(hostVethsSettled(t)).toEqual([]);
  expect(leases(dir)).toEqual([]);
  expect(routes(t, t.host).filter((r) => /^(10\.79\.|fd79:)/.test(r))).toEqual([]);
  const m = masqState(t);
  expect(m.ipt).toEqual([]);
  expect(m.nft).not.toMatch(/masquerade comment/);
}

const global = (a: string[]): string[] => a.filter((x) => !x.startsWith('fe80:')).sort();
const onlyLo = (ns: string): void => expect(net.ipJson(ns, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);

describe.skipIf(!isRoot)('ptp plugin', () => {
  it('routes as the reference in container and host; containers ping each other and the host; CHECK; DEL twice leaves nothing', () => {
    start();
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = mkConf({ mtu: 1400 });
    const r1 = addOk(conf, 'ctr-a', c1);
    const r2 = addOk(conf, 'ctr-b', c2);
    expect(r1.interfaces).toEqual([
      { name: expect.stringMatching(/^veth[0-9a-f]{8}$/), mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) },
      { name: 'eth0', mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/), sandbox: c1.path },
    ]);
    expect(r1.ips).toEqual([
      { interface: 1, address: '10.79.0.2/24', gateway: '10.79.0.1' },
      { interface: 1, address: 'fd79::2/64', gateway: 'fd79::1' },
    ]);
    expect(r1.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    expect(r2.ips.map((i: any) => i.address)).toEqual(['10.79.0.3/24', 'fd79::3/64']);
    const veth1 = r1.interfaces[0].name;

    // Container: the address with its prefix, no connected subnet route; the gateway on-link, the subnet via it.
    expect(global(addressesOf(c1.name, 'eth0'))).toEqual(['10.79.0.2/24', 'fd79::2/64']);
    expect(routes(net, c1.name)).toEqual(
      [
        'default via 10.79.0.1 dev eth0',
        '10.79.0.0/24 via 10.79.0.1 dev eth0 src 10.79.0.2',
        '10.79.0.1 dev eth0 scope link src 10.79.0.2',
        'fd79::1 dev eth0 src fd79::2 metric 1024',
        'fd79::/64 via fd79::1 dev eth0 src fd79::2 metric 1024',
        'fe80::/64 dev eth0 metric 256',
        'default via fd79::1 dev eth0 metric 1024',
      ].sort(),
    );
    // Host: the veth carries the gateways as /32 and /128, with a host route to each container address.
    expect(global(addressesOf(net.host, veth1))).toEqual(['10.79.0.1/32', 'fd79::1/128']);
    expect(hostRoutesTo('10.79.0.2')).toEqual([`10.79.0.2 dev ${veth1} scope host`]);
    expect(hostRoutesTo('fd79::2')).toEqual([`fd79::2 dev ${veth1} metric 1024`]);
    expect(net.ipJson(net.host, ['link', 'show', veth1])[0].mtu).toBe(1400);
    expect(net.ipJson(c1.name, ['link', 'show', 'eth0'])[0].mtu).toBe(1400);
    expect(hostExec('cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    expect(hostExec('cat', ['/proc/sys/net/ipv6/conf/all/forwarding']).trim()).toBe('1');

    // Traffic: container to container (through the host), to the gateway, host to container; both families.
    expect(ping(c1.name, '10.79.0.3')).toBe(true);
    expect(ping(c2.name, '10.79.0.2')).toBe(true);
    expect(ping(c1.name, '10.79.0.1')).toBe(true);
    expect(ping(net.host, '10.79.0.2')).toBe(true);
    expect(ping(c1.name, 'fd79::3')).toBe(true);
    expect(ping(c2.name, 'fd79::1')).toBe(true);
    expect(ping(net.host, 'fd79::3')).toBe(true);
    // Routed, not bridged: c1 reaches c2 through the gateway's MAC.
    const neigh = net.ipJson(c1.name, ['neigh', 'show', 'dev', 'eth0']) as any[];
    expect(neigh.find((n) => n.dst === '10.79.0.3')).toBeUndefined();
    expect(neigh.find((n) => n.dst === '10.79.0.1')?.lladdr).toBe(r1.interfaces[0].mac);

    expect(run('CHECK', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);
    const d1 = run('DEL', withPrev(conf, r1), 'ctr-a', c1);
    expect(d1.status, d1.stdout).toBe(0);
    expect(run('DEL', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);
    onlyLo(c1.name);
    expect(hostRoutesTo('10.79.0.2')).toEqual([]);
    expect(ping(c2.name, '10.79.0.1')).toBe(true);
    expect(run('DEL', conf, 'ctr-b', c2).status).toBe(0);
    expectNothingLeft();
    expect(run('DEL', conf, 'never-added', c2).status).toBe(0);
  });

  it('ipMasq: a container reaches an outside namespace seen with the host address; reference chain names', () => {
    start('ptpm');
    const c = net.addContainer();
    const out = net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    const counters = 'table ip seen {\n chain input {\n type filter hook input priority 0;\n ip saddr 192.0.2.1 icmp type echo-request counter\n ip saddr 10.79.0.0/24 counter\n }\n}\n';
    expect(net.exec(out, 'nft', ['-f', '-'], counters).status).toBe(0);
    const conf = mkConf();
    addOk(conf, 'ctr-m', c);
    expect(ping(c.name, '192.0.2.2')).toBe(true);
    const seen = net.exec(out, 'nft', ['list', 'table', 'ip', 'seen']).stdout;
    expect(seen).toMatch(/ip saddr 192\.0\.2\.1 icmp type echo-request counter packets [1-9]/);
    expect(seen).toMatch(/ip saddr 10\.79\.0\.0\/24 counter packets 0 /);
    // The reference's chain CNI-<sha512(name+id)> with its comment, per family.
    const chain = `CNI-${createHash('sha512').update('ptpnetctr-m').digest('hex').slice(0, 24)}`;
    const comment = '-m comment --comment "name: \\"ptpnet\\" id: \\"ctr-m\\""';
    expect(masqState().ipt).toEqual([
      `:${chain} - [0:0]`,
      `-A POSTROUTING -s 10.79.0.2/32 ${comment} -j ${chain}`,
      `-A ${chain} -d 10.79.0.0/24 ${comment} -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 ${comment} -j MASQUERADE`,
      `:${chain} - [0:0]`,
      `-A POSTROUTING -s fd79::2/128 ${comment} -j ${chain}`,
      `-A ${chain} -d fd79::/64 ${comment} -j ACCEPT`,
      `-A ${chain} ! -d ff00::/8 ${comment} -j MASQUERADE`,
    ]);
    // Without ipMasq the outside gets the container address (and has no route back): no answer.
    const c2 = net.addContainer();
    addOk(mkConf({ ipMasq: false }), 'ctr-n', c2);
    expect(ping(c2.name, '192.0.2.2')).toBe(false);
    expect(net.exec(out, 'nft', ['list', 'table', 'ip', 'seen']).stdout).toMatch(/ip saddr 10\.79\.0\.0\/24 counter packets [1-9]/);
    expect(run('DEL', mkConf({ ipMasq: false }), 'ctr-n', c2).status).toBe(0);
    expect(run('DEL', conf, 'ctr-m', c).status).toBe(0);
    expectNothingLeft();
  });

  it('nftables backend: masquerade, DEL removes the rule, GC keeps only valid attachments (rules, leases); STATUS', () => {
    start('ptpn');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    net.addOutside(['192.0.2.1/24'], ['192.0.2.2/24']);
    const conf = mkConf({ cniVersion: '1.1.0', ipMasqBackend: 'nftables' });
    const r1 = addOk(conf, 'ctr-1', c1);
    addOk(conf, 'ctr-2', c2);
    expect(ping(c1.name, '192.0.2.2')).toBe(true);
    expect(run('CHECK', withPrev(conf, r1), 'ctr-1', c1).status).toBe(0);
    let m = masqState();
    expect(m.ipt).toEqual([]);
    expect(m.nft).toContain('ip saddr 10.79.0.2 ip daddr != 10.79.0.0/24 masquerade comment');
    expect(m.nft).toContain('ip6 saddr fd79::2 ip6 daddr != fd79::/64 masquerade comment');
    const gc = net.run({ plugin: bin('ptp'), command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-1', ifname: 'eth0' }] }, path: CNI_PATH });
    expect(gc.status, gc.stdout).toBe(0);
    m = masqState();
    expect(m.nft).toContain('id: ctr-1"');
    expect(m.nft).not.toContain('id: ctr-2"');
    expect(leases().sort()).toEqual(['10.79.0.2', 'fd79::2']);
    expect(net.run({ plugin: bin('ptp'), command: 'STATUS', conf, path: CNI_PATH }).status).toBe(0);
    expect(run('DEL', conf, 'ctr-1', c1).status).toBe(0);
    expect(run('DEL', conf, 'ctr-2', c2).status).toBe(0);
    expectNothingLeft();
  });

  it('DEL after the netns is gone, or with CNI_NETNS empty and no prevResult, releases the leases and removes masquerade', () => {
    start('ptpd');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = mkConf();
    const r1 = addOk(conf, 'ctr-a', c1);
    addOk(conf, 'ctr-b', c2);
    expect(masqState().ipt.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(4);
    net.removeNetns(c1.name);
    net.removeNetns(c2.name);
    expect(run('DEL', withPrev(conf, r1), 'ctr-a', c1).status).toBe(0);
    const d2 = run('DEL', conf, 'ctr-b', { path: '' });
    expect(d2.status, d2.stdout).toBe(0);
    expectNothingLeft();
    expect(run('DEL', conf, 'ctr-b', { path: '' }).status).toBe(0);
  });

  it('DEL still cleans up when the config was edited into something invalid since ADD', () => {
    start('ptpe');
    const c = net.addContainer();
    const conf = mkConf();
    addOk(conf, 'ctr-e', c);
    const broken = { ...conf, mtu: 'large', ipMasqBackend: 'pf' };
    expect(run('ADD', broken, 'ctr-x', c).json.code).toBe(7);
    const d = run('DEL', broken, 'ctr-e', c);
    expect(d.status, d.stdout).toBe(0);
    expectNothingLeft();
  });

  it('bad inputs: a clear error, nothing created (no veth, no lease)', () => {
    start('ptpb');
    const c = net.addContainer();
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ ipMasq: 'yes' }, 7, /ptp config: "ipMasq" must be true or false, got "yes"/],
      [{ mtu: 70000 }, 7, /"mtu" is 70000, above the maximum 65535/],
      [{ mtu: 'big' }, 7, /"mtu" must be an integer, got "big"/],
      [{ ipMasqBackend: 'pf' }, 7, /"ipMasqBackend" is "pf"; allowed: iptables, nftables/],
      [{ ipam: undefined }, 7, /ptp config: an IPAM plugin is required \("ipam": \{"type": \.\.\.\}\), got no "ipam"/],
      [{ ipam: { type: '' } }, 7, /an IPAM plugin is required/],
      [{ dns: { nameservers: '1.1.1.1' } }, 6, /dns.nameservers must be a list of strings/],
    ];
    for (const [over, code, msg] of cases) {
      const r = run('ADD', mkConf(over), 'ctr-b', c);
      expect(r.status).toBe(1);
      expect(r.json.code, r.stdout).toBe(code);
      expect(r.json.msg).toMatch(msg);
    }
    const noNetns = run('ADD', mkConf(), 'ctr-b', { path: '/run/netns/cnits-no-such-netns' });
    expect(noNetns.json).toMatchObject({ code: 999, msg: 'failed to open netns "/run/netns/cnits-no-such-netns": no such file or directory' });
    expect(net.ipJson(net.host, ['link', 'show']).map((l: any) => l.ifname)).toEqual(['lo']);
    onlyLo(c.name);
    expect(existsSync(join(dataDir, NET))).toBe(false);
  });

  it('fails cleanly after IPAM: ifname taken, IPAM errors, no gateway, unusable masquerade — no veth, no lease, no route', () => {
    start('ptpf');
    const c = net.addContainer();
    sh('ip', ['-n', c.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0']);
    const taken = run('ADD', mkConf(), 'ctr-f', c);
    expect(taken.json.msg).toBe('container veth name provided (eth0) already exists');
    expectNothingLeft();
    sh('ip', ['-n', c.name, 'link', 'del', 'eth0']);

    expect(run('ADD', mkConf({ ipam: { type: 'no-such-ipam' } }), 'ctr-f', c).json.msg).toMatch(/failed to find plugin "no-such-ipam"/);
    const full = run('ADD', mkConf({ ipam: { type: 'host-local', subnet: '10.79.0.0/31', dataDir } }), 'ctr-f', c);
    expect(full.status).toBe(1);
    if (haveGoPlugins) {
      // An IPAM result without a gateway (static): ptp has nothing to route through.
      const noGw = run('ADD', mkConf({ ipam: { type: 'static', addresses: [{ address: '10.79.0.9/24' }] } }), 'ctr-f', c);
      expect(noGw.json.msg).toMatch(/^IPAM returned no gateway for 10\.79\.0\.9\/24: ptp routes all of the container's traffic through one/);
    }
    expectNothingLeft();
    onlyLo(c.name);

    // Masquerade backend unusable: a PATH without iptables and nft. Everything made so far is rolled back.
    const bin2 = pathWithoutNetfilter(net);
    for (const backend of [undefined, 'iptables', 'nftables']) {
      const r = run('ADD', mkConf(backend ? { ipMasqBackend: backend } : {}), 'ctr-f', c, { env: { PATH: bin2 } });
      expect(r.status, r.stdout).toBe(1);
      expect(r.json.msg).toMatch(/masquerade/);
      expectNothingLeft();
      onlyLo(c.name);
    }
  });

  it('CHECK passes after ADD and names what is missing: container address and routes, host gateway and route, masquerade', () => {
    start('ptpc');
    const c = net.addContainer();
    const conf = mkConf();
    const res = addOk(conf, 'ctr-c', c);
    const veth = res.interfaces[0].name;
    const check = (): PluginRun => run('CHECK', withPrev(conf, res), 'ctr-c', c);
    const restored = (cmd: string[], msg: string | RegExp, undo: string[]): void => {
      sh('ip', cmd);
      const r = check();
      expect(r.status).toBe(1);
      expect(r.json.msg).toMatch(msg);
      sh('ip', undo);
      const ok = check();
      expect(ok.status, ok.stdout).toBe(0);
    };
    expect(check().status).toBe(0);
    restored(['-n', c.name, 'route', 'del', 'default'], 'Failed to match route 0.0.0.0/0 on interface eth0', ['-n', c.name, 'route', 'add', 'default', 'via', '10.79.0.1']);
    restored(
      ['-n', c.name, 'route', 'del', '10.79.0.0/24'],
      'Failed to match route 10.79.0.0/24 via 10.79.0.1 on interface eth0',
      ['-n', c.name, 'route', 'add', '10.79.0.0/24', 'via', '10.79.0.1', 'src', '10.79.0.2'],
    );
    restored(['-n', net.host, 'route', 'del', '10.79.0.2/32'], `Failed to match route 10.79.0.2/32 on interface ${veth}`, ['-n', net.host, 'route', 'add', '10.79.0.2/32', 'dev', veth, 'scope', 'host']);
    restored(['-n', net.host, 'addr', 'del', 'fd79::1/128', 'dev', veth], `Failed to match addr fd79::1/128 on interface ${veth}`, ['-n', net.host, 'addr', 'add', 'fd79::1/128', 'dev', veth, 'nodad']);
    sh('ip', ['-n', c.name, 'addr', 'del', 'fd79::2/64', 'dev', 'eth0']);
    expect(check().json.msg).toBe('Failed to match addr fd79::2/64 on interface eth0');
    sh('ip', ['-n', c.name, 'addr', 'add', 'fd79::2/64', 'dev', 'eth0', 'noprefixroute', 'nodad']);
    sh('ip', ['-n', c.name, 'route', 'add', 'fd79::1/128', 'dev', 'eth0', 'src', 'fd79::2']);
    sh('ip', ['-n', c.name, 'route', 'add', 'fd79::/64', 'via', 'fd79::1', 'src', 'fd79::2']);
    sh('ip', ['-n', c.name, 'route', 'add', '::/0', 'via', 'fd79::1']);
    const back = check();
    expect(back.status, back.stdout).toBe(0);
    // Masquerade is checked too (the reference does not).
    const saved = hostExec('ip6tables-save', ['-t', 'nat']);
    net.exec(net.host, 'ip6tables', ['-t', 'nat', '-F', 'POSTROUTING']);
    expect(check().json.msg).toMatch(/^IP masquerade for ctr-c is missing: IPv6 \(no iptables chain CNI-/);
    expect(net.exec(net.host, 'ip6tables-restore', [], saved).status).toBe(0);
    expect(check().status).toBe(0);
    expect(run('CHECK', conf, 'ctr-c', c).json.msg).toBe('Required prevResult missing');
    expect(run('CHECK', withPrev(conf, { ...res, interfaces: [res.interfaces[0], { ...res.interfaces[1], sandbox: '/run/netns/other' }] }), 'ctr-c', c).json.msg).toBe(
      `Sandbox in prevResult /run/netns/other doesn't match configured netns: ${c.path}`,
    );
    sh('ip', ['-n', net.host, 'link', 'del', veth]);
    expect(check().json.msg).toBe(`Container interface name in prevResult: eth0 not found in ${c.path}`);
    expect(run('DEL', conf, 'ctr-c', c).status).toBe(0);
    expectNothingLeft();
  });

  it('dns from the config overrides the IPAM\'s; without ipMasq no rule at all; a /proc/<pid>/ns/net netns works', async () => {
    start('ptpx');
    const c = net.addContainer();
    const conf = mkConf({ ipMasq: false, dns: { nameservers: ['10.79.0.53'], search: ['svc.local'] } });
    await withPidNetns(c.name, (path) => {
      const r = addOk(conf, 'ctr-x', { path });
      expect(r.dns).toEqual({ nameservers: ['10.79.0.53'], search: ['svc.local'] });
      expect(r.interfaces[1].sandbox).toBe(path);
      expect(masqState().ipt).toEqual([]);
      expect(ping(c.name, '10.79.0.1')).toBe(true);
      expect(run('CHECK', withPrev(conf, r), 'ctr-x', { path }).status).toBe(0);
      expect(run('DEL', conf, 'ctr-x', { path }).status).toBe(0);
      onlyLo(c.name);
      expectNothingLeft();
    });
  });

  it('concurrent ADDs all succeed; every host veth carries the same gateway', async () => {
    start('ptpp');
    const cs = [0, 1, 2, 3].map(() => net.addContainer());
    const conf = mkConf({ ipMasq: false });
    const rs = await Promise.all(cs.map((c, i) => net.runAsync({ plugin: bin('ptp'), command: 'ADD', conf, containerId: `p${i}`, netns: c.path, ifname: 'eth0', path: CNI_PATH })));
    for (const r of rs) expect(r.status, r.stdout).toBe(0);
    expect(new Set(rs.map((r) => r.json.ips[0].address)).size).toBe(4);
    for (const r of rs) expect(global(addressesOf(net.host, r.json.interfaces[0].name))).toEqual(['10.79.0.1/32', 'fd79::1/128']);
    expect(ping(cs[0]!.name, rs[3]!.json.ips[0].address.split('/')[0])).toBe(true);
    expect(ping(cs[3]!.name, rs[0]!.json.ips[1].address.split('/')[0])).toBe(true);
  });
});

describe.skipIf(!isRoot || !haveGoPlugins)('ptp vs the Go reference ptp', () => {
  let go: TestNet | undefined;
  afterEach(() => go?.cleanup());

  // The Go ptp 1.1.1 supports 0.1.0 – 1.0.0 (1.1.0: GC/STATUS, tested above).
  for (const version of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
    it(`same result, container and host state as /usr/lib/cni/ptp at ${version} (dual-stack, ipMasq, mtu, dns, IPAM routes)`, () => {
      start('ptpdiff');
      go = new TestNet('ptpgo');
      const goData = go.tempDir();
      const c = net.addContainer();
      const cg = go.addContainer();
      const base = {
        cniVersion: version,
        name: NET,
        type: 'ptp',
        ipMasq: true,
        mtu: 1450,
        dns: { nameservers: ['10.79.0.53'] },
        ipam: { ...dualIpam(), routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16' }, { dst: '::/0' }] },
      };
      const ours = run('ADD', { ...base, ipam: { ...base.ipam, dataDir } }, 'diff1', c);
      const theirs = go.run({ plugin: goBin('ptp'), command: 'ADD', conf: { ...base, ipam: { ...base.ipam, dataDir: goData } }, containerId: 'diff1', netns: cg.path, ifname: 'eth0', path: GO_PLUGINS });
      expect(ours.status, ours.stdout).toBe(0);
      expect(theirs.status, theirs.stdout).toBe(0);
      expect(normResult(ours.json)).toEqual(normResult(theirs.json));

      const vethOf = (t: TestNet): string => hostVeths(t)[0]!;
      const [vOurs, vGo] = [vethOf(net), vethOf(go)];
      expect(global(addressesOf(c.name, 'eth0'))).toEqual(global(addressesOf(cg.name, 'eth0')));
      expect(routes(net, c.name)).toEqual(routes(go, cg.name));
      expect(global(addressesOf(net.host, vOurs))).toEqual(global(addressesOf(go.host, vGo)));
      expect(routes(net, net.host, { [vOurs]: 'vethX' })).toEqual(routes(go, go.host, { [vGo]: 'vethX' }));
      expect(masqState(net).ipt).toEqual(masqState(go).ipt);
      const mtu = (t: TestNet, ns: string, dev: string): number => t.ipJson(ns, ['link', 'show', dev])[0].mtu;
      expect([mtu(net, net.host, vOurs), mtu(net, c.name, 'eth0')]).toEqual([mtu(go, go.host, vGo), mtu(go, cg.name, 'eth0')]);
      for (const k of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
        expect(net.exec(net.host, 'cat', [`/proc/sys/${k}`]).stdout).toBe(go.exec(go.host, 'cat', [`/proc/sys/${k}`]).stdout);
      }
    });
  }

  it('swap: ADD Go / DEL ours, ADD ours / DEL Go, CHECK across, Go ADD + netns gone + our DEL — nothing left', () => {
    start('ptps');
    const c = net.addContainer();
    const conf = mkConf({ cniVersion: '0.4.0' });
    const goRun = (command: string, cf: unknown, cid: string, netns = c.path): PluginRun =>
      net.run({ plugin: goBin('ptp'), command, conf: cf, containerId: cid, netns, ifname: 'eth0', path: GO_PLUGINS });

    const goAdd = goRun('ADD', conf, 'sw1');
    expect(goAdd.status, goAdd.stdout).toBe(0);
    expect(masqState().ipt.length).toBeGreaterThan(0);
    expect(run('CHECK', withPrev(conf, goAdd.json), 'sw1', c).status).toBe(0);
    expect(run('DEL', withPrev(conf, goAdd.json), 'sw1', c).status).toBe(0);
    expectNothingLeft();
    onlyLo(c.name);

    const ours = addOk(conf, 'sw2', c);
    expect(masqState().ipt.length).toBeGreaterThan(0);
    const goCheck = goRun('CHECK', withPrev(conf, ours), 'sw2');
    expect(goCheck.status, goCheck.stdout).toBe(0);
    const goDel = goRun('DEL', withPrev(conf, ours), 'sw2');
    expect(goDel.status, goDel.stdout).toBe(0);
    expectNothingLeft();
    onlyLo(c.name);

    // The container is gone before DEL (and the runtime lost its cache): the Go ptp would only release the lease and
    // leave the masquerade (it finds the addresses on the link); ours removes everything.
    const c2 = net.addContainer();
    expect(goRun('ADD', conf, 'sw3', c2.path).status).toBe(0);
    net.removeNetns(c2.name);
    expect(run('DEL', conf, 'sw3', { path: '' }).status).toBe(0);
    expectNothingLeft();
  });
});
