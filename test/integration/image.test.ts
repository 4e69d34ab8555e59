/**
 * The container image (scripts/image.sh): built from dist/bin/cni-ts FROM scratch with podman, into a private storage
 * dir (nothing in /var/lib/containers), then run without a network: --version and --help, the tools the agent execs
 * (ip, bridge, nft, iptables of both backends) work inside, and the DaemonSet's init container step (--install-cni
 * /opt/cni-ts/bin into a mounted dir) leaves the executable once and our plugin names as links, which answer VERSION
 * on this host.
 * Skipped without podman (apt-get install podman).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, isRoot, pluginEnv, sh } from '../helpers/harness.js';

const havePodman = sh('podman', ['--version']).status === 0;
let storage = '';
const podman = (): string[] => ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs'];
// This sandbox refuses the rlimits podman sets by default (RLIMIT_NOFILE 1048576, RLIMIT_NPROC): ask for small ones.
const run = (args: string[]) => sh('podman', [...podman(), 'run', '--rm', '--pull', 'never', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', ...args]);
const TAG = 'localhost/cni-ts:test';
// podman writes its blob-info cache under /var/lib/containers/cache whatever --root says: removed again when this test
// made it.
const hadContainersDir = existsSync('/var/lib/containers');

afterAll(() => {
  if (!storage) return;
  sh('podman', [...podman(), 'rmi', '-a', '-f']);
  rmSync(storage, { recursive: true, force: true });
  if (!hadContainersDir) rmSync('/var/lib/containers', { recursive: true, force: true });
});

describe.skipIf(!isRoot || !havePodman)('container image', () => {
  it('builds FROM scratch and runs: --version, --help, ip/bridge/nft inside, --install-cni as the init container does', () => {
    storage = mkdtempSync(join(tmpdir(), 'cnits-img-'));
    const b = spawnSync('bash', [join(ROOT, 'scripts/image.sh'), TAG], { encoding: 'utf8', env: { ...pluginEnv({}), CNI_TS_IMAGE_STORAGE: storage } });
    expect(b.status, b.stderr).toBe(0);
    const v = run([TAG, '--version']);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^cni-ts-agent \S+\n$/);
    const h = run([TAG, '--help']);
    expect(h.stdout).toMatch(/--store/);
    expect(h.stdout).toMatch(/--install-cni/);
    expect(run(['--entrypoint', '/usr/sbin/ip', TAG, '-V']).stdout).toMatch(/iproute2/);
    expect(run(['--entrypoint', '/usr/sbin/bridge', TAG, '-V']).stdout).toMatch(/bridge utility/);
    expect(run(['--entrypoint', '/usr/sbin/nft', TAG, '--version']).stdout).toMatch(/nftables v/);
    expect(run(['--entrypoint', '/usr/sbin/iptables-nft-save', TAG, '--version']).stdout).toMatch(/iptables-nft-save v\S+ \(nf_tables\)/);
    expect(run(['--entrypoint', '/usr/sbin/ip6tables-legacy-restore', TAG, '--version']).stdout).toMatch(/v\S+ \(legacy\)/);
    // The comment match our FORWARD rules use is there (an extension .so): parsing a rule with it needs no kernel.
    const cm = run(['--entrypoint', '/usr/sbin/iptables-nft', TAG, '-m', 'comment', '--help']);
    expect(cm.stdout).toMatch(/comment match options/);
    const out = mkdtempSync(join(tmpdir(), 'cnits-img-bin-'));
    try {
      const i = run(['-v', `${out}:/host/opt/cni/bin`, TAG, '--install-cni', '/opt/cni-ts/bin', '--cni-bin-dir', '/host/opt/cni/bin']);
      expect(i.status, i.stdout + i.stderr).toBe(0);
      expect(lstatSync(join(out, 'cni-ts')).isFile()).toBe(true);
      for (const p of ['cni-ts-bridge', 'cni-ts-host-local', 'cni-ts-portmap', 'loopback']) expect(readlinkSync(join(out, p))).toBe('cni-ts');
      expect(existsSync(join(out, 'bridge'))).toBe(false); // the node's own plugin names are left alone
      const ver = sh('env', ['-i', ...Object.entries(pluginEnv({ CNI_COMMAND: 'VERSION' })).map(([k, v]) => `${k}=${v}`), join(out, 'cni-ts-bridge')], '{"cniVersion":"1.0.0"}');
      expect(JSON.parse(ver.stdout)).toMatchObject({ cniVersion: '1.1.0' });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(existsSync(join(ROOT, 'dist/bin/cni-ts'))).toBe(true);
  });
});
