/**
 * dhcp IPAM and `dhcp daemon` against a real DHCP server: dnsmasq in a throwaway "LAN" netns, the macvlan master a
 * veth end in the test's host netns, the daemon (ours or Debian's Go 1.1.1) in that host netns with its socket and
 * state in a temp dir. Leases are checked on dnsmasq's side (its lease file and log): acquired, renewed past T1 (3 s),
 * released on DEL — also with CNI_NETNS="", after the netns is gone, twice, and across daemon restarts. Swap tests
 * run our plugin against the Go daemon and the Go plugins against our daemon.
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DhcpDaemon, DhcpLan, dnsmasqClientId, haveDnsmasq, waitFor, type LanOptions } from '../helpers/dhcp.js';
import { DIST, GO_PLUGINS, ROOT, TestNet, bin, goBin, haveGoPlugins, isRoot, ping, sh, type Invocation, type PluginRun } from '../helpers/harness.js';

const NET = 'dhnet';
const ID = (c: string, ifname = 'eth0'): string => `${c}/${NET}/${ifname}`;

interface Lab {
  net: TestNet;
  lan: DhcpLan;
  daemon: DhcpDaemon;
}

const labs: Lab[] = [];
const daemons: DhcpDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL').catch(() => undefined);
  for (const l of labs.splice(0)) {
    l.lan.stop();
    l.net.cleanup();
  }
});

async function lab(label: string, lan: Partial<LanOptions> = {}, daemonBin = bin('dhcp')): Promise<Lab> {
  const net = new TestNet(label);
  const l: Lab = { net, lan: new DhcpLan(net, { prefix: '10.99.0', ...lan }), daemon: undefined as unknown as DhcpDaemon };
  labs.push(l);
  await l.lan.start();
  l.daemon = await startDaemon(net, daemonBin);
  return l;
}

async function startDaemon(net: TestNet, daemonBin: string, dir = net.tempDir(), args: string[] = []): Promise<DhcpDaemon> {
  const d = new DhcpDaemon(net, { bin: daemonBin, dir, args, statedir: daemonBin === goBin('dhcp') ? false : undefined });
  daemons.push(d);
  return d.start();
}

const conf = (socket: string, ipam: Record<string, unknown> = {}, version = '1.0.0'): Record<string, unknown> => ({
  cniVersion: version,
  name: NET,
  type: 'macvlan',
  master: 'lan0',
  ipam: { type: 'dhcp', daemonSocketPath: socket, ...ipam },
});

/** Run a macvlan (ours: dist/bin; Go's: /usr/lib/cni) in the lab's host netns. */
function run(l: Lab, command: string, containerId: string, netns: string, config: unknown, go = false, extra: Partial<Invocation> = {}): PluginRun {
  const path = go ? GO_PLUGINS : DIST;
  return l.net.run({ plugin: join(path, 'macvlan'), command, conf: config, containerId, netns, ifname: 'eth0', path, ...extra });
}

const withPrev = (config: Record<string, unknown>, add: PluginRun): Record<string, unknown> => ({ ...config, prevResult: add.json });
const links = (l: Lab, ns: string): string[] => l.net.ipJson(ns, ['link', 'show']).map((x: { ifname: string }) => x.ifname);
const addrs = (l: Lab, ns: string): string[] =>
  l.net.ipJson(ns, ['-4', 'addr', 'show', 'dev', 'eth0'])[0]?.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`) ?? [];
const routes = (l: Lab, ns: string): string[] => l.net.exec(ns, 'ip', ['-4', 'route', 'show']).stdout.trim().split('\n').map((r) => r.trim());

describe.skipIf(!isRoot || !haveDnsmasq)('dhcp (our plugin, our daemon, dnsmasq)', () => {
  it('ADD: a lease from dnsmasq (client id 0x00+"<id>/<net>/<if>"), the address and a default route via the router; CHECK starts nothing; renewed past T1; DEL releases it; DEL again succeeds; nothing left', async () => {
    const l = await lab('dh');
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    const add = run(l, 'ADD', 'c1', c.path, cfg);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(lease, JSON.stringify(l.lan.leases())).toBeDefined();
    expect(lease.mac).toBe(add.json.interfaces[0].mac);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: lease.mac, sandbox: c.path }],
      ips: [{ interface: 0, address: `${lease.ip}/24`, gateway: '10.99.0.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }],
    });
    expect(addrs(l, c.name)).toEqual([`${lease.ip}/24`]);
    expect(routes(l, c.name)).toContain('default via 10.99.0.1 dev eth0');
    expect(l.net.exec(c.name, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('1');
    expect(ping(c.name, '10.99.0.1')).toBe(true);

    const check = run(l, 'CHECK', 'c1', c.path, withPrev(cfg, add));
    expect(check.status, check.stdout).toBe(0);
    expect(l.lan.count('DHCPDISCOVER')).toBe(1);
    expect(l.daemon.log().match(/acquiring lease/g)).toHaveLength(1);
    expect(l.daemon.records()).toHaveLength(1);

    // renewed past T1 (3 s): a second DHCPREQUEST + DHCPACK for the address, and a later expiry in dnsmasq's lease file
    await waitFor('a renewal', () => l.lan.count('DHCPACK', lease.ip) >= 2, 30_000);
    await waitFor('the new expiry', () => (l.lan.leaseOf(ID('c1'))?.expiry ?? 0) > lease.expiry, 5000);
    await waitFor('the daemon to take the renewal', () => /c1\/dhnet\/eth0: lease renewed/.test(l.daemon.log()));

    expect(l.daemon.holdsNetns(c.path)).toBe(true); // kept open: the lease can be released even after the netns is unmounted
    const del = run(l, 'DEL', 'c1', c.path, cfg);
    expect(del.status, del.stdout).toBe(0);
    await waitFor('the DHCPRELEASE', () => l.lan.count('DHCPRELEASE', lease.ip) === 1);
    expect(l.daemon.holdsNetns(c.path)).toBe(false);
    expect(l.lan.leaseOf(ID('c1'))).toBeUndefined();
    expect(links(l, c.name)).toEqual(['lo']);
    expect(l.daemon.records()).toEqual([]);
    const again = run(l, 'DEL', 'c1', c.path, cfg);
    expect(again.status, again.stdout).toBe(0);
    expect(l.lan.count('DHCPRELEASE')).toBe(1);
  });

  it('macvlan\'s exec path (CNI_TS_NO_FFI=1: created under a temporary name, renamed before the IPAM, configured after) gets the same lease', async () => {
    const l = await lab('dhnoffi');
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    const env = { env: { CNI_TS_NO_FFI: '1' } };
    const add = run(l, 'ADD', 'c1', c.path, cfg, false, env);
    expect(add.status, add.stdout).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(add.json.interfaces[0]).toEqual({ name: 'eth0', mac: lease.mac, sandbox: c.path });
    expect(addrs(l, c.name)).toEqual([`${lease.ip}/24`]);
    expect(l.net.exec(c.name, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('1');
    expect(run(l, 'DEL', 'c1', c.path, cfg, false, env).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', lease.ip) === 1);
    expect(links(l, c.name)).toEqual(['lo']);
  });

  it('routes: option 121 when the server sends it (requested), else option 33 (host bits cleared) plus a default via the router', async () => {
    const l = await lab('dhrt', { extra: ['--dhcp-option=121,10.200.0.0/16,10.99.0.254,0.0.0.0/0,10.99.0.1', '--dhcp-option=33,172.16.5.0,10.99.0.253'] });
    const a = l.net.addContainer('a');
    const b = l.net.addContainer('b');
    const r121 = run(l, 'ADD', 'c121', a.path, conf(l.daemon.socket, { request: [{ option: '121' }] }));
    expect(r121.status, r121.stdout).toBe(0);
    expect(r121.json.routes).toEqual([{ dst: '10.200.0.0/16', gw: '10.99.0.254' }, { dst: '0.0.0.0/0', gw: '10.99.0.1' }]);
    expect(routes(l, a.name)).toEqual(expect.arrayContaining(['default via 10.99.0.1 dev eth0', '10.200.0.0/16 via 10.99.0.254 dev eth0']));
    const r33 = run(l, 'ADD', 'c33', b.path, conf(l.daemon.socket, { request: [{ option: 'routers' }, { option: '33' }] }));
    expect(r33.status, r33.stdout).toBe(0);
    expect(r33.json.routes).toEqual([{ dst: '172.16.0.0/16', gw: '10.99.0.253' }, { dst: '0.0.0.0/0', gw: '10.99.0.1' }]);
    expect(routes(l, b.name)).toEqual(expect.arrayContaining(['default via 10.99.0.1 dev eth0', '172.16.0.0/16 via 10.99.0.253 dev eth0']));
    for (const [id, c] of [['c121', a], ['c33', b]] as const) expect(run(l, 'DEL', id, c.path, conf(l.daemon.socket)).status).toBe(0);
    await waitFor('both releases', () => l.lan.count('DHCPRELEASE') === 2);
  });

  it('provide: host-name from CNI_ARGS (fromArg) reaches the server', async () => {
    const l = await lab('dhpv');
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket, { provide: [{ option: 'host-name', fromArg: 'K8S_POD_NAME' }] });
    const add = run(l, 'ADD', 'c1', c.path, cfg, false, { args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0' });
    expect(add.status, add.stdout).toBe(0);
    expect(readFileSync(l.lan.leaseFile, 'utf8')).toMatch(/ web-0 /);
    expect(run(l, 'DEL', 'c1', c.path, cfg).status).toBe(0);
  });

  it('DEL releases the lease with CNI_NETNS="" and after the netns is gone (the daemon keeps it open until then)', async () => {
    const l = await lab('dhgone');
    const a = l.net.addContainer('a');
    const b = l.net.addContainer('b');
    const cfg = conf(l.daemon.socket);
    expect(run(l, 'ADD', 'ca', a.path, cfg).status).toBe(0);
    expect(run(l, 'ADD', 'cb', b.path, cfg).status).toBe(0);
    const ipA = l.lan.leaseOf(ID('ca'))!.ip;
    const ipB = l.lan.leaseOf(ID('cb'))!.ip;
    const empty = run(l, 'DEL', 'ca', '', cfg);
    expect(empty.status, empty.stdout).toBe(0);
    await waitFor('the release of ca', () => l.lan.count('DHCPRELEASE', ipA) === 1);
    l.net.removeNetns(b.name);
    const gone = run(l, 'DEL', 'cb', b.path, cfg);
    expect(gone.status, gone.stdout).toBe(0);
    await waitFor('the release of cb', () => l.lan.count('DHCPRELEASE', ipB) === 1);
    for (const [id, p] of [['ca', ''], ['cb', b.path]] as const) expect(run(l, 'DEL', id, p, cfg).status).toBe(0);
    expect(l.lan.leases()).toEqual([]);
    expect(l.daemon.records()).toEqual([]);
  });

  it('the same attachment asked for twice at once (a runtime retry racing the first ADD): one lease keeper, one DISCOVER, the same result', async () => {
    const l = await lab('dhrace');
    const c = l.net.addContainer('a');
    l.net.exec(l.net.host, 'ip', ['link', 'add', 'mv0', 'link', 'lan0', 'netns', c.name, 'type', 'macvlan', 'mode', 'bridge']);
    l.net.exec(c.name, 'ip', ['link', 'set', 'mv0', 'name', 'eth0']);
    const cfg = conf(l.daemon.socket);
    const inv = { plugin: bin('dhcp'), command: 'ADD', conf: cfg, containerId: 'c1', netns: c.path, ifname: 'eth0', path: DIST };
    const [a, b] = await Promise.all([l.net.runAsync(inv), l.net.runAsync(inv)]);
    expect(a.status, a.stdout).toBe(0);
    expect(b.json).toEqual(a.json);
    expect(l.lan.count('DHCPDISCOVER')).toBe(1);
    expect(l.daemon.log().match(/c1\/dhnet\/eth0: acquiring lease/g)).toHaveLength(1);
    expect(l.net.run({ ...inv, command: 'DEL' }).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE') === 1);
    expect(l.daemon.records()).toEqual([]);
  });

  it('an ADD retried on a new interface (same container, network, ifname): the old keeper is dropped, the new link gets the lease and keeps it', async () => {
    const l = await lab('dhretry');
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    const first = run(l, 'ADD', 'c1', c.path, cfg);
    expect(first.status).toBe(0);
    const mac1 = first.json.interfaces[0].mac;
    l.net.exec(c.name, 'ip', ['link', 'del', 'eth0']); // the first ADD's plugin died after its IPAM; the runtime retries
    const second = run(l, 'ADD', 'c1', c.path, cfg);
    expect(second.status, second.stdout).toBe(0);
    const mac2 = second.json.interfaces[0].mac;
    expect(mac2).not.toBe(mac1);
    expect(l.daemon.log()).toMatch(/c1\/dhnet\/eth0: its interface is not the one the lease was acquired on any more: dropping the old lease/);
    // (its DHCPRELEASE cannot go out: the old link is gone; the new one's lease, same client id, replaces it on the server)
    expect(l.lan.leases().map((x) => [x.clientId, x.mac])).toEqual([[dnsmasqClientId(ID('c1')), mac2]]);
    await waitFor('a renewal on the new link', () => l.lan.count('DHCPACK', mac2) >= 2, 30_000);
    expect(run(l, 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', mac2) === 1);
  });

  it('a container gone without a DEL: at the next renewal the daemon releases its lease and lets its netns go', async () => {
    const l = await lab('dhorph');
    const c = l.net.addContainer('a');
    expect(run(l, 'ADD', 'c1', c.path, conf(l.daemon.socket)).status).toBe(0);
    const ip = l.lan.leaseOf(ID('c1'))!.ip;
    const { ino, dev } = statSync(c.path);
    l.net.removeNetns(c.name); // the runtime lost it: no DEL comes
    expect(l.daemon.holdsNetns({ ino, dev })).toBe(true);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip) === 1, 30_000);
    expect(l.daemon.log()).toMatch(/c1\/dhnet\/eth0: eth0 in \/run\/netns\/\S+ is gone; releasing the lease/);
    await waitFor('the record removed and the netns let go', () => l.daemon.records().length === 0 && !l.daemon.holdsNetns({ ino, dev }));
    expect(run(l, 'DEL', 'c1', c.path, conf(l.daemon.socket)).status).toBe(0); // a late DEL has nothing to do
  });

  it('a daemon restarted after the container was deleted releases its lease on DEL from the host netns (the master has an address on the LAN)', async () => {
    const l = await lab('dhhost');
    l.net.exec(l.net.host, 'ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'lan0']); // like a node whose uplink is the master
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    expect(run(l, 'ADD', 'c1', c.path, cfg).status).toBe(0);
    const ip = l.lan.leaseOf(ID('c1'))!.ip;
    const dir = l.daemon.opts.dir;
    await l.daemon.stop('SIGTERM');
    l.net.removeNetns(c.name);
    const again = await startDaemon(l.net, bin('dhcp'), dir);
    expect(again.log()).toMatch(/c1\/dhnet\/eth0: cannot resume the lease: failed to open netns .*; it is released on DEL/);
    expect(run(l, 'DEL', 'c1', '', cfg).status).toBe(0);
    await waitFor('the release from the host', () => l.lan.count('DHCPRELEASE', ip) === 1);
    expect(l.lan.leaseOf(ID('c1'))).toBeUndefined();
    expect(again.records()).toEqual([]);
  });

  it('leases survive daemon restarts (SIGKILL: a crash, its socket left behind; SIGTERM): the next daemon renews them and releases them on DEL', async () => {
    const l = await lab('dhrst');
    const c = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    expect(run(l, 'ADD', 'c1', c.path, cfg).status).toBe(0);
    const ip = l.lan.leaseOf(ID('c1'))!.ip;
    const dir = l.daemon.opts.dir;
    await l.daemon.stop('SIGKILL');
    const acksBefore = l.lan.count('DHCPACK', ip);
    const second = await startDaemon(l.net, bin('dhcp'), dir);
    expect(second.log()).toMatch(/c1\/dhnet\/eth0: resumed the lease of 10\.99\.0\.\d+ \(bound/);
    await waitFor('a renewal by the restarted daemon', () => l.lan.count('DHCPACK', ip) > acksBefore, 30_000);
    expect(run(l, 'CHECK', 'c1', c.path, withPrev(cfg, { json: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: l.lan.leaseOf(ID('c1'))!.mac, sandbox: c.path }], ips: [{ interface: 0, address: `${ip}/24`, gateway: '10.99.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }] } } as PluginRun)).status).toBe(0);
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(sh('test', ['-e', second.socket]).status).not.toBe(0); // removed on a clean exit
    const third = await startDaemon(l.net, bin('dhcp'), dir);
    expect(third.log()).toMatch(/resumed the lease/);
    expect(l.lan.count('DHCPDISCOVER')).toBe(1); // never acquired again
    expect(run(l, 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip) === 1);
    expect(third.records()).toEqual([]);
  });

  it('-hostprefix (a daemon in a container with the host\'s root mounted at a prefix): the prefix before its socket and every netns path', async () => {
    const l = await lab('dhpfx');
    await l.daemon.stop('SIGKILL');
    const dir = l.net.tempDir();
    const d = new DhcpDaemon(l.net, { bin: bin('dhcp'), dir, statedir: join(dir, 'state'), args: ['-hostprefix', '/proc/self/root'] });
    daemons.push(d);
    // it listens on /proc/self/root<dir>/dhcp.sock: the same file as <dir>/dhcp.sock, where the plugin finds it
    await d.start();
    const c = l.net.addContainer('a');
    const add = run(l, 'ADD', 'c1', c.path, conf(d.socket));
    expect(add.status, add.stdout).toBe(0);
    expect(d.log()).toMatch(/serving \/proc\/self\/root\/tmp\/\S+; leases in \/proc\/self\/root\/tmp\//);
    const record = JSON.parse(readFileSync(join(dir, 'state', d.records()[0]!), 'utf8'));
    expect(record).toMatchObject({ key: ID('c1'), netns: `/proc/self/root${c.path}`, ifname: 'eth0' });
    expect(run(l, 'DEL', 'c1', c.path, conf(d.socket)).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE') === 1);
  });

  it('many pods at once, twice over: distinct leases, all released; every daemon thread stays in the host netns', async () => {
    const l = await lab('dhmany');
    const n = 8;
    const cfg = conf(l.daemon.socket);
    const hostNetns = l.net.exec(l.net.host, 'readlink', ['/proc/self/ns/net']).stdout.trim();
    expect(l.daemon.log()).toMatch(/sockets in container namespaces made in C \(socket_in\)/);
    for (const round of [1, 2]) {
      const cs = Array.from({ length: n }, (_, i) => l.net.addContainer(`r${round}p${i}`));
      const inv = (i: number, command: string) => ({ plugin: bin('macvlan'), command, conf: cfg, containerId: `r${round}p${i}`, netns: cs[i]!.path, ifname: 'eth0', path: DIST });
      const adds = await Promise.all(cs.map((_, i) => l.net.runAsync(inv(i, 'ADD'))));
      for (const a of adds) expect(a.status, a.stdout).toBe(0);
      expect(new Set(adds.map((a) => a.json.ips[0].address)).size).toBe(n);
      expect(l.lan.leases()).toHaveLength(n);
      const dels = await Promise.all(cs.map((_, i) => l.net.runAsync(inv(i, 'DEL'))));
      for (const d of dels) expect(d.status, d.stdout).toBe(0);
      await waitFor('every release', () => l.lan.count('DHCPRELEASE') === n * round);
      expect(l.lan.leases()).toEqual([]);
      // a thread started while the main thread was in a container's netns would stay there (and keep it alive)
      expect([...l.daemon.threadNetns()]).toEqual([hostNetns]);
      for (const c of cs) expect(l.daemon.holdsNetns(c.path)).toBe(false);
    }
  });

  it('systemd socket activation: the daemon serves the socket passed as fd 3 (LISTEN_FDS=1, LISTEN_PID) and leaves it to systemd', async () => {
    const net = new TestNet('dhsd');
    const l: Lab = { net, lan: new DhcpLan(net, { prefix: '10.99.0' }), daemon: undefined as unknown as DhcpDaemon };
    labs.push(l);
    await l.lan.start();
    const dir = net.tempDir();
    const socket = join(dir, 'activated.sock');
    // what systemd does: bind + listen, then exec the service with the socket as fd 3 and LISTEN_PID = its pid
    const py = `import os,socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM);s.bind(sys.argv[1]);s.listen(16)
os.dup2(s.fileno(),3);os.set_inheritable(3,True)
env={'PATH':os.environ['PATH'],'LISTEN_FDS':'1','LISTEN_PID':str(os.getpid())}
os.execvpe('ip',['ip','netns','exec',sys.argv[2],sys.argv[3],'daemon','-statedir',sys.argv[4]],env)`;
    const { spawn } = await import('node:child_process');
    const logPath = join(dir, 'daemon.log');
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logPath, 'a');
    const p = spawn('python3', ['-c', py, socket, net.host, bin('dhcp'), join(dir, 'state')], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exited = false;
    p.on('exit', () => (exited = true));
    try {
      await waitFor('the daemon', () => /serving the socket systemd passed/.test(readFileSync(logPath, 'utf8')) || exited);
      const c = net.addContainer('a');
      const cfg = conf(socket);
      const add = run(l, 'ADD', 'c1', c.path, cfg);
      expect(add.status, add.stdout + readFileSync(logPath, 'utf8')).toBe(0);
      expect(run(l, 'DEL', 'c1', c.path, cfg).status).toBe(0);
      await waitFor('the release', () => l.lan.count('DHCPRELEASE') === 1);
    } finally {
      p.kill('SIGTERM');
      await waitFor('the daemon to exit', () => exited);
    }
    expect(sh('test', ['-S', socket]).status).toBe(0); // systemd's socket: not ours to remove
  });

  it('bad input: the spec error (code 7, naming the key) before anything is created or acquired; an unreachable daemon is named; STATUS', async () => {
    const l = await lab('dhbad');
    const c = l.net.addContainer('a');
    const bad = run(l, 'ADD', 'c1', c.path, conf(l.daemon.socket, { provide: [{ option: 'no-such-option', value: 'x' }] }));
    expect(bad.status).toBe(1);
    expect(bad.json).toMatchObject({ code: 7, msg: expect.stringMatching(/"provide"\[0\]\.option "no-such-option" is not a DHCP option/) });
    const badReq = run(l, 'ADD', 'c1', c.path, conf(l.daemon.socket, { request: 'all' }));
    expect(badReq.json).toMatchObject({ code: 7, msg: expect.stringMatching(/"request" must be a list/) });
    const noDaemon = run(l, 'ADD', 'c1', c.path, conf(join(l.daemon.opts.dir, 'nothing.sock')));
    expect(noDaemon.json).toMatchObject({ code: 999, msg: expect.stringMatching(/error dialing DHCP daemon: dial unix .*nothing\.sock: connect: no such file or directory \(is the dhcp daemon running\?/) });
    // DEL too (as the reference's): the lease is the daemon's to release, the runtime retries until it is back
    expect(run(l, 'DEL', 'c1', c.path, conf(join(l.daemon.opts.dir, 'nothing.sock'))).json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error dialing DHCP daemon/) });
    // the dhcp plugin alone on an interface that does not exist: the daemon's error, nothing kept
    const direct = l.net.run({ plugin: bin('dhcp'), command: 'ADD', conf: conf(l.daemon.socket), containerId: 'c2', netns: c.path, ifname: 'eth7', path: DIST });
    expect(direct.json).toMatchObject({ code: 999, msg: 'error calling DHCP.Allocate: error looking up "eth7": Link not found' });
    const garbage = run(l, 'ADD', 'c1', c.path, '{"cniVersion": "1.0.0", "name": ');
    expect(garbage.json).toMatchObject({ code: 6 });
    expect(links(l, c.name)).toEqual(['lo']);
    expect(l.lan.count('DHCPDISCOVER')).toBe(0);
    expect(l.daemon.records()).toEqual([]);
    const status = (sock: string) => l.net.run({ plugin: bin('dhcp'), command: 'STATUS', conf: conf(sock, {}, '1.1.0'), path: DIST });
    expect(status(l.daemon.socket).status).toBe(0);
    expect(status(join(l.daemon.opts.dir, 'nothing.sock')).json).toMatchObject({ code: 50, msg: expect.stringMatching(/not reachable/) });
  });

  it('no DHCP server: ADD fails after the daemon\'s retries (-timeout, -resendmax) naming why, nothing left; an ADD killed meanwhile leaves no lease keeper', async () => {
    const l = await lab('dhnos');
    l.lan.stop();
    await l.daemon.stop('SIGKILL');
    const d = await startDaemon(l.net, bin('dhcp'), l.net.tempDir(), ['-timeout', '500ms', '-resendmax', '1s']);
    const c = l.net.addContainer('a');
    const cfg = conf(d.socket);
    const add = run(l, 'ADD', 'c1', c.path, cfg);
    expect(add.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error calling DHCP\.Allocate: no DHCPOFFER on eth0 within 0\.5s \(gave up after 4 attempts\)/) });
    expect(links(l, c.name)).toEqual(['lo']);
    expect(d.records()).toEqual([]);
    // a runtime that gives up on a slow ADD kills the plugin: the daemon stops acquiring for it
    const { spawn } = await import('node:child_process');
    const p = spawn('ip', ['netns', 'exec', l.net.host, bin('dhcp')], {
      env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c2', CNI_NETNS: c.path, CNI_IFNAME: 'lo', CNI_PATH: DIST },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    p.stdin.end(JSON.stringify(cfg));
    await waitFor('the acquisition', () => /c2\/dhnet\/lo: acquiring lease/.test(d.log()));
    p.kill('SIGKILL');
    await waitFor('the daemon to drop it', () => /c2\/dhnet\/lo: the plugin hung up before it got the lease; dropping it/.test(d.log()));
    const check = l.net.run({ plugin: bin('dhcp'), command: 'CHECK', conf: cfg, containerId: 'c2', netns: c.path, ifname: 'lo', path: DIST });
    expect(check.json).toMatchObject({ code: 999, msg: 'error calling DHCP.Check: no DHCP lease for c2/dhnet/lo' });
  });

  it('conf/macvlan-dhcp.conflist (master and daemon socket set for the lab) ADDs, CHECKs and DELs as a runtime runs it', async () => {
    const l = await lab('dhconf', { extra: ['--dhcp-option=121,10.200.0.0/16,10.99.0.254,0.0.0.0/0,10.99.0.1'] });
    const list = JSON.parse(readFileSync(join(ROOT, 'conf', 'macvlan-dhcp.conflist'), 'utf8')) as ConfList;
    const mv = list.plugins[0] as Record<string, any>;
    expect(mv).toMatchObject({ type: 'macvlan', master: 'eth1', ipam: { type: 'dhcp' } });
    mv.master = 'lan0';
    mv.ipam.daemonSocketPath = l.daemon.socket;
    const chain = new Chain(list, { hostNetns: l.net.host, path: DIST });
    const c = l.net.addContainer('a');
    const att = { containerId: 'cc1', netns: c.path, ifname: 'eth0', cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=conf-pod' };
    const res = chain.add(att) as any;
    expect(res.ips[0].gateway).toBe('10.99.0.1');
    expect(res.routes).toEqual([{ dst: '10.200.0.0/16', gw: '10.99.0.254' }, { dst: '0.0.0.0/0', gw: '10.99.0.1' }]);
    expect(readFileSync(l.lan.leaseFile, 'utf8')).toMatch(/ conf-pod /);
    chain.check(att);
    chain.del(att);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE') === 1);
    expect(links(l, c.name)).toEqual(['lo']);
  });
});

describe.skipIf(!isRoot || !haveDnsmasq || !haveGoPlugins)('dhcp swap tests with the Go plugins and daemon (Debian 1.1.1)', () => {
  it("Go's macvlan + dhcp plugin with OUR daemon: ADD, CHECK (Go calls DHCP.Allocate: the same lease, no second keeper), DEL releases; ADD with Go, DEL with ours", async () => {
    const l = await lab('dhsw1');
    const a = l.net.addContainer('a');
    const b = l.net.addContainer('b');
    const cfg = conf(l.daemon.socket);
    const add = run(l, 'ADD', 'g1', a.path, cfg, true);
    expect(add.status, add.stdout).toBe(0);
    const ip = l.lan.leaseOf(ID('g1'))!.ip;
    expect(add.json.ips[0]).toMatchObject({ address: `${ip}/24`, gateway: '10.99.0.1' });
    const check = run(l, 'CHECK', 'g1', a.path, withPrev(cfg, add), true);
    expect(check.status, check.stdout).toBe(0);
    expect(l.lan.count('DHCPDISCOVER')).toBe(1);
    expect(l.daemon.log().match(/g1\/dhnet\/eth0: acquiring lease/g)).toHaveLength(1);
    expect(run(l, 'DEL', 'g1', a.path, cfg, true).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip) === 1);

    const add2 = run(l, 'ADD', 'g2', b.path, cfg, true);
    expect(add2.status).toBe(0);
    const ip2 = l.lan.leaseOf(ID('g2'))!.ip;
    const released2 = l.lan.count('DHCPRELEASE', ip2); // dnsmasq may hand out the address just released again
    expect(run(l, 'CHECK', 'g2', b.path, withPrev(cfg, add2)).status).toBe(0); // ours on Go's result
    expect(run(l, 'DEL', 'g2', b.path, cfg).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip2) === released2 + 1);
    expect(links(l, b.name)).toEqual(['lo']);
    expect(l.daemon.records()).toEqual([]);
  });

  it('OUR macvlan + dhcp plugin with the Go daemon: ADD, CHECK (no second lease keeper), DEL releases; ADD with ours, DEL with Go', async () => {
    const l = await lab('dhsw2', {}, goBin('dhcp'));
    const a = l.net.addContainer('a');
    const b = l.net.addContainer('b');
    const cfg = conf(l.daemon.socket, {}, '0.4.0');
    const add = run(l, 'ADD', 'o1', a.path, cfg);
    expect(add.status, add.stdout).toBe(0);
    const ip = l.lan.leaseOf(ID('o1'))!.ip;
    expect(add.json).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', interface: 0, address: `${ip}/24`, gateway: '10.99.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }] });
    expect(addrs(l, a.name)).toEqual([`${ip}/24`]);
    const check = run(l, 'CHECK', 'o1', a.path, withPrev(cfg, add));
    expect(check.status, check.stdout).toBe(0);
    expect(l.daemon.log().match(/o1\/dhnet\/eth0: acquiring lease/g)).toHaveLength(1);
    expect(run(l, 'DEL', 'o1', a.path, cfg).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip) === 1);

    const add2 = run(l, 'ADD', 'o2', b.path, cfg);
    expect(add2.status).toBe(0);
    const ip2 = l.lan.leaseOf(ID('o2'))!.ip;
    const released2 = l.lan.count('DHCPRELEASE', ip2); // dnsmasq may hand out the address just released again
    expect(run(l, 'DEL', 'o2', b.path, cfg, true).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip2) === released2 + 1);
    expect(links(l, b.name)).toEqual(['lo']);
  });

  it('the Go daemon 1.1.1, for comparison: a CHECK starts a second lease keeper that renews the lease after DEL released it; a restart forgets its leases (no release on DEL)', async () => {
    const l = await lab('dhref', {}, goBin('dhcp'));
    const a = l.net.addContainer('a');
    const cfg = conf(l.daemon.socket);
    const add = run(l, 'ADD', 'r1', a.path, cfg, true);
    expect(add.status, add.stdout).toBe(0);
    const ip = l.lan.leaseOf(ID('r1'))!.ip;
    expect(run(l, 'CHECK', 'r1', a.path, withPrev(cfg, add), true).status).toBe(0);
    expect(l.daemon.log().match(/r1\/dhnet\/eth0: acquiring lease/g)).toHaveLength(2);
    expect(run(l, 'DEL', 'r1', a.path, cfg, true).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', ip) === 1);
    const afterRelease = (): string => l.daemon.log().split('r1/dhnet/eth0: releasing lease')[1] ?? '';
    await waitFor('the leaked keeper at work after DEL', () => /r1\/dhnet\/eth0: renewing lease/.test(afterRelease()), 30_000);
    expect(l.daemon.holdsNetns(a.path)).toBe(true); // its leaked keeper's thread still sits in the container's netns

    const b = l.net.addContainer('b');
    expect(run(l, 'ADD', 'r2', b.path, cfg, true).status).toBe(0);
    const ip2 = l.lan.leaseOf(ID('r2'))!.ip;
    const released2 = l.lan.count('DHCPRELEASE', ip2); // dnsmasq may hand out the address just released again
    const dir = l.daemon.opts.dir;
    await l.daemon.stop('SIGTERM'); // 1.1.1 does not handle it: it dies and leaves its socket, which a new one cannot bind
    rmSync(l.daemon.socket);
    await startDaemon(l.net, goBin('dhcp'), dir);
    expect(run(l, 'DEL', 'r2', b.path, cfg, true).status).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(l.lan.count('DHCPRELEASE', ip2)).toBe(released2);
    expect(l.lan.leaseOf(ID('r2'))).toBeDefined();
  });
});
