/**
 * The shipped executable needs no Node.js on the host: inside a private mount namespace in which every `node` binary
 * is covered (/dev/null bind-mounted over it, so `node` cannot start), the plugins run a full bridge + host-local +
 * portmap ADD, CHECK and DEL as a runtime chains them, in a throwaway netns. The driver is a shell script (no Node
 * in there either); the outcomes are checked from the test process afterwards, outside that mount namespace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, TestNet, addressesOf, isRoot, nodeBinaries, sh } from '../helpers/harness.js';
import { nftDnatTo } from '../helpers/nft.js';

/**
 * The driver: covers node, proves it cannot start, then runs the stage's CNI calls with env + stdin exactly as a
 * runtime does. Configs are built by string concatenation (prevResult = the previous plugin's stdout).
 */
function driver(stage: 'add' | 'check-del', nodes: string[]): string {
  const lines = [
    'set -u',
    ...nodes.map((n) => `mount --bind /dev/null '${n}'`),
    'if node -e 0 2>/dev/null; then echo "node still runs"; exit 3; fi',
    'echo node-covered > "$DIR/covered"',
    // call CMD PLUGIN CONF: the plugin with a runtime's env and the config on stdin, in the throwaway host netns
    'call() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=$1 CNI_CONTAINERID=nonode1 CNI_NETNS="$NETNS" CNI_IFNAME=eth0 CNI_PATH="$BIN" ip netns exec "$HOSTNS" "$BIN/$2" <<<"$3"; }',
    // withprev CONF RESULT: CONF with "prevResult": RESULT added
    'withprev() { printf \'%s,"prevResult":%s}\' "${1%\\}}" "$2"; }',
  ];
  if (stage === 'add') {
    lines.push(
      'out1=$(call ADD bridge "$BRIDGE") || { echo "bridge ADD failed: $out1"; exit 1; }',
      'out2=$(call ADD portmap "$(withprev "$PORTMAP" "$out1")") || { echo "portmap ADD failed: $out2"; exit 1; }',
      'printf \'%s\' "$out2" > "$DIR/result.json"',
    );
  } else {
    lines.push(
      'prev=$(cat "$DIR/result.json")',
      'call CHECK bridge "$(withprev "$BRIDGE" "$prev")" || { echo "bridge CHECK failed"; exit 1; }',
      'call CHECK portmap "$(withprev "$PORTMAP" "$prev")" || { echo "portmap CHECK failed"; exit 1; }',
      'call DEL portmap "$(withprev "$PORTMAP" "$prev")" || { echo "portmap DEL failed"; exit 1; }',
      'call DEL bridge "$(withprev "$BRIDGE" "$prev")" || { echo "bridge DEL failed"; exit 1; }',
      'echo deleted > "$DIR/deleted"',
    );
  }
  return lines.join('\n') + '\n';
}

describe.skipIf(!isRoot)('no Node.js on the host', () => {
  let net: TestNet | undefined;
  afterEach(() => net?.cleanup());

  it('bridge + host-local + portmap ADD, CHECK and DEL run with every node binary covered', () => {
    net = new TestNet('nonode');
    const c = net.addContainer('c');
    const dir = net.tempDir();
    const dataDir = join(dir, 'ipam');
    const name = 'nonode';
    const bridge = { cniVersion: '1.0.0', name, type: 'bridge', bridge: 'cninn0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.9.0/24' }]] } };
    const portmap = { cniVersion: '1.0.0', name, type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 8089, containerPort: 80, protocol: 'tcp' }] } };
    const nodes = nodeBinaries();
    const run = (stage: 'add' | 'check-del') => {
      const script = join(dir, `${stage}.sh`);
      writeFileSync(script, driver(stage, nodes));
      return sh('env', [
        `DIR=${dir}`, `BIN=${DIST}`, `HOSTNS=${net!.host}`, `NETNS=${c.path}`,
        `BRIDGE=${JSON.stringify(bridge)}`, `PORTMAP=${JSON.stringify(portmap)}`,
        'unshare', '--mount', '--propagation', 'private', 'bash', script,
      ]);
    };

    const add = run('add');
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(readFileSync(join(dir, 'covered'), 'utf8')).toContain('node-covered');
    expect(sh('node', ['-e', '0']).status).toBe(0); // covered only inside that mount namespace
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(result.ips[0].address).toBe('10.77.9.2/24');
    expect(addressesOf(c.name, 'eth0')).toContain('10.77.9.2/24');
    expect(readdirSync(join(dataDir, name))).toContain('10.77.9.2');
    const nft = sh('ip', ['netns', 'exec', net.host, 'nft', 'list', 'ruleset']).stdout;
    expect(nft).toMatch(nftDnatTo('10.77.9.2', 80));

    const rest = run('check-del');
    expect(rest.status, rest.stdout + rest.stderr).toBe(0);
    expect(readFileSync(join(dir, 'deleted'), 'utf8')).toContain('deleted');
    expect(addressesOf(c.name, 'eth0')).toEqual([]);
    expect(readdirSync(join(dataDir, name)).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(sh('ip', ['netns', 'exec', net.host, 'nft', 'list', 'ruleset']).stdout).not.toMatch(/10\.77\.9\.2/);
    expect(sh('ip', ['netns', 'exec', net.host, 'iptables-save', '-t', 'nat']).stdout).not.toMatch(/CNI-/);
  });
});
