import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TestNet, bin, goBin, haveGoPlugins, isRoot, sh } from '../helpers/harness.js';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.js';

const ipamConf = (dataDir: string, version = '1.0.0', ipam: object = {}) => ({
  cniVersion: version,
  name: 'hlnet',
  type: 'host-local',
  ipam: {
    type: 'host-local',
    dataDir,
    ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd00:10::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    ...ipam,
  },
});

const storeFiles = (dataDir: string) => (existsSync(join(dataDir, 'hlnet')) ? readdirSync(join(dataDir, 'hlnet')).sort() : []);
const leaseFiles = (dataDir: string) => storeFiles(dataDir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.'));

describe.skipIf(!isRoot)('host-local', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  it('VERSION lists all seven spec versions', () => {
    net = new TestNet('hl');
    const r = net.run({ plugin: bin('host-local'), command: 'VERSION', conf: { cniVersion: '1.1.0' } });
    expect(r.status).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });

  it('prints a dual-stack ADD correctly at every spec version, and the lease files are the reference layout', () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    SUPPORTED_VERSIONS.forEach((v, i) => {
      const r = net.run({ plugin: bin('host-local'), command: 'ADD', conf: ipamConf(dataDir, v), containerId: `ctr${i}`, netns: '/run/netns/none', ifname: 'eth0' });
      expect(r.status, r.stdout).toBe(0);
      const n = i + 2;
      if (v.startsWith('0.1') || v.startsWith('0.2')) {
        expect(r.json).toEqual({
          cniVersion: v,
          ip4: { ip: `10.10.0.${n}/24`, gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }] },
          ip6: { ip: `fd00:10::${n}/64`, gateway: 'fd00:10::1', routes: [{ dst: '::/0' }] },
          dns: {},
        });
      } else {
        const hasVersion = v.startsWith('0.');
        expect(r.json).toEqual({
          cniVersion: v,
          ips: [
            { ...(hasVersion ? { version: '4' } : {}), address: `10.10.0.${n}/24`, gateway: '10.10.0.1' },
            { ...(hasVersion ? { version: '6' } : {}), address: `fd00:10::${n}/64`, gateway: 'fd00:10::1' },
          ],
          routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
          ...(hasVersion ? { dns: {} } : {}),
        });
      }
      expect(readFileSync(join(dataDir, 'hlnet', `10.10.0.${n}`), 'utf8')).toBe(`ctr${i}\r\neth0`);
      expect(statSync(join(dataDir, 'hlnet', `fd00:10::${n}`)).mode & 0o777).toBe(0o600);
    });
    expect(readFileSync(join(dataDir, 'hlnet', 'last_reserved_ip.0'), 'utf8')).toBe('10.10.0.8');
  });

  it('CHECK finds the lease; DEL releases it, twice; CHECK then fails', () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    const base = { plugin: bin('host-local'), conf: ipamConf(dataDir), containerId: 'c1', netns: '/run/netns/none', ifname: 'eth0' };
    expect(net.run({ ...base, command: 'ADD' }).status).toBe(0);
    expect(net.run({ ...base, command: 'CHECK' }).status).toBe(0);
    expect(net.run({ ...base, command: 'DEL' }).status).toBe(0);
    expect(net.run({ ...base, command: 'DEL' }).status).toBe(0);
    expect(leaseFiles(dataDir)).toEqual([]);
    const check = net.run({ ...base, command: 'CHECK' });
    expect(check.status).toBe(1);
    expect(check.json.msg).toBe('host-local: Failed to find address added by container c1');
  });

  it.skipIf(!haveGoPlugins)('matches the Go host-local result and shares one dataDir with it both ways', () => {
    net = new TestNet('hl');
    const ours = net.tempDir();
    const theirs = net.tempDir();
    for (const v of ['0.3.1', '0.4.0', '1.0.0']) {
      const a = net.run({ plugin: bin('host-local'), command: 'ADD', conf: ipamConf(ours, v), containerId: `d${v}`, netns: '/x', ifname: 'eth0' });
      const b = net.run({ plugin: goBin('host-local'), command: 'ADD', conf: ipamConf(theirs, v), containerId: `d${v}`, netns: '/x', ifname: 'eth0' });
      const norm = (j: any) => ({ ...j, dns: undefined });
      expect(norm(a.json)).toEqual(norm(b.json));
    }
    // Go allocates, ours releases; ours allocates, Go releases.
    const mixed = net.tempDir();
    const go = net.run({ plugin: goBin('host-local'), command: 'ADD', conf: ipamConf(mixed), containerId: 'g', netns: '/x', ifname: 'eth0' });
    const ts = net.run({ plugin: bin('host-local'), command: 'ADD', conf: ipamConf(mixed), containerId: 't', netns: '/x', ifname: 'eth0' });
    expect(go.json.ips[0].address).toBe('10.10.0.2/24');
    expect(ts.json.ips[0].address).toBe('10.10.0.3/24'); // ours continues Go's round-robin
    expect(net.run({ plugin: bin('host-local'), command: 'CHECK', conf: ipamConf(mixed), containerId: 'g', netns: '/x', ifname: 'eth0' }).status).toBe(0);
    expect(net.run({ plugin: bin('host-local'), command: 'DEL', conf: ipamConf(mixed), containerId: 'g', ifname: 'eth0' }).status).toBe(0);
    expect(net.run({ plugin: goBin('host-local'), command: 'DEL', conf: ipamConf(mixed), containerId: 't', ifname: 'eth0' }).status).toBe(0);
    expect(leaseFiles(mixed)).toEqual([]);
  });

  it.skipIf(!haveGoPlugins)('100 concurrent ADDs, half ours and half Go, on one dataDir → 100 distinct IPs; DEL of all leaves only lock and last_reserved_ip.*', async () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    const conf = ipamConf(dataDir, '1.0.0', { ranges: [[{ subnet: '10.20.0.0/24' }]], routes: [] });
    const runs = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        net.runAsync({ plugin: i % 2 ? goBin('host-local') : bin('host-local'), command: 'ADD', conf, containerId: `par${i}`, netns: '/x', ifname: 'eth0' }),
      ),
    );
    const failures = runs.filter((r) => r.status !== 0).map((r) => r.stdout + r.stderr);
    expect(failures).toEqual([]);
    const ips = runs.map((r) => r.json.ips[0].address);
    expect(new Set(ips).size).toBe(100);
    expect(leaseFiles(dataDir).length).toBe(100);
    for (const f of leaseFiles(dataDir)) expect(readFileSync(join(dataDir, 'hlnet', f), 'utf8')).toMatch(/^par\d+\r\neth0$/);
    const dels = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        net.runAsync({ plugin: i % 3 ? bin('host-local') : goBin('host-local'), command: 'DEL', conf, containerId: `par${i}`, ifname: 'eth0' }),
      ),
    );
    expect(dels.filter((r) => r.status !== 0)).toEqual([]);
    expect(storeFiles(dataDir)).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('kill -9 of our host-local while it holds the lock: the next ADD gets the lock at once, no duplicate, no corrupt lease', async () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    const conf = ipamConf(dataDir, '1.0.0', { ranges: [[{ subnet: '10.30.0.0/24' }]], routes: [] });
    expect(net.run({ plugin: bin('host-local'), command: 'ADD', conf, containerId: 'first', netns: '/x', ifname: 'eth0' }).status).toBe(0);
    // A FIFO named like a lease: reading it (done under the lock, to detect duplicates) blocks the plugin while it holds the lock.
    const fifo = join(dataDir, 'hlnet', '10.30.0.250');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const holder = spawn('ip', ['netns', 'exec', net.host, bin('host-local')], {
      env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'victim', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/x' },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    holder.stdin.end(JSON.stringify(conf));
    const lockPath = join(dataDir, 'hlnet', 'lock');
    const deadline = Date.now() + 10_000;
    // Wait until the lock is really held by someone (flock -n fails).
    while (sh('flock', ['-n', lockPath, 'true']).status === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sh('flock', ['-n', lockPath, 'true']).status).not.toBe(0);
    // The process that holds it is node (the host-local) under `ip netns exec`; kill it with SIGKILL.
    const pid = sh('pgrep', ['-P', String(holder.pid)]).stdout.trim() || String(holder.pid);
    process.kill(Number(pid), 'SIGKILL');
    await new Promise((r) => holder.on('close', r));
    spawnSync('rm', ['-f', fifo]);
    const t0 = Date.now();
    const next = net.run({ plugin: bin('host-local'), command: 'ADD', conf, containerId: 'second', netns: '/x', ifname: 'eth0' });
    const took = Date.now() - t0;
    expect(next.status, next.stdout).toBe(0);
    expect(took).toBeLessThan(1000);
    expect(next.json.ips[0].address).toBe('10.30.0.3/24');
    const leases = leaseFiles(dataDir);
    expect(leases).toEqual(['10.30.0.2', '10.30.0.3']);
    expect(readFileSync(join(dataDir, 'hlnet', '10.30.0.2'), 'utf8')).toBe('first\r\neth0');
    expect(readFileSync(join(dataDir, 'hlnet', '10.30.0.3'), 'utf8')).toBe('second\r\neth0');
  });

  it('GC (1.1.0) releases exactly the leases not in cni.dev/valid-attachments, including ones the Go plugin wrote', () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    const conf = ipamConf(dataDir, '1.1.0', { ranges: [[{ subnet: '10.40.0.0/24' }]], routes: [] });
    for (const [id, ifname, p] of [['keep', 'eth0', bin], ['keep', 'eth1', bin], ['stale', 'eth0', bin], ['gostale', 'eth0', haveGoPlugins ? goBin : bin]] as const) {
      const r = net.run({ plugin: p('host-local'), command: 'ADD', conf: { ...conf, cniVersion: '1.0.0' }, containerId: id, netns: '/x', ifname });
      expect(r.status, r.stdout).toBe(0);
    }
    writeFileSync(join(dataDir, 'hlnet', '10.40.0.200'), 'legacykeep');
    writeFileSync(join(dataDir, 'hlnet', '10.40.0.201'), 'legacystale');
    const gc = net.run({
      plugin: bin('host-local'),
      command: 'GC',
      conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }, { containerID: 'keep', ifname: 'eth1' }, { containerID: 'legacykeep', ifname: 'eth0' }] },
    });
    expect(gc.status, gc.stdout).toBe(0);
    const left = leaseFiles(dataDir).map((f) => readFileSync(join(dataDir, 'hlnet', f), 'utf8'));
    expect(left.sort()).toEqual(['keep\r\neth0', 'keep\r\neth1', 'legacykeep']);
    expect(storeFiles(dataDir)).toContain('lock');
    expect(storeFiles(dataDir)).toContain('last_reserved_ip.0');
    // The older key name works too; an empty list releases everything.
    expect(net.run({ plugin: bin('host-local'), command: 'GC', conf: { ...conf, 'cni.dev/attachments': [] } }).status).toBe(0);
    expect(leaseFiles(dataDir)).toEqual([]);
  });

  it('STATUS reports whether the store is usable', () => {
    net = new TestNet('hl');
    const dataDir = net.tempDir();
    const conf = ipamConf(dataDir, '1.1.0');
    expect(net.run({ plugin: bin('host-local'), command: 'STATUS', conf }).status).toBe(0);
    const file = join(dataDir, 'not-a-dir');
    writeFileSync(file, '');
    const bad = net.run({ plugin: bin('host-local'), command: 'STATUS', conf: ipamConf(file, '1.1.0') });
    expect(bad.status).toBe(1);
    expect(bad.json.code).toBe(50);
    expect(bad.json.msg).toContain('not-a-dir');
  });
});
