/**
 * scripts/install.sh --replace-all: cni-ts takes over every name of the reference plugins tarball in a CNI bin dir
 * that already holds the Go plugins and files of others — with no Node on the machine (every node binary covered in a
 * private mount namespace), every name atomically replaced (runtimes executing plugins meanwhile never miss one),
 * other files left alone; and nothing at all when the source lacks a reference name.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, GO_PLUGINS, ROOT, TestNet, coverNodeScript, haveGoPlugins, isRoot, sh } from '../helpers/harness.js';

/** What containernetworking/plugins' release tarball (v1.x) ships, written out here independently of install.sh. */
const REFERENCE = ['bandwidth', 'bridge', 'dhcp', 'dummy', 'firewall', 'host-device', 'host-local', 'ipvlan', 'loopback', 'macvlan', 'portmap', 'ptp', 'sbr', 'static', 'tap', 'tuning', 'vlan', 'vrf'];
const INSTALL = join(ROOT, 'scripts', 'install.sh');

/** Every file of a dir: name → what it is (link target, or sha256 + mode of a file). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    const st = lstatSync(p);
    out[n] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${(st.mode & 0o7777).toString(8)}`;
  }
  return out;
}

/** A source dir like a release: cni-ts and a link per name. */
function source(dir: string, names: readonly string[]): string {
  mkdirSync(dir);
  copyFileSync(join(DIST, 'cni-ts'), join(dir, 'cni-ts'));
  chmodSync(join(dir, 'cni-ts'), 0o755);
  for (const n of names) symlinkSync('cni-ts', join(dir, n));
  return dir;
}

/** A bin dir as a node has it: Debian's Go plugins (1.1.1, no dummy/tap), someone's own plugin, a link to elsewhere. */
function populatedBinDir(dir: string): string {
  mkdirSync(dir);
  for (const n of readdirSync(GO_PLUGINS)) copyFileSync(join(GO_PLUGINS, n), join(dir, n));
  for (const n of readdirSync(dir)) chmodSync(join(dir, n), 0o755);
  writeFileSync(join(dir, 'my-plugin'), '#!/bin/sh\necho mine\n', { mode: 0o750 });
  symlinkSync('/usr/lib/cni/bridge', join(dir, 'go-bridge'));
  return dir;
}

/** install.sh with no node reachable (as on a node that never had Node.js). */
function install(args: string[]): { status: number; out: string } {
  const q = (s: string) => `'${s}'`;
  const r = sh('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${coverNodeScript()} && bash ${q(INSTALL)} ${args.map(q).join(' ')}`]);
  return { status: r.status, out: r.stdout + r.stderr };
}

describe.skipIf(!isRoot || !haveGoPlugins)('install.sh --replace-all', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  it('replaces every reference name in a bin dir holding the Go plugins, atomically, leaving other files alone; the plugins work', async () => {
    net = new TestNet('inst');
    const dir = net.tempDir();
    const src = source(join(dir, 'src'), REFERENCE);
    const bin = populatedBinDir(join(dir, 'bin'));
    const before = snapshot(bin);
    // runtimes keep executing plugins while the install runs: none may ever be missing
    const stop = join(dir, 'stop');
    // (a shell test of every name, thousands of times a second: a remove-then-create install shows up here, a rename never)
    const names = REFERENCE.filter((p) => existsSync(join(bin, p))).join(' ');
    const loop = spawn('sh', ['-c', `n=0; while [ ! -e '${stop}' ]; do for p in ${names}; do [ -x '${bin}'/$p ] || echo "MISSING $p"; n=$((n+1)); done; done; echo "RUNS $n"`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let loopOut = '';
    loop.stdout.on('data', (d) => (loopOut += d));
    const looped = new Promise((res) => loop.on('close', res));
    await new Promise((res) => setTimeout(res, 300));
    const r = install(['--from', src, '--no-deps', '--replace-all', bin]);
    writeFileSync(stop, '');
    await looped;
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/every reference plugin in .* is now cni-ts/);
    expect(loopOut).not.toMatch(/MISSING/);
    expect(Number(/RUNS (\d+)/.exec(loopOut)?.[1])).toBeGreaterThan(0);

    const after = snapshot(bin);
    for (const n of REFERENCE) expect(after[n], n).toBe('-> cni-ts');
    expect(after['cni-ts']).toBe(snapshot(src)['cni-ts']!.replace(/ \d+$/, ' 755'));
    // someone else's files: untouched; no staging files left
    for (const n of ['my-plugin', 'go-bridge']) expect(after[n], n).toBe(before[n]);
    expect(Object.keys(after).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(Object.keys(after).sort()).toEqual([...new Set([...Object.keys(before), ...REFERENCE, 'cni-ts'])].sort());

    // each reference name now answers as cni-ts: its VERSION (1.1.0 among them; Go 1.1.1 stops at 1.0.0), or, for a name
    // this build has no plugin for yet (the source here links every name), cni-ts's own complaint
    for (const n of REFERENCE) {
      const v = sh('env', ['CNI_COMMAND=VERSION', join(bin, n)]);
      if (existsSync(join(DIST, n))) expect(JSON.parse(v.stdout).supportedVersions, n).toContain('1.1.0');
      else expect(v.stderr, n).toMatch(/^cni-ts: invoke me by one of my names/);
    }
    const conf = { cniVersion: '1.0.0', name: 'instnet', ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.79.2.0/24' }]] } };
    const base = { containerId: 'inst1', netns: '/x', ifname: 'eth0', path: bin, conf };
    const add = net.run({ ...base, plugin: join(bin, 'host-local'), command: 'ADD' });
    expect(add.json.ips[0].address).toBe('10.79.2.2/24');
    expect(net.run({ ...base, plugin: join(bin, 'host-local'), command: 'DEL' }).status).toBe(0);

    // a second run over itself is fine and changes nothing
    const again = install(['--from', src, '--no-deps', '--replace-all', bin]);
    expect(again.status, again.out).toBe(0);
    expect(snapshot(bin)).toEqual(after);
  });

  it('a source lacking a reference name: nothing installed, the missing names listed; without --replace-all the names it has', () => {
    net = new TestNet('insf');
    const dir = net.tempDir();
    const src = source(join(dir, 'src'), REFERENCE.filter((n) => n !== 'dhcp' && n !== 'vrf'));
    const bin = populatedBinDir(join(dir, 'bin'));
    const before = snapshot(bin);
    const r = install(['--from', src, '--no-deps', '--replace-all', bin]);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('--replace-all: cni-ts in');
    expect(r.out).toContain('lacks reference plugins: dhcp vrf; nothing installed');
    expect(snapshot(bin)).toEqual(before);

    const partial = install(['--from', src, '--no-deps', bin]);
    expect(partial.status, partial.out).toBe(0);
    const after = snapshot(bin);
    expect(after.dhcp).toBe(before.dhcp); // the Go ones stay where cni-ts has no plugin
    expect(after.vrf).toBe(before.vrf);
    expect(after.bridge).toBe('-> cni-ts');
    expect(after.tap).toBe('-> cni-ts');
  });

  it('the build (dist/bin): --replace-all installs when it has every reference name, else names exactly the missing ones', () => {
    net = new TestNet('insb');
    const dir = net.tempDir();
    const bin = join(dir, 'bin');
    const missing = REFERENCE.filter((n) => !existsSync(join(DIST, n)));
    const r = install(['--from', DIST, '--no-deps', '--replace-all', bin]);
    if (missing.length === 0) {
      expect(r.status, r.out).toBe(0);
      for (const n of REFERENCE) expect(readlinkSync(join(bin, n))).toBe('cni-ts');
    } else {
      expect(r.status).not.toBe(0);
      expect(r.out).toContain(`lacks reference plugins: ${missing.join(' ')}; nothing installed`);
      expect(existsSync(bin) ? readdirSync(bin) : []).toEqual([]);
    }
  });
});
