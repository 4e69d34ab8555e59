/**
 * The fork bomb of issue 14: an ipam.type that names an interface plugin (bridge with ipam.type "bridge", ptp with
 * "ptp", …) made each level delegate IPAM to another copy of itself, without end. Every main plugin refuses, on ADD
 * and DEL, to delegate to itself or to any type known not to be an IPAM plugin (code 7 naming ipam.type and the
 * value); an exec'd chain through other types stops at CNI_TS_DELEGATION_DEPTH. Each invocation runs in its own PID
 * namespace under a process cap (test/helpers/sandbox.ts): bounded in time, nothing left running, nothing on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, GO_PLUGINS, bin, haveGoPlugins, isRoot, pluginEnv } from '../helpers/harness.js';
import { Sandbox, type BoundedRun } from '../helpers/sandbox.js';
import { NOT_IPAM_TYPES, MAX_DELEGATION_DEPTH } from '../../lib/cni/delegation.js';

/** Every interface plugin of ours that delegates IPAM (those not built yet are skipped). */
const MAIN = ['bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device', 'vlan', 'dummy', 'tap'] as const;
type Main = (typeof MAIN)[number];

/** What the host and the container look like: links (name and kind), rules, files under the CNI state dirs. */
const SNAPSHOT = [
  'ip -d -o link show | sed -E "s/^[0-9]+: ([^:@]+).*/\\1/"',
  'for n in /run/netns/*; do echo "== $n"; ip netns exec "${n##*/}" ip -o link show | sed -E "s/^[0-9]+: ([^:@]+).*/\\1/"; done',
  'iptables-save | grep -v "^#" | sed -E "s/\\[[0-9]+:[0-9]+\\]//"',
  'nft list ruleset',
  'find /var/lib/cni /run/cni -type f 2>/dev/null | sort',
].join('; ');

function conf(type: Main, ipamType: string, dataDir: string): Record<string, unknown> {
  const ipam = { type: ipamType, dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]] };
  const base = { cniVersion: '1.0.0', name: 'guardnet', type, ipam };
  if (type === 'bridge') return { ...base, bridge: 'cniguard0', isGateway: true, ipMasq: true };
  if (type === 'ptp') return { ...base, ipMasq: true };
  if (type === 'host-device') return { ...base, device: 'gmaster1' };
  if (type === 'vlan') return { ...base, master: 'gmaster0', vlanId: 42 };
  if (type === 'dummy' || type === 'tap') return base;
  return { ...base, master: 'gmaster0' };
}

const ok = (r: BoundedRun): void => {
  expect(r.timedOut, 'timed out').toBe(false);
  expect(r.leftover, 'processes left running').toEqual([]);
  expect(r.forkRefusals, 'forks refused by the process cap').toBe(0);
};

describe.skipIf(!isRoot)('IPAM delegation guard (fork bomb)', () => {
  const boxes = new Map<Main, Sandbox>();
  let scripts: string;

  beforeAll(async () => {
    for (const type of MAIN) {
      if (!existsSync(bin(type))) continue;
      boxes.set(type, await Sandbox.start({ label: `guard-${type}`, maxPids: 64, setup: 'ip link add gmaster0 type veth peer name gmaster1 && ip link set gmaster0 up && ip link set gmaster1 up' }));
    }
    scripts = mkdtempSync(join(tmpdir(), 'cnits-guard-'));
  });
  afterAll(() => {
    for (const b of boxes.values()) b.stop();
    if (scripts) rmSync(scripts, { recursive: true, force: true });
  });

  function invoke(box: Sandbox, plugin: string, command: string, body: unknown, path: string, env: Record<string, string> = {}): BoundedRun & { json: any } {
    const r = box.invoke({
      argv: [plugin],
      env: pluginEnv({ CNI_COMMAND: command, CNI_CONTAINERID: 'guard1', CNI_NETNS: box.netnsPath(), CNI_IFNAME: 'eth0', CNI_PATH: path, ...env }),
      input: JSON.stringify(body),
      timeoutSec: 60,
    });
    let json: any;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  const paths = [DIST, ...(haveGoPlugins ? [GO_PLUGINS] : [])];
  for (const type of MAIN) {
    it.skipIf(!existsSync(bin(type)))(`${type}: every interface or meta plugin type as ipam.type is refused on ADD and DEL (CNI_PATH ours${haveGoPlugins ? ' and the Go plugins' : ''}), nothing left`, () => {
      const box = boxes.get(type)!;
      const before = box.shell(SNAPSHOT).stdout;
      expect(before).toContain('gmaster0');
      for (const path of paths) {
        for (const ipamType of NOT_IPAM_TYPES) {
          for (const command of ['ADD', 'DEL']) {
            const r = invoke(box, bin(type), command, conf(type, ipamType, '/var/lib/cni/guard'), path);
            ok(r);
            expect(r.status, `${type} ${command} ipam.type ${ipamType} (${path}): ${r.stdout}`).toBe(1);
            expect(r.json?.code).toBe(7);
            expect(r.json?.msg).toContain(`ipam "type" "${ipamType}"`);
            expect(r.json?.msg).toMatch(ipamType === type ? /names this plugin itself/ : /is not an IPAM plugin/);
          }
        }
        expect(box.shell(SNAPSHOT).stdout, `left on the host after ${path}`).toBe(before);
      }
    });
  }

  it('DEL with a refused ipam.type still removes everything else (links, masquerade rules), then reports the error', () => {
    for (const type of ['bridge', 'ptp', 'macvlan'] as const) {
      const box = boxes.get(type)!;
      const good = conf(type, 'host-local', '/var/lib/cni/guard-del');
      // what an ADD + DEL leaves by design (the bridge, empty shared chains) is the baseline
      expect(invoke(box, bin(type), 'ADD', good, DIST).status).toBe(0);
      expect(invoke(box, bin(type), 'DEL', good, DIST).status).toBe(0);
      const before = box.shell(SNAPSHOT).stdout;
      const add = invoke(box, bin(type), 'ADD', good, DIST);
      ok(add);
      expect(add.status, add.stdout).toBe(0);
      const during = box.shell(SNAPSHOT).stdout;
      expect(during).toMatch(/== \/run\/netns\/\S+\n(.*\n)*eth0/);
      const del = invoke(box, bin(type), 'DEL', { ...conf(type, type, '/var/lib/cni/guard-del'), prevResult: add.json }, DIST);
      ok(del);
      expect(del.status).toBe(1);
      expect(del.json?.code).toBe(7);
      // the lease cannot be released without its IPAM: all else is gone; a DEL with the right config releases it
      const after = box.shell(SNAPSHOT).stdout;
      expect(after.replace(/^\/var\/lib\/cni\/guard-del\/.*\n/gm, ''), `${type}: left after the refused DEL`).toBe(before.replace(/^\/var\/lib\/cni\/guard-del\/.*\n/gm, ''));
      expect(after).toMatch(/guard-del\/guardnet\/10\.77\.0\.\d+\n/);
      const fixed = invoke(box, bin(type), 'DEL', good, DIST);
      expect(fixed.status, fixed.stdout).toBe(0);
      expect(box.shell(SNAPSHOT).stdout).not.toMatch(/guard-del\/guardnet\/10\.77/);
    }
  });

  it(`an exec'd chain of delegations through a type we do not know stops at depth ${MAX_DELEGATION_DEPTH} with a clear error`, () => {
    const box = boxes.get('bridge')!;
    // "loop-ipam": a third-party IPAM that runs our bridge again with the same input (a loop no type check can see)
    writeFileSync(join(scripts, 'loop-ipam'), `#!/bin/bash\nexec -a bridge ${realpathSync(bin('cni-ts'))}\n`);
    chmodSync(join(scripts, 'loop-ipam'), 0o755);
    const before = box.shell(SNAPSHOT).stdout;
    for (const command of ['ADD', 'DEL']) {
      const r = invoke(box, bin('bridge'), command, conf('bridge', 'loop-ipam', '/var/lib/cni/guard'), scripts);
      ok(r);
      expect(r.status).toBe(1);
      expect(r.json?.code).toBe(7);
      expect(r.json?.msg).toContain(`refusing to delegate to ipam "type" "loop-ipam"`);
      expect(r.json?.msg).toContain(`CNI_TS_DELEGATION_DEPTH=${MAX_DELEGATION_DEPTH}`);
    }
    expect(box.shell(SNAPSHOT).stdout).toBe(before);
    // a depth passed down by a (Go) meta plugin counts too; below the limit, host-local works as ever
    const deep = invoke(box, bin('bridge'), 'ADD', conf('bridge', 'host-local', '/var/lib/cni/guard'), DIST, { CNI_TS_DELEGATION_DEPTH: String(MAX_DELEGATION_DEPTH) });
    expect(deep.json?.code, deep.stdout).toBe(7);
    const shallow = invoke(box, bin('bridge'), 'ADD', conf('bridge', 'host-local', '/var/lib/cni/guard'), DIST, { CNI_TS_DELEGATION_DEPTH: String(MAX_DELEGATION_DEPTH - 1) });
    expect(shallow.status, shallow.stdout).toBe(0);
    expect(invoke(box, bin('bridge'), 'DEL', conf('bridge', 'host-local', '/var/lib/cni/guard'), DIST).status).toBe(0);
  });

  it('an IPAM type we do not know (third-party, e.g. whereabouts) is still delegated to', () => {
    const box = boxes.get('ptp')!;
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.78.0.5/24', gateway: '10.78.0.1' }] };
    writeFileSync(join(scripts, 'whereabouts'), `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && echo '${JSON.stringify(result)}'\nexit 0\n`);
    chmodSync(join(scripts, 'whereabouts'), 0o755);
    const c = { cniVersion: '1.0.0', name: 'wbnet', type: 'ptp', ipam: { type: 'whereabouts', range: '10.78.0.0/24' } };
    const add = invoke(box, bin('ptp'), 'ADD', c, scripts);
    ok(add);
    expect(add.status, add.stdout).toBe(0);
    expect(add.json.ips[0].address).toBe('10.78.0.5/24');
    const del = invoke(box, bin('ptp'), 'DEL', c, scripts);
    expect(del.status, del.stdout).toBe(0);
  });
});
