/**
 * dhcp IPAM behind the interface plugins other than macvlan (dhcp.test.ts has macvlan and the daemon itself): the
 * daemon runs its DHCP client on the container's interface, so the plugin must create it (up, connected) before the
 * IPAM ADD — and in that order a failed IPAM must still leave nothing. dnsmasq serves a throwaway "LAN" netns
 * (test/helpers/dhcp.ts: `lan0` in the test's host netns, `lan0p` in the LAN); the daemon runs in the host netns with
 * its socket and state in a temp dir.
 *
 * - bridge: a bridge in the host netns with the LAN uplink `lan0` as a port (as on a real host);
 * - host-device: `lan0` itself moved into the container;
 * - tap: `lan0` moved into the container and a "VM" attached to the tap that passes frames to it (tap-relay.pl);
 * - ptp, dummy: cannot reach any DHCP server (see lib/cni/linkfirst.ts) — refused before anything is made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostVeths, hostVethsSettled, masqState, normResult } from '../helpers/attachment.js';
import { DhcpDaemon, DhcpLan, haveDnsmasq, waitFor, type LanOptions } from '../helpers/dhcp.js';
import { DIST, GO_PLUGINS, ROOT, TestNet, bin, goBin, haveGoPlugins, isRoot, ping, shOk, type Invocation, type PluginRun } from '../helpers/harness.js';

const NET = 'dhif';
const ID = (c: string, ifname = 'eth0'): string => `${c}/${NET}/${ifname}`;
const ROUTER = '10.97.0.1';

interface Lab {
  net: TestNet;
  lan: DhcpLan;
  daemon: DhcpDaemon;
}

const labs: Lab[] = [];
const stops: Array<() => void> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s();
  for (const l of labs.splice(0)) {
    await l.daemon?.stop('SIGKILL').catch(() => undefined);
    l.lan.stop();
    l.net.cleanup();
  }
});

async function lab(label: string, lan: Partial<LanOptions> = {}, daemonArgs: string[] = []): Promise<Lab> {
  const net = new TestNet(label);
  const l: Lab = { net, lan: new DhcpLan(net, { prefix: '10.97.0', ...lan }), daemon: undefined as unknown as DhcpDaemon };
  labs.push(l);
  await l.lan.start();
  l.daemon = await new DhcpDaemon(net, { bin: bin('dhcp'), dir: net.tempDir(), args: daemonArgs }).start();
  return l;
}

const ipam = (socket: string): Record<string, unknown> => ({ type: 'dhcp', daemonSocketPath: socket });
const base = (type: string, socket: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: NET,
  type,
  ipam: ipam(socket),
  ...over,
});
const noDaemon = (l: Lab): string => join(l.daemon.opts.dir, 'nothing.sock');

function run(l: Lab, plugin: string, command: string, containerId: string, netns: string, config: unknown, extra: Partial<Invocation> = {}): PluginRun {
  const path = plugin.startsWith(GO_PLUGINS) ? GO_PLUGINS : DIST;
  return l.net.run({ plugin, command, conf: config, containerId, netns, ifname: 'eth0', path, ...extra });
}

const withPrev = (config: Record<string, unknown>, add: PluginRun): Record<string, unknown> => ({ ...config, prevResult: add.json });
const links = (l: Lab, ns: string): string[] => l.net.ipJson(ns, ['link', 'show']).map((x: { ifname: string }) => x.ifname);
const link = (l: Lab, ns: string, ifname: string): any => l.net.ipJson(ns, ['-d', 'addr', 'show', 'dev', ifname])[0];
const addrs = (l: Lab, ns: string, ifname = 'eth0'): string[] =>
  l.net.ipJson(ns, ['-4', 'addr', 'show', 'dev', ifname])[0]?.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`) ?? [];
const routes = (l: Lab, ns: string): string[] => l.net.exec(ns, 'ip', ['-4', 'route', 'show']).stdout.trim().split('\n').map((r) => r.trim());

/** The host's bridge `br` with the LAN uplink lan0 as a port, up (as a host with its LAN on a bridge). */
function lanBridge(l: Lab, br = 'br0', addr?: string): void {
  shOk('ip', ['-n', l.net.host, '-batch', '-'], [
    `link add ${br} type bridge`,
    `link set lan0 master ${br}`,
    `link set ${br} up`,
    ...(addr ? [`addr add ${addr} dev ${br}`] : []),
  ].join('\n') + '\n');
}

/** The lease dnsmasq holds for `id`, after DEL: released (a DHCPRELEASE logged, gone from its lease file). */
async function expectReleased(l: Lab, id: string, ip: string): Promise<void> {
  await waitFor(`the DHCPRELEASE of ${ip}`, () => l.lan.count('DHCPRELEASE', ip) === 1).catch((e) => {
    throw new Error(`${(e as Error).message}\ndnsmasq:\n${l.lan.log()}\ndaemon:\n${l.daemon.log()}`);
  });
  expect(l.lan.leaseOf(id)).toBeUndefined();
  expect(l.daemon.records()).toEqual([]);
}

/** Nothing asked of the DHCP server or kept by the daemon. */
function expectNoLease(l: Lab): void {
  expect(l.lan.count('DHCPDISCOVER')).toBe(0);
  expect(l.lan.leases()).toEqual([]);
  expect(l.daemon.records()).toEqual([]);
}

describe.skipIf(!isRoot || !haveDnsmasq)('dhcp behind bridge, host-device, tap (link first); ptp and dummy refused', () => {
  it('bridge + dhcp: the veth is a port of the LAN bridge before the IPAM ADD; lease acquired (client id, MAC of the container end), CHECK, DEL releases it; DEL again; nothing left but the bridge', async () => {
    const l = await lab('dhbr');
    lanBridge(l);
    const c = l.net.addContainer('a');
    const cfg = base('bridge', l.daemon.socket, { bridge: 'br0' });
    const add = run(l, bin('bridge'), 'ADD', 'c1', c.path, cfg);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(lease, JSON.stringify(l.lan.leases())).toBeDefined();
    const [veth] = hostVeths(l.net);
    const eth0 = link(l, c.name, 'eth0');
    expect(lease.mac).toBe(eth0.address);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'br0', mac: link(l, l.net.host, 'br0').address },
        { name: veth, mac: link(l, l.net.host, veth!).address },
        { name: 'eth0', mac: eth0.address, sandbox: c.path },
      ],
      ips: [{ interface: 2, address: `${lease.ip}/24`, gateway: ROUTER }],
      routes: [{ dst: '0.0.0.0/0', gw: ROUTER }],
    });
    expect(link(l, l.net.host, veth!).master).toBe('br0');
    expect(addrs(l, c.name)).toEqual([`${lease.ip}/24`]);
    expect(routes(l, c.name)).toContain(`default via ${ROUTER} dev eth0`);
    expect(ping(c.name, ROUTER)).toBe(true);
    expect(addrs(l, l.net.host, 'br0')).toEqual([]); // not a gateway: the bridge gets no address

    const check = run(l, bin('bridge'), 'CHECK', 'c1', c.path, withPrev(cfg, add));
    expect(check.status, check.stdout).toBe(0);
    expect(l.lan.count('DHCPDISCOVER')).toBe(1);

    const del = run(l, bin('bridge'), 'DEL', 'c1', c.path, cfg);
    expect(del.status, del.stdout).toBe(0);
    await expectReleased(l, ID('c1'), lease.ip);
    expect(links(l, c.name)).toEqual(['lo']);
    expect(hostVethsSettled(l.net)).toEqual([]);
    expect(run(l, bin('bridge'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
    expect(link(l, l.net.host, 'lan0').master).toBe('br0'); // the host's bridge and uplink are left as they were
  });

  it('bridge + dhcp with isGateway and ipMasq (the host is the router: the bridge already holds its address, as libvirt\'s virbr0): gateway kept, masquerade set up and removed', async () => {
    const l = await lab('dhbrgw', { extra: ['--dhcp-option=3,10.97.0.254'] });
    lanBridge(l, 'br0', '10.97.0.254/24');
    const c = l.net.addContainer('a');
    const cfg = base('bridge', l.daemon.socket, { bridge: 'br0', isGateway: true, ipMasq: true });
    const add = run(l, bin('bridge'), 'ADD', 'c1', c.path, cfg);
    expect(add.status, add.stdout).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(add.json.ips).toEqual([{ interface: 2, address: `${lease.ip}/24`, gateway: '10.97.0.254' }]);
    expect(addrs(l, l.net.host, 'br0')).toEqual(['10.97.0.254/24']);
    expect(routes(l, c.name)).toContain('default via 10.97.0.254 dev eth0');
    expect(ping(c.name, '10.97.0.254')).toBe(true);
    expect(masqState(l.net).ipt.length).toBeGreaterThan(0);
    expect(run(l, bin('bridge'), 'CHECK', 'c1', c.path, withPrev(cfg, add)).status).toBe(0);
    expect(run(l, bin('bridge'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await expectReleased(l, ID('c1'), lease.ip);
    expect(masqState(l.net).ipt).toEqual([]);
    expect(hostVethsSettled(l.net)).toEqual([]);
  });

  it('bridge + dhcp fails cleanly: daemon unreachable (nothing asked, no veth); a failure after the lease (the bridge holds another address) releases it before the veth goes', async () => {
    const l = await lab('dhbrf');
    lanBridge(l, 'br0', '10.97.0.200/24');
    const c = l.net.addContainer('a');
    const down = run(l, bin('bridge'), 'ADD', 'c1', c.path, base('bridge', noDaemon(l), { bridge: 'br0' }));
    expect(down.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error dialing DHCP daemon/) });
    expect(links(l, c.name)).toEqual(['lo']);
    expect(hostVethsSettled(l.net)).toEqual([]);
    expectNoLease(l);

    // isGateway wants the router's address (10.97.0.1/24) on a bridge that has 10.97.0.200/24: refused after the lease
    const cfg = base('bridge', l.daemon.socket, { bridge: 'br0', isGateway: true });
    const gw = run(l, bin('bridge'), 'ADD', 'c2', c.path, cfg);
    expect(gw.json).toMatchObject({ code: 999, msg: expect.stringMatching(/"br0" already has an IP address different from 10\.97\.0\.1\/24/) });
    const offered = /DHCPACK\(lan0p\) (\S+)/.exec(l.lan.log())![1]!;
    await expectReleased(l, ID('c2'), offered);
    expect(links(l, c.name)).toEqual(['lo']);
    expect(hostVethsSettled(l.net)).toEqual([]);
    expect(addrs(l, l.net.host, 'br0')).toEqual(['10.97.0.200/24']);
  });

  it.skipIf(!haveGoPlugins)("the Go bridge + our daemon (the reference also makes the veth first): a lease, the same result shape; ADD with Go, DEL with ours releases it", async () => {
    const l = await lab('dhbrgo');
    lanBridge(l);
    const c = l.net.addContainer('a');
    const d = l.net.addContainer('b');
    const cfg = base('bridge', l.daemon.socket, { bridge: 'br0' });
    const go = run(l, goBin('bridge'), 'ADD', 'cgo', c.path, cfg);
    expect(go.status, go.stdout).toBe(0);
    const ours = run(l, bin('bridge'), 'ADD', 'cts', d.path, cfg);
    expect(ours.status, ours.stdout).toBe(0);
    const shape = (r: PluginRun): unknown => ({ ...normResult(r.json), ips: r.json.ips.map((i: any) => ({ ...i, address: `${i.address.split('.').length}` })) });
    expect(shape(ours)).toEqual(shape(go));
    const goLease = l.lan.leaseOf(ID('cgo'))!;
    expect(run(l, bin('bridge'), 'DEL', 'cgo', c.path, cfg).status).toBe(0);
    await waitFor('the release', () => l.lan.count('DHCPRELEASE', goLease.ip) === 1);
    expect(run(l, bin('bridge'), 'DEL', 'cts', d.path, cfg).status).toBe(0);
    await waitFor('both releases', () => l.lan.count('DHCPRELEASE') === 2);
    expect(l.lan.leases()).toEqual([]);
    expect(hostVethsSettled(l.net)).toEqual([]);
  });

  it('host-device + dhcp: the device moves in (renamed, up) before the IPAM ADD; lease over it, CHECK; DEL releases and gives it back; a failed ADD gives it back with its name', async () => {
    const l = await lab('dhhd');
    const c = l.net.addContainer('a');
    const hostMac = link(l, l.net.host, 'lan0').address;
    const cfg = base('host-device', l.daemon.socket, { device: 'lan0' });
    const add = run(l, bin('host-device'), 'ADD', 'c1', c.path, cfg);
    expect(add.status, add.stdout).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(lease.mac).toBe(hostMac);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: hostMac, sandbox: c.path }],
      ips: [{ interface: 0, address: `${lease.ip}/24`, gateway: ROUTER }],
      routes: [{ dst: '0.0.0.0/0', gw: ROUTER }],
    });
    expect(links(l, l.net.host)).not.toContain('lan0');
    expect(addrs(l, c.name)).toEqual([`${lease.ip}/24`]);
    expect(ping(c.name, ROUTER)).toBe(true);
    expect(run(l, bin('host-device'), 'CHECK', 'c1', c.path, withPrev(cfg, add)).status).toBe(0);
    expect(run(l, bin('host-device'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await expectReleased(l, ID('c1'), lease.ip);
    expect(links(l, c.name)).toEqual(['lo']);
    expect(link(l, l.net.host, 'lan0')).toMatchObject({ address: hostMac }); // back, down (as the reference's DEL)

    shOk('ip', ['-n', l.net.host, 'link', 'set', 'lan0', 'up']);
    const down = run(l, bin('host-device'), 'ADD', 'c2', c.path, base('host-device', noDaemon(l), { device: 'lan0' }));
    expect(down.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error dialing DHCP daemon/) });
    expect(links(l, c.name)).toEqual(['lo']);
    const back = link(l, l.net.host, 'lan0');
    expect(back).toMatchObject({ address: hostMac, flags: expect.arrayContaining(['UP']) });
    expect(back.ifalias ?? '').toBe('');
    expect(l.lan.count('DHCPDISCOVER')).toBe(1);
  });

  it.skipIf(!haveGoPlugins)('the Go host-device + our daemon gets the lease too; ADD with Go, DEL with ours releases it and gives the device back', async () => {
    const l = await lab('dhhdgo');
    const c = l.net.addContainer('a');
    const cfg = base('host-device', l.daemon.socket, { device: 'lan0' });
    const add = run(l, goBin('host-device'), 'ADD', 'c1', c.path, cfg);
    expect(add.status, add.stdout).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    expect(add.json.ips).toEqual([{ interface: 0, address: `${lease.ip}/24`, gateway: ROUTER }]);
    expect(run(l, bin('host-device'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await expectReleased(l, ID('c1'), lease.ip);
    expect(links(l, l.net.host)).toContain('lan0');
  });

  /** lan0 moved into the container, and a "VM" attached to its tap eth0 that passes frames to lan0 (tap-relay.pl). */
  function tapLan(l: Lab, ctr: string): { attached: Promise<void>; proc: ChildProcess } {
    shOk('ip', ['-n', l.net.host, 'link', 'set', 'lan0', 'netns', ctr]);
    shOk('ip', ['-n', ctr, 'link', 'set', 'lan0', 'promisc', 'on', 'up']);
    // Real-time priority, as a VM's vhost thread that drains the tap at once: DEL deletes the tap right after the
    // daemon queued the DHCPRELEASE on it, and a frame still queued then is lost with the tap.
    const proc = spawn('ip', ['netns', 'exec', ctr, 'chrt', '-f', '1', 'perl', join(ROOT, 'test', 'helpers', 'tap-relay.pl'), 'eth0', 'lan0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    stops.push(() => proc.kill('SIGKILL'));
    let out = '';
    const attached = new Promise<void>((res, rej) => {
      proc.stdout!.on('data', (d) => (out += d) && out.includes('attached') && res());
      proc.stderr!.on('data', (d) => (out += d));
      proc.on('close', () => rej(new Error(`tap-relay exited: ${out}`)));
    });
    attached.catch(() => undefined);
    return { attached, proc };
  }

  it('tap + dhcp: the tap is made and up before the IPAM ADD (as the reference); once the VM side attaches its DHCP gets through: lease, address, CHECK, DEL releases it (over the tap) and removes the tap', async () => {
    const l = await lab('dhtap');
    const c = l.net.addContainer('a');
    const vm = tapLan(l, c.name);
    const cfg = base('tap', l.daemon.socket);
    const add = await l.net.runAsync({ plugin: bin('tap'), command: 'ADD', conf: cfg, containerId: 'c1', netns: c.path, ifname: 'eth0', path: DIST });
    await vm.attached;
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const lease = l.lan.leaseOf(ID('c1'))!;
    const tap = link(l, c.name, 'eth0');
    expect(tap.linkinfo).toMatchObject({ info_kind: 'tun', info_data: { type: 'tap', persist: true } });
    expect(lease.mac).toBe(tap.address);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: tap.address, sandbox: c.path }],
      ips: [{ interface: 0, address: `${lease.ip}/24`, gateway: ROUTER }],
      routes: [{ dst: '0.0.0.0/0', gw: ROUTER }],
    });
    expect(addrs(l, c.name)).toEqual([`${lease.ip}/24`]);
    expect(l.net.exec(c.name, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('1');
    expect(ping(c.name, ROUTER)).toBe(true);
    expect(run(l, bin('tap'), 'CHECK', 'c1', c.path, withPrev(cfg, add)).status).toBe(0);
    expect(run(l, bin('tap'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
    await expectReleased(l, ID('c1'), lease.ip);
    expect(links(l, c.name)).toEqual(['lo', 'lan0']);
  });

  it('tap + dhcp fails cleanly: daemon unreachable, and nothing attached to the tap (no carrier: the daemon\'s retries run out) — no tap left, no lease', async () => {
    const l = await lab('dhtapf', {}, ['-timeout', '500ms', '-resendmax', '1s']);
    const c = l.net.addContainer('a');
    const down = run(l, bin('tap'), 'ADD', 'c1', c.path, base('tap', noDaemon(l)));
    expect(down.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error dialing DHCP daemon/) });
    expect(links(l, c.name)).toEqual(['lo']);
    const lonely = run(l, bin('tap'), 'ADD', 'c2', c.path, base('tap', l.daemon.socket));
    expect(lonely.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^error calling DHCP\.Allocate: no DHCPOFFER on eth0 within 0\.5s \(gave up after \d+ attempts\)/) });
    expect(links(l, c.name)).toEqual(['lo']);
    expectNoLease(l);
  }, 60_000);

  it('ptp + dhcp is refused (code 7, naming why) before anything is created or asked for; the Go ptp fails too (it asks the IPAM before the veth exists); DEL succeeds', async () => {
    const l = await lab('dhptp');
    const c = l.net.addContainer('a');
    const cfg = base('ptp', l.daemon.socket);
    const add = run(l, bin('ptp'), 'ADD', 'c1', c.path, cfg);
    expect(add.status).toBe(1);
    expect(add.json).toMatchObject({ code: 7, msg: expect.stringMatching(/^ptp cannot get its addresses from "ipam" type "dhcp": .*no DHCP server can answer/), details: expect.stringMatching(/bridge/) });
    expect(links(l, c.name)).toEqual(['lo']);
    expect(hostVeths(l.net)).toEqual([]);
    expect(l.daemon.log()).not.toMatch(/acquiring/);
    if (haveGoPlugins) {
      const go = run(l, goBin('ptp'), 'ADD', 'c2', c.path, cfg);
      expect(go.status).not.toBe(0);
      expect(go.stdout).toMatch(/Link not found/);
      expect(links(l, c.name)).toEqual(['lo']);
    }
    expectNoLease(l);
    expect(run(l, bin('ptp'), 'DEL', 'c1', c.path, cfg).status).toBe(0);
  });

  it('dummy + dhcp is refused (code 7, naming why) before anything is created or asked for', async () => {
    const l = await lab('dhdum');
    const c = l.net.addContainer('a');
    const add = run(l, bin('dummy'), 'ADD', 'c1', c.path, base('dummy', l.daemon.socket));
    expect(add.json).toMatchObject({ code: 7, msg: expect.stringMatching(/^dummy cannot get its addresses from "ipam" type "dhcp": a dummy interface drops every frame/) });
    expect(links(l, c.name)).toEqual(['lo']);
    expectNoLease(l);
  });
});
