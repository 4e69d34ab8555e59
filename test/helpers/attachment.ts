/**
 * Checks shared by the tests of plugins that attach a container by a veth (bridge, ptp): results compared with the
 * reference's, host veths, masquerade state, leases, and environments that break a step on purpose.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TestNet } from './harness.js';

/** A plugin config with the result of ADD as prevResult (for CHECK and DEL). */
export const withPrev = (conf: Record<string, any>, prev: unknown): Record<string, any> => ({ ...conf, prevResult: prev });

/** Normalize a result for comparison: random veth names and MACs, sandbox path, `dns: {}` ≡ absent. */
export function normResult(j: any): any {
  const out = JSON.parse(JSON.stringify(j));
  if (out.dns && Object.keys(out.dns).length === 0) delete out.dns;
  for (const i of out.interfaces ?? []) {
    if (/^veth[0-9a-f]{8}$/.test(i.name)) i.name = 'vethX';
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(i.mac)) i.mac = 'MAC';
    if (i.sandbox) i.sandbox = 'NS';
  }
  return out;
}

/** Masquerade state in the test's host netns: the iptables/ip6tables nat lines naming a CNI- chain, the nft ruleset. */
export function masqState(t: TestNet): { ipt: string[]; nft: string } {
  const ipt = ['iptables-save', 'ip6tables-save'].flatMap((tool) => t.exec(t.host, tool, ['-t', 'nat']).stdout.split('\n')).filter((l) => l.includes('CNI-'));
  return { ipt, nft: t.exec(t.host, 'nft', ['list', 'ruleset']).stdout };
}

/** The veth links (named veth*) in the test's host netns. */
export const hostVeths = (t: TestNet): string[] =>
  (t.ipJson(t.host, ['-d', 'link', 'show']) as any[]).filter((l) => l.linkinfo?.info_kind === 'veth' && l.ifname.startsWith('veth')).map((l) => l.ifname);

/**
 * The host veths once the kernel has finished tearing down deleted network namespaces: `ip netns del` returns before
 * the namespace (and the host ends of its veths) is gone, which takes a moment under load. Waits up to 5 s.
 */
export function hostVethsSettled(t: TestNet): string[] {
  let left = hostVeths(t);
  for (let i = 0; i < 100 && left.length; i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    left = hostVeths(t);
  }
  return left;
}

/** host-local lease files of `network` under `dataDir` (not the lock and last_reserved_ip files). */
export function leaseFiles(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
}

/** A directory for PATH with the tools a plugin needs but neither iptables nor nft: masquerade cannot be set up. */
export function pathWithoutNetfilter(t: TestNet): string {
  const dir = join(t.tempDir(), 'bin');
  mkdirSync(dir);
  for (const tool of ['/usr/bin/node', '/usr/sbin/ip', '/usr/bin/nsenter', '/usr/sbin/sysctl', '/usr/sbin/bridge', '/usr/bin/flock', '/usr/bin/env']) {
    symlinkSync(tool, join(dir, tool.split('/').pop()!));
  }
  return dir;
}

/** Run `fn` with the netns `name` given as /proc/<pid>/ns/net of a process holding it (not a path under /run/netns). */
export async function withPidNetns<T>(name: string, fn: (path: string) => T): Promise<T> {
  const holder = spawn('ip', ['netns', 'exec', name, 'sleep', '60'], { stdio: 'ignore' });
  try {
    await new Promise((res) => setTimeout(res, 100));
    return fn(`/proc/${holder.pid}/ns/net`);
  } finally {
    holder.kill('SIGKILL');
  }
}
