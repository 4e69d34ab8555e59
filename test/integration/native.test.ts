/**
 * In-process libc calls (lib/native.ts): the executable takes the lease lock with flock(2) and writes container
 * sysctls after setns(2) instead of exec'ing `flock` and `nsenter … sysctl`. CNI_TS_NO_FFI=1 forces the exec path
 * (what runs where FFI is unavailable). Both must give the same outcome, and the two lock paths must exclude each
 * other and the Go host-local.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNet, bin, goBin, haveGoPlugins, isRoot } from '../helpers/harness.js';

describe.skipIf(!isRoot)('in-process flock and setns', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  const bridgeConf = (dataDir: string) => ({
    cniVersion: '1.0.0', name: 'nativenet', type: 'bridge', bridge: 'cninat0', isGateway: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd78::/64' }]] },
  });

  function addTraced(noFfi: boolean) {
    const c = net!.addContainer(noFfi ? 'x' : 'n');
    const dir = net!.tempDir();
    const trace = join(dir, 'trace');
    const env: Record<string, string> = { CNI_TS_TRACE: trace, ...(noFfi ? { CNI_TS_NO_FFI: '1' } : {}) };
    const r = net!.run({ plugin: bin('bridge'), command: 'ADD', conf: bridgeConf(dir), containerId: noFfi ? 'x1' : 'n1', netns: c.path, ifname: 'eth0', env });
    const what = existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what as string) : [];
    const sysctl = (k: string) => net!.exec(c.name, 'cat', [`/proc/sys/${k}`]).stdout.trim();
    return { r, what, sysctl, leases: readdirSync(join(dir, 'nativenet')).filter((f) => /^10\.|^fd/.test(f)) };
  }

  it('bridge ADD sets the container sysctls and takes the lease lock in-process, without flock or nsenter execs', () => {
    net = new TestNet('ffi');
    const a = addTraced(false);
    expect(a.r.status, a.r.stdout).toBe(0);
    expect(a.what).toContain('flock(2)');
    expect(a.what).toContain('setns+sysctl');
    expect(a.what.filter((w) => /^exec (flock|nsenter)/.test(w))).toEqual([]);
    expect(a.sysctl('net/ipv4/conf/eth0/arp_notify')).toBe('1');
    expect(a.sysctl('net/ipv6/conf/eth0/accept_dad')).toBe('0');
    expect(a.leases.sort()).toEqual(['10.78.0.2', 'fd78::2']);
  });

  it('CNI_TS_NO_FFI=1: the same outcome through the flock and nsenter sysctl execs', () => {
    net = new TestNet('noffi');
    const a = addTraced(true);
    expect(a.r.status, a.r.stdout).toBe(0);
    expect(a.what).not.toContain('flock(2)');
    expect(a.what.some((w) => w.startsWith('exec flock -x'))).toBe(true);
    expect(a.what.some((w) => /^exec nsenter --net=\S+ -- sysctl/.test(w))).toBe(true);
    expect(a.sysctl('net/ipv4/conf/eth0/arp_notify')).toBe('1');
    expect(a.sysctl('net/ipv6/conf/eth0/accept_dad')).toBe('0');
    expect(a.leases.sort()).toEqual(['10.78.0.2', 'fd78::2']);
  });

  it.skipIf(!haveGoPlugins)('60 concurrent host-local ADDs, a third each flock(2), flock(1) and Go, share one store: 60 distinct IPs', async () => {
    net = new TestNet('ffilock');
    const dataDir = net.tempDir();
    const conf = { cniVersion: '1.0.0', name: 'locknet', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.4.0/24' }]] } };
    const runs = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        net!.runAsync({
          plugin: i % 3 === 2 ? goBin('host-local') : bin('host-local'),
          command: 'ADD',
          conf,
          containerId: `lk${i}`,
          netns: '/x',
          ifname: 'eth0',
          env: i % 3 === 1 ? { CNI_TS_NO_FFI: '1' } : {},
        }),
      ),
    );
    for (const r of runs) expect(r.status, r.stdout).toBe(0);
    const ips = runs.map((r) => r.json.ips[0].address);
    expect(new Set(ips).size).toBe(60);
    expect(readdirSync(join(dataDir, 'locknet')).filter((f) => f.startsWith('10.'))).toHaveLength(60);
  });
});
