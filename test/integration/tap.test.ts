/**
 * tap: the built executable run as a runtime runs it, in a throwaway host netns with containers beside it.
 * Debian's 1.1.1 has no tap plugin, so behaviour follows upstream's tap.go and tap_test.go (every spec version, owner
 * and group, a bridge port) plus what the issue asks beyond it: MAC and MTU honoured with owner+group, nothing left by
 * a failed ADD, an ifname that is taken refused. Traffic is real: a process attaches to the tap as a VM's emulator
 * does (test/helpers/tap-attach.pl) and exchanges ARP with the container.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Chain, type ConfList } from '../helpers/chain.js';
import { DIST, ROOT, TestNet, bin, isRoot, shOk, type Invocation } from '../helpers/harness.js';

const NET = 'tapnet';
const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

const leases = (dataDir: string): string[] => {
  const d = join(dataDir, NET);
  return existsSync(d) ? readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
};
const links = (net: TestNet, ns: string): string[] => net.ipJson(ns, ['link', 'show']).map((l: any) => l.ifname);
const detail = (net: TestNet, ns: string, ifname = 'eth0'): any => net.ipJson(ns, ['-d', 'addr', 'show', 'dev', ifname])[0];
const sysctl = (net: TestNet, ns: string, key: string): string => net.exec(ns, 'cat', [`/proc/sys/${key}`]).stdout.trim();
const ipam = (dataDir: string, subnet = '10.77.0.0/24') => ({ type: 'host-local', dataDir, ranges: [[{ subnet, gateway: subnet.replace(/0\/\d+$/, '1') }]], routes: [{ dst: '0.0.0.0/0' }] });

/**
 * Run tap-attach.pl as `uid` inside `ctr` — with /dev/net/tun openable by anyone in a private mount namespace (this
 * machine's is 0600; the kernel's owner/group check is what is tested) — and resolve its output once it exits.
 * `attached` resolves when it holds the tap.
 */
function attach(helperDir: string, ctr: string, uid: number, args: string[]): { attached: Promise<void>; done: Promise<{ status: number; out: string }> } {
  const script = `mount -t tmpfs tmpfs /dev/net && mknod -m 666 /dev/net/tun c 10 200 && exec ip netns exec ${ctr} setpriv --reuid ${uid} --regid ${uid} --clear-groups perl ${helperDir}/tap-attach.pl ${args.join(' ')}`;
  const p = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onAttached: () => void = () => {};
  const attached = new Promise<void>((res) => (onAttached = res));
  p.stdout.on('data', (d) => {
    out += d;
    if (out.includes('attached')) onAttached();
  });
  p.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ status: number; out: string }>((res) => p.on('close', (code) => {
    onAttached();
    res({ status: code ?? 128, out });
  }));
  return { attached, done };
}

describe.skipIf(!isRoot)('tap', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  const inv = (c: { path: string }, containerId: string, config: unknown, extra: Partial<Invocation> = {}): Omit<Invocation, 'hostNetns' | 'command'> => ({
    plugin: bin('tap'),
    conf: config,
    containerId,
    netns: c.path,
    ifname: 'eth0',
    path: DIST,
    ...extra,
  });
  const helperDir = (): string => {
    const d = net.tempDir();
    chmodSync(d, 0o755);
    copyFileSync(join(ROOT, 'test', 'helpers', 'tap-attach.pl'), join(d, 'tap-attach.pl'));
    return d;
  };

  it('every spec version (as upstream tap_test.go): ADD makes a persistent tap with the address, CHECK (0.4.0+), STATUS (1.1.0), DEL twice', () => {
    net = new TestNet('tap');
    const dataDir = net.tempDir();
    for (const v of VERSIONS) {
      const c = net.addContainer(`v${v.replace(/\./g, '')}`);
      const cfg = { cniVersion: v, name: NET, type: 'tap', owner: 0, group: 0, ipam: ipam(dataDir) };
      const id = `ctr-${v}`;
      if (v === '1.1.0') expect(net.run({ ...inv(c, id, cfg), command: 'STATUS' }).status).toBe(0);
      const add = net.run({ ...inv(c, id, cfg), command: 'ADD' });
      expect(add.status, `${v}: ${add.stdout}`).toBe(0);
      expect(add.json.cniVersion).toBe(v);
      const link = detail(net, c.name);
      expect(link.linkinfo).toMatchObject({ info_kind: 'tun', info_data: { type: 'tap', persist: true, user: 'root', group: 'root' } });
      const v4 = link.addr_info.filter((a: any) => a.family === 'inet');
      expect(v4).toHaveLength(1);
      expect(link.flags).toContain('UP');
      expect(sysctl(net, c.name, 'net/ipv4/conf/eth0/arp_notify')).toBe('1');
      expect(links(net, c.name)).toEqual(['lo', 'eth0']);
      if (v.startsWith('0.1') || v.startsWith('0.2')) {
        expect(add.json.ip4.ip).toBe(`${v4[0].local}/24`);
        expect(add.json.ip6).toBeUndefined();
      } else {
        expect(add.json.interfaces).toEqual([{ name: 'eth0', mac: link.address, sandbox: c.path }]);
        expect(add.json.ips).toEqual([{ ...(v.startsWith('0.') ? { version: '4' } : {}), interface: 0, address: `${v4[0].local}/24`, gateway: '10.77.0.1' }]);
        expect(add.json.routes).toEqual([{ dst: '0.0.0.0/0' }]);
      }
      const check = net.run({ ...inv(c, id, { ...cfg, prevResult: add.json }), command: 'CHECK' });
      if (v === '0.4.0' || v.startsWith('1.')) expect(check.status, `${v}: ${check.stdout}`).toBe(0);
      else expect(check.json.code).toBe(1);
      for (let i = 0; i < 2; i++) {
        const del = net.run({ ...inv(c, id, cfg), command: 'DEL' });
        expect(del.status, del.stdout).toBe(0);
      }
      expect(links(net, c.name)).toEqual(['lo']);
    }
    expect(leases(dataDir)).toEqual([]);
  });

  it('the owner can attach to the tap and reads the container\'s traffic; another user cannot attach', async () => {
    net = new TestNet('tapo');
    const dataDir = net.tempDir();
    const helpers = helperDir();
    const c = net.addContainer('c');
    const cfg = { cniVersion: '1.0.0', name: NET, type: 'tap', owner: 1234, group: 1234, ipam: ipam(dataDir) };
    const add = net.run({ ...inv(c, 'own', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(detail(net, c.name).linkinfo.info_data).toMatchObject({ user: 1234, group: 1234 });
    const vm = attach(helpers, c.name, 1234, ['eth0', 'listen', '10.77.0.9']);
    await vm.attached;
    // the container asks for a neighbour behind the tap: the ARP request reaches the process holding the tap
    net.exec(c.name, 'ping', ['-c', '1', '-W', '1', '10.77.0.9']);
    const got = await vm.done;
    expect(got.out).toContain(`request from ${add.json.interfaces[0].mac}`);
    const stranger = await attach(helpers, c.name, 4321, ['eth0', 'listen', '10.77.0.9']).done;
    expect(stranger.status).not.toBe(0);
    expect(stranger.out).toMatch(/TUNSETIFF eth0: Operation not permitted/);
  });

  it('bridge: the tap becomes a port of a bridge in the container; a VM behind it gets an ARP answer through the bridge; CHECK sees a detached port', async () => {
    net = new TestNet('tapb');
    const helpers = helperDir();
    const c = net.addContainer('c');
    shOk('ip', ['-n', c.name, 'link', 'add', 'br0', 'type', 'bridge']);
    shOk('ip', ['-n', c.name, 'addr', 'add', '10.78.0.1/24', 'dev', 'br0']);
    shOk('ip', ['-n', c.name, 'link', 'set', 'br0', 'up']);
    const cfg = { cniVersion: '1.0.0', name: NET, type: 'tap', bridge: 'br0', mac: '02:78:00:00:00:02', mtu: 1400 };
    const add = net.run({ ...inv(c, 'br', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(add.json).toEqual({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:78:00:00:00:02', sandbox: c.path }] });
    const link = detail(net, c.name);
    expect(link).toMatchObject({ master: 'br0', mtu: 1400, address: '02:78:00:00:00:02' });
    expect(link.addr_info.filter((a: any) => a.family === 'inet')).toEqual([]);
    // L2 only: no arp_notify (the reference sets it only with IPAM)
    expect(sysctl(net, c.name, 'net/ipv4/conf/eth0/arp_notify')).toBe('0');
    const vm = attach(helpers, c.name, 0, ['eth0', 'ask', '02:78:00:00:00:99', '10.78.0.9', '10.78.0.1']);
    const got = await vm.done;
    const brMac = net.ipJson(c.name, ['link', 'show', 'dev', 'br0'])[0].address;
    expect(got.out).toContain(`reply from ${brMac}`);
    expect(net.run({ ...inv(c, 'br', { ...cfg, prevResult: add.json }), command: 'CHECK' }).status).toBe(0);
    shOk('ip', ['-n', c.name, 'link', 'set', 'eth0', 'nomaster']);
    const check = net.run({ ...inv(c, 'br', { ...cfg, prevResult: add.json }), command: 'CHECK' });
    expect(check.status).toBe(1);
    expect(check.json.msg).toBe('tap eth0 is not a port of bridge br0');
    expect(net.run({ ...inv(c, 'br', cfg), command: 'DEL' }).status).toBe(0);
    expect(links(net, c.name)).toEqual(['lo', 'br0']);
  });

  it('MAC: runtimeConfig.mac, then CNI_ARGS MAC=, then "mac"; honoured (with the MTU) when owner and group are set; multiQueue', () => {
    net = new TestNet('tapm');
    const base = { cniVersion: '1.0.0', name: NET, type: 'tap', mac: '02:00:00:00:00:03', owner: 0, group: 0, mtu: 9000 };
    const cases: Array<[Record<string, unknown>, string | undefined, string]> = [
      [{ runtimeConfig: { mac: '02:00:00:00:00:01' } }, 'MAC=02:00:00:00:00:02', '02:00:00:00:00:01'],
      [{}, 'IgnoreUnknown=1;K8S_POD_NAME=p;MAC=02:00:00:00:00:02', '02:00:00:00:00:02'],
      [{}, undefined, '02:00:00:00:00:03'],
    ];
    for (const [i, [extra, args, want]] of cases.entries()) {
      const c = net.addContainer(`m${i}`);
      const add = net.run({ ...inv(c, `m${i}`, { ...base, ...extra }, { args }), command: 'ADD' });
      expect(add.status, add.stdout).toBe(0);
      expect(add.json.interfaces[0].mac).toBe(want);
      // the reference's netlink path (owner and group both set) drops the MAC and the MTU; ours keeps both, and the same
      // tun flags as that path (vnet_hdr, packet info)
      expect(detail(net, c.name)).toMatchObject({ address: want, mtu: 9000, linkinfo: { info_data: { vnet_hdr: true, pi: true, multi_queue: false } } });
    }
    const q = net.addContainer('q');
    const mq = net.run({ ...inv(q, 'q', { cniVersion: '1.0.0', name: NET, type: 'tap', multiQueue: true }), command: 'ADD' });
    expect(mq.status, mq.stdout).toBe(0);
    expect(detail(net, q.name).linkinfo.info_data).toMatchObject({ multi_queue: true, pi: false, vnet_hdr: false, persist: true });
    expect(net.run({ ...inv(q, 'q', { cniVersion: '1.0.0', name: NET, type: 'tap', multiQueue: true, prevResult: mq.json }), command: 'CHECK' }).status).toBe(0);
  });

  it('programs run: none with the FFI (ip tuntap add and the rest of the batch in-process); the same tap without it', () => {
    net = new TestNet('tapx');
    const trace = join(net.tempDir(), 'trace');
    const seen: unknown[] = [];
    for (const noFfi of [false, true]) {
      const cfg = { cniVersion: '1.0.0', name: NET, type: 'tap', mac: '02:00:00:00:00:05', mtu: 1400, owner: 0, group: 0, ipam: ipam(net.tempDir()) };
      const c = net.addContainer(noFfi ? 'x' : 'n');
      const env = { CNI_TS_TRACE: trace, ...(noFfi ? { CNI_TS_NO_FFI: '1' } : {}) };
      for (const command of ['ADD', 'DEL'] as const) {
        const r = net.run({ ...inv(c, `x${noFfi}`, cfg, { env }), command });
        expect(r.status, r.stdout).toBe(0);
        if (command === 'ADD') {
          const { ifindex: _i, addr_info, ...tap } = detail(net, c.name);
          seen.push({ tap, addrs: addr_info.map((a: any) => `${a.local}/${a.prefixlen}`) });
        }
        const execs = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string).filter((w) => w.startsWith('exec '));
        rmSync(trace);
        if (noFfi) expect(execs.some((w) => w.startsWith('exec ip ')), command).toBe(true);
        else expect(execs, command).toEqual([]);
      }
      expect(links(net, c.name)).toEqual(['lo']);
    }
    expect(seen[0]).toEqual(seen[1]);
  });

  it('a failed ADD leaves nothing: missing bridge, a "bridge" that is not one, taken ifname, bad mac/mtu, IPAM failure, L2 at 0.2.0', () => {
    net = new TestNet('tapf');
    const dataDir = net.tempDir();
    const c = net.addContainer('c');
    // a foreign eth1 (a veth end) that must survive; a tap named notbr that is no bridge
    shOk('ip', ['-n', c.name, 'link', 'add', 'eth1', 'address', '02:00:00:00:ee:01', 'type', 'veth', 'peer', 'name', 'peer1']);
    shOk('ip', ['-n', c.name, 'tuntap', 'add', 'mode', 'tap', 'name', 'notbr']);
    const before = links(net, c.name).sort();
    const good = { cniVersion: '1.0.0', name: NET, type: 'tap', ipam: ipam(dataDir) };
    const cases: Array<[string, Record<string, unknown>, string, number, RegExp]> = [
      ['missing bridge', { ...good, bridge: 'nobr0' }, 'eth0', 999, /^failed to get bridge nobr0: Link not found/],
      ['not a bridge', { ...good, bridge: 'notbr' }, 'eth0', 999, /^failed to set tap eth0 as a port of bridge notbr: Operation not supported/],
      ['ifname taken', good, 'eth1', 999, /^failed to rename tap to "eth1": file exists/],
      ['multicast mac', { ...good, mac: '01:00:5e:00:00:01' }, 'eth0', 7, /invalid MAC address "01:00:5e:00:00:01" in tap config "mac": it is a multicast address/],
      ['mtu too small', { ...good, mtu: 40 }, 'eth0', 7, /"mtu" is 40, below the minimum 68/],
      ['IPAM failure', { ...good, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24', rangeStart: '10.99.0.1' }]] } }, 'eth0', 7, /RangeStart 10.99.0.1 not in network 10.77.0.0\/24/],
      ['IPAM plugin missing', { ...good, ipam: { type: 'nope' } }, 'eth0', 999, /failed to find plugin "nope"/],
      ['L2 at 0.2.0', { cniVersion: '0.2.0', name: NET, type: 'tap' }, 'eth0', 1, /cannot convert: no valid IP addresses/],
    ];
    for (const [name, cfg, ifname, code, msg] of cases) {
      const r = net.run({ ...inv(c, 'f1', cfg, { ifname }), command: 'ADD' });
      expect(r.status, `${name}: ${r.stdout}`).toBe(1);
      expect(r.json.code, name).toBe(code);
      expect(r.json.msg + (r.json.details ? `: ${r.json.details}` : ''), name).toMatch(msg);
      expect(links(net, c.name).sort(), name).toEqual(before);
      expect(leases(dataDir), name).toEqual([]);
    }
    // the foreign eth1 is untouched
    expect(net.ipJson(c.name, ['-d', 'link', 'show', 'dev', 'eth1'])[0]).toMatchObject({ address: '02:00:00:00:ee:01', linkinfo: { info_kind: 'veth' } });
  });

  it('DEL succeeds and releases the lease with CNI_NETNS="", after the netns is gone, and twice', () => {
    net = new TestNet('tapd');
    const dataDir = net.tempDir();
    const cfg = { cniVersion: '1.0.0', name: NET, type: 'tap', ipam: ipam(dataDir) };
    const a = net.addContainer('a');
    expect(net.run({ ...inv(a, 'd1', cfg), command: 'ADD' }).status).toBe(0);
    const noNetns = net.run({ ...inv(a, 'd1', cfg, { netns: '' }), command: 'DEL' });
    expect(noNetns.status, noNetns.stdout).toBe(0);
    expect(leases(dataDir)).toEqual([]);
    // the link stays: without a netns DEL cannot know where it is (the runtime removes the netns)
    expect(links(net, a.name)).toEqual(['lo', 'eth0']);
    const b = net.addContainer('b');
    expect(net.run({ ...inv(b, 'd2', cfg), command: 'ADD' }).status).toBe(0);
    net.removeNetns(b.name);
    for (let i = 0; i < 2; i++) expect(net.run({ ...inv(b, 'd2', cfg), command: 'DEL' }).status).toBe(0);
    expect(leases(dataDir)).toEqual([]);
  });

  it('conf/50-tap-bridge.conflist through a libcni-like runner: the MAC capability, a multi-queue tap owned by 107 on br0; CHECK; DEL', () => {
    net = new TestNet('tapc');
    const list = JSON.parse(readFileSync(join(ROOT, 'conf', '50-tap-bridge.conflist'), 'utf8')) as ConfList;
    const chain = new Chain(list, { hostNetns: net.host, path: DIST });
    const c = net.addContainer('c');
    shOk('ip', ['-n', c.name, 'link', 'add', 'br0', 'type', 'bridge']);
    shOk('ip', ['-n', c.name, 'link', 'set', 'br0', 'up']);
    const r = chain.add({ containerId: 'vm1', netns: c.path, capabilityArgs: { mac: '02:50:00:00:00:01' } });
    expect(r.interfaces).toEqual([{ name: 'eth0', mac: '02:50:00:00:00:01', sandbox: c.path }]);
    expect(detail(net, c.name)).toMatchObject({
      master: 'br0',
      address: '02:50:00:00:00:01',
      linkinfo: { info_kind: 'tun', info_data: { type: 'tap', multi_queue: true, persist: true, user: 107, group: 107 } },
    });
    chain.check({ containerId: 'vm1', netns: c.path });
    chain.del({ containerId: 'vm1', netns: c.path });
    expect(links(net, c.name)).toEqual(['lo', 'br0']);
  });

  it('selinuxContext on a host without SELinux: the tap is made as without it (nothing to label)', () => {
    expect(existsSync('/sys/fs/selinux/enforce')).toBe(false);
    net = new TestNet('taps');
    const c = net.addContainer('c');
    const cfg = { cniVersion: '1.0.0', name: NET, type: 'tap', selinuxContext: 'system_u:system_r:container_t:s0' };
    const add = net.run({ ...inv(c, 's1', cfg), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(detail(net, c.name).linkinfo.info_data.type).toBe('tap');
  });
});
