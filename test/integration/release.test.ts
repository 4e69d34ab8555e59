/**
 * The release tarballs (`npm run release`): laid out like the reference's (one entry per plugin name), checksummed,
 * installable by scripts/install.sh with no Node, and working: amd64 natively, arm64 under qemu-user emulation.
 * scripts/test.sh makes the release first and sets CNITS_RELEASE_TEST=1, which makes missing tarballs a failure;
 * a plain `npx vitest run` without a release skips this file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNet, coverNodeScript, isRoot, sh, shOk } from '../helpers/harness.js';

const RELEASE = join(ROOT, 'dist', 'release');
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const tarball = (arch: string) => join(RELEASE, `cni-ts-linux-${arch}-${version}.tgz`);
const required = process.env.CNITS_RELEASE_TEST === '1';
const present = existsSync(tarball('amd64'));
const PLUGINS = ['bridge', 'host-local', 'ipvlan', 'loopback', 'macvlan', 'portmap', 'ptp', 'vlan', 'dummy', 'tap'];
const qemu = sh('sh', ['-c', 'command -v qemu-aarch64-static']).stdout.trim();
const arm64Libs = '/usr/aarch64-linux-gnu';

describe.skipIf(!isRoot || (!required && !present))('release tarballs', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  it('both tarballs exist and match SHA256SUMS', () => {
    const sums = readFileSync(join(RELEASE, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(sums).toHaveLength(2);
    for (const arch of ['amd64', 'arm64']) {
      const file = tarball(arch);
      const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
      expect(sums).toContain(`${digest}  cni-ts-linux-${arch}-${version}.tgz`);
      expect(readFileSync(`${file}.sha256`, 'utf8').trim()).toBe(`${digest}  cni-ts-linux-${arch}-${version}.tgz`);
    }
  });

  it('each holds the executable and one entry per plugin name, linked to it', () => {
    for (const arch of ['amd64', 'arm64']) {
      const list = shOk('tar', ['-tvzf', tarball(arch)]).trim().split('\n');
      const entries = new Map(list.map((l) => [l.split(/\s+/)[5]!.replace(/^\.\//, ''), l]));
      expect(entries.get('cni-ts')).toMatch(/^-rwxr-xr-x 0\/0 /);
      for (const p of PLUGINS) expect(entries.get(p), `${arch} ${p}`).toMatch(/^lrwxrwxrwx 0\/0 .* -> cni-ts$/);
      const file = shOk('sh', ['-c', `tar -xzOf '${tarball(arch)}' ./cni-ts | head -c 20 | od -An -tx1`]);
      expect(file.replace(/\s+/g, ' ').trim()).toMatch(arch === 'amd64' ? /^7f 45 4c 46 02 01 01 .* 3e 00/ : /^7f 45 4c 46 02 01 01 .* b7 00/);
    }
  });

  it('amd64: scripts/install.sh --from the tarball installs it (no Node needed) and the installed plugins work', () => {
    net = new TestNet('rel');
    const dir = net.tempDir();
    const bin = join(dir, 'bin');
    // with every node binary covered: installing from a tarball needs no Node
    const cli = join(dir, 'usr-local-bin');
    const install = `${coverNodeScript()} && bash '${join(ROOT, 'scripts', 'install.sh')}' --from '${tarball('amd64')}' --no-deps --cnictl '${cli}' '${bin}'`;
    const out = shOk('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', install]);
    expect(out).toMatch(/installed cni-ts/);
    expect(lstatSync(join(bin, 'cni-ts')).isFile()).toBe(true);
    for (const p of PLUGINS) expect(readlinkSync(join(bin, p))).toBe('cni-ts');
    expect(readdirSync(bin).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(readlinkSync(join(cli, 'cnictl'))).toBe(join(bin, 'cni-ts'));
    expect(shOk(join(cli, 'cnictl'), ['--help'])).toMatch(/network/);
    const conf = { cniVersion: '1.0.0', name: 'relnet', ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.79.0.0/24' }]] } };
    const base = { containerId: 'rel1', netns: '/x', ifname: 'eth0', path: bin, conf };
    const add = net.run({ ...base, plugin: join(bin, 'host-local'), command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(add.json.ips[0].address).toBe('10.79.0.2/24');
    expect(net.run({ ...base, plugin: join(bin, 'host-local'), command: 'DEL' }).status).toBe(0);
    expect(readdirSync(join(dir, 'ipam', 'relnet')).filter((f) => f.startsWith('10.'))).toEqual([]);
  });

  it.skipIf(!required && (!qemu || !existsSync(arm64Libs)))('arm64: the executable runs under qemu-user: VERSION and a host-local ADD/DEL', () => {
    net = new TestNet('rela');
    const dir = net.tempDir();
    shOk('tar', ['-xzf', tarball('arm64'), '-C', dir]);
    // qemu-user runs the arm64 file with argv0 = the link's path, so it acts as that plugin, as a runtime's exec would
    const wrapper = join(dir, 'host-local-arm64');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${qemu} -L ${arm64Libs} ${join(dir, 'host-local')}\n`, { mode: 0o755 });
    const version = sh('env', ['CNI_COMMAND=VERSION', qemu, '-L', arm64Libs, join(dir, 'bridge')]);
    expect(JSON.parse(version.stdout).supportedVersions).toContain('1.1.0');
    const conf = { cniVersion: '1.0.0', name: 'relnet64', ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.79.1.0/24' }]] } };
    const base = { plugin: wrapper, conf, containerId: 'rel64', netns: '/x', ifname: 'eth0', path: dir };
    const add = net.run({ ...base, command: 'ADD' });
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0].address).toBe('10.79.1.2/24');
    expect(readFileSync(join(dir, 'ipam', 'relnet64', '10.79.1.2'), 'utf8')).toBe('rel64\r\neth0');
    expect(net.run({ ...base, command: 'DEL' }).status).toBe(0);
    expect(existsSync(join(dir, 'ipam', 'relnet64', '10.79.1.2'))).toBe(false);
  });
});
