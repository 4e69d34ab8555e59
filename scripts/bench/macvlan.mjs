// macvlan ADD/DEL wall time, cni-ts vs the Go reference, medians over N rounds (interleaved), in throwaway netns.
// Cases: L2 only (no IPAM: the plugin alone) and with host-local IPAM (each side uses its own host-local).
// `BENCH_ROUNDS` (default 15). Unsets NODE_EXTRA_CA_CERTS via scripts/bench.mjs (or run with it unset).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIST, GO, addDelMedians, netnsAdd, netnsDel, printTable } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
delete process.env.NODE_EXTRA_CA_CERTS;

const host = netnsAdd('mvh');
const ctr = netnsAdd('mvc');
const dataDir = mkdtempSync(join(tmpdir(), 'cnits-bench-mv-'));
try {
  const ok = (args) => {
    const r = spawnSync('ip', ['-n', host, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  ok(['link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm0p']);
  ok(['link', 'set', 'm0', 'up']);
  ok(['link', 'set', 'm0p', 'up']);

  const l2 = { cniVersion: '1.0.0', name: 'mvbench', type: 'macvlan', master: 'm0' };
  const l3 = { ...l2, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.99.0.0/24', gateway: '10.99.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] } };
  const sides = {
    ours: { plugin: join(DIST, 'macvlan'), path: `${DIST}:${GO}` },
    go: { plugin: join(GO, 'macvlan'), path: GO },
  };
  const rows = [];
  for (const [label, conf] of [['L2 (no ipam)', l2], ['host-local ipam', l3]]) {
    const t = addDelMedians({ rounds: ROUNDS, sides, confOf: () => conf, netns: `/run/netns/${ctr}`, hostNetns: host, id: 'b' });
    for (const cmd of ['ADD', 'DEL']) rows.push([`${label} ${cmd}`, t.ours[cmd], t.go[cmd]]);
  }
  printTable(`macvlan on a veth master, median of ${ROUNDS} (2 warm-up rounds)`, rows);
} finally {
  netnsDel(ctr);
  netnsDel(host);
  rmSync(dataDir, { recursive: true, force: true });
}
