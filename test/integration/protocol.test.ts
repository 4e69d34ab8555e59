/** The CNI protocol as every built plugin speaks it, through the real process boundary. */
import { afterEach, describe, expect, it } from 'vitest';
import { linkSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMAND_NAMES, DIST, TestNet, bin, isRoot, pluginEnv } from '../helpers/harness.js';
import { SUPPORTED_VERSIONS, versionsFrom } from '../../lib/cni/version.js';

const plugins = readdirSync(DIST).filter((f) => f !== 'cni-ts' && !f.includes('.tmp') && !COMMAND_NAMES.includes(f));
/** As the reference: firewall speaks 0.4.0 on, bandwidth 0.3.0 on, vrf 0.3.1 on, every other plugin all versions. */
const versionsOf = (p: string): readonly string[] => ({ firewall: versionsFrom('0.4.0'), bandwidth: versionsFrom('0.3.0'), vrf: versionsFrom('0.3.1') })[p] ?? SUPPORTED_VERSIONS;

describe('CNI protocol of every plugin', () => {
  it('builds the plugins', () => {
    for (const p of ['bandwidth', 'bridge', 'firewall', 'host-local', 'ipvlan', 'loopback', 'macvlan', 'portmap', 'ptp', 'tuning']) expect(plugins).toContain(p);
  });

  it.each(plugins)('%s: VERSION lists its versions (stdin ignored)', (p) => {
    const r = spawnSync(bin(p), [], { env: pluginEnv({ CNI_COMMAND: 'VERSION' }), input: 'not json', encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`{"cniVersion":"1.1.0","supportedVersions":${JSON.stringify(versionsOf(p))}}\n`);
  });

  it.each(plugins)('%s: no CNI_COMMAND prints the about text on stderr and exits 0', (p) => {
    const r = spawnSync(bin(p), [], { env: pluginEnv({}), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`CNI ${p} plugin`);
    expect(r.stderr).toContain(`CNI protocol versions supported: ${versionsOf(p).join(', ')}\n`);
  });

  it.each(plugins)('%s: an unknown command is code 4; errors are indented JSON on stdout with the config version', (p) => {
    const r = spawnSync(bin(p), [], { env: pluginEnv({ CNI_COMMAND: 'BOGUS' }), input: '{}', encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.1.0', code: 4, msg: 'unknown CNI_COMMAND: BOGUS' });
    expect(r.stdout).toContain('\n    "code": 4');
    const v = spawnSync(bin(p), [], {
      env: pluginEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: DIST }),
      input: JSON.stringify({ cniVersion: '0.4.0' }),
      encoding: 'utf8',
    });
    expect(JSON.parse(v.stdout)).toEqual({ cniVersion: '0.4.0', code: 7, msg: 'missing network name' });
  });

  it('the executable under its own name: --version, --help, and a usage error otherwise', () => {
    const version = JSON.parse(readFileSync(join(DIST, '..', '..', 'package.json'), 'utf8')).version;
    expect(spawnSync(bin('cni-ts'), ['--version'], { encoding: 'utf8' }).stdout).toBe(`cni-ts ${version}\n`);
    const help = spawnSync(bin('cni-ts'), ['--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const p of plugins) expect(help.stdout).toContain(p);
    const bare = spawnSync(bin('cni-ts'), [], { encoding: 'utf8' });
    expect(bare.status).toBe(2);
    expect(bare.stderr).toMatch(/invoke me by one of my names/);
  });

  it.each(plugins)('%s: the executable alone, under that name in an empty directory, is the plugin (no node, no node_modules)', (p) => {
    const dir = mkdtempSync(join(tmpdir(), 'cnits-selfcontained-'));
    try {
      linkSync(realpathSync(bin('cni-ts')), join(dir, p)); // a hard link: a file of its own name, as a copy would be
      const r = spawnSync(join(dir, p), [], { env: { CNI_COMMAND: 'VERSION' }, cwd: '/', encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).supportedVersions).toContain('1.1.0');
      const about = spawnSync(join(dir, p), [], { env: {}, cwd: '/', encoding: 'utf8' });
      expect(about.stderr).toContain(`CNI ${p} plugin`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot)('netns safety', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  it('refuses to configure its own network namespace (CNI_NETNS pointing at the host), code 8, before changing anything', () => {
    net = new TestNet('proto');
    const r = net.run({
      plugin: bin('loopback'),
      command: 'DEL',
      conf: { cniVersion: '1.0.0', name: 'lo', type: 'loopback' },
      containerId: 'a',
      netns: `/run/netns/${net.host}`,
      ifname: 'lo',
    });
    expect(r.status).toBe(1);
    expect(r.json.code).toBe(8);
    expect(net.ipJson(net.host, ['link', 'show', 'lo'])[0].flags).toContain('UP');
  });
});
