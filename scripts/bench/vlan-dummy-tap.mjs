// vlan, dummy and tap ADD/DEL wall time. tap here (this host has tun/tap), ours only: Debian's Go plugins 1.1.1 have no
// tap (nor dummy). vlan (ours vs Go 1.1.1) and dummy (ours) inside the QEMU VM bed, since this host's kernel has neither
// 802.1q nor dummy: test/vm/bench-vlan-dummy.vm.mjs under software emulation (TCG), so those numbers are many times a
// real machine's — the ratio is what they say. `BENCH_ROUNDS` (default 15 here, 7 in the VM), `BENCH_VM=0` skips the VM
// (about 3 minutes), `VM_CACHE` as for scripts/vm/run-tests.sh.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HostNetns, ROOT, SIDES, interleave, netnsAdd, printTable, rounds, saveResults, sh, stats, tempDir } from './_lib.mjs';

const n = rounds(15);
const host = new HostNetns('taph');
const ctr = netnsAdd('tapc');
const dataDir = tempDir('tap');

/** Rows { label, ours, go? } from samples { ADD: [], DEL: [] } of ours (and Go's, when there is one). */
const rowsFrom = (label, ours, go) =>
  ['ADD', 'DEL', 'ADD+DEL'].map((k) => {
    const pick = (s) => (k === 'ADD+DEL' ? s.ADD.map((x, i) => x + s.DEL[i]) : s[k]);
    return { label: `${label} ${k}`, key: `${label} ${k}`, ours: stats(pick(ours)), ...(go ? { go: stats(pick(go)) } : {}) };
  });

function vmRows() {
  if (process.env.BENCH_VM === '0') return { skipped: 'BENCH_VM=0' };
  const env = { ...process.env, VMTEST_BENCH: '1', VMTEST_BENCH_ROUNDS: String(Number(process.env.BENCH_ROUNDS ?? 7)), VM_TIMEOUT: process.env.VM_TIMEOUT ?? '900' };
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'vm', 'run-tests.sh'), 'bench-vlan-dummy'], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.includes('BENCHJSON '));
  if (!line) return { skipped: `the VM run gave no result (exit ${r.status}): ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}` };
  const v = JSON.parse(line.slice(line.indexOf('BENCHJSON ') + 10));
  return {
    rounds: v.rounds,
    rows: [
      ...rowsFrom('vlan (VM)', v.vlan.ours, v.vlan.go),
      ...rowsFrom('dummy (VM)', v.dummy.ours),
      { label: 'VERSION (VM)', key: 'VERSION (VM)', ours: stats(v.version.ours), go: stats(v.version.go) },
    ],
  };
}

try {
  const path = SIDES.ours.path;
  const netns = `/run/netns/${ctr}`;
  sh('ip', ['-n', ctr, 'link', 'add', 'br0', 'type', 'bridge']); // a bridge inside the container, for the bridge case
  const cases = [
    ['tap L2', { cniVersion: '1.0.0', name: 'tapbench', type: 'tap' }],
    ['tap host-local', { cniVersion: '1.0.0', name: 'tapbench', type: 'tap', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.91.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } }],
    ['tap on a bridge, owner/group, MAC', { cniVersion: '1.0.0', name: 'tapbench', type: 'tap', bridge: 'br0', owner: 107, group: 107, mac: '02:91:00:00:00:01' }],
  ];
  const rows = [];
  for (const [label, conf] of cases) {
    const t = await interleave(n, ['ours'], async (_side, i) => {
      const inv = { plugin: `${SIDES.ours.bin}/tap`, path, conf, netns, containerId: `t${i}` };
      const add = await host.time({ ...inv, command: 'ADD' });
      const del = await host.time({ ...inv, command: 'DEL' });
      return { ADD: add, DEL: del };
    });
    rows.push(...rowsFrom(label, t.ours));
  }
  // for scale: the process start of either side in the same rounds (VERSION of ours' tap and Go's bridge)
  const ver = await interleave(n, ['ours', 'go'], (side) => host.time({ plugin: `${SIDES[side].bin}/${side === 'ours' ? 'tap' : 'bridge'}`, path: SIDES[side].path, conf: { cniVersion: '1.0.0' }, command: 'VERSION' }));
  rows.push({ label: 'process start (VERSION), for scale', key: 'VERSION', ours: stats(ver.ours), go: stats(ver.go) });
  printTable(`tap (ours only: Go 1.1.1 has no tap), median of ${n} (min–max)`, rows);
  const vm = vmRows();
  if (vm.rows) printTable(`vlan and dummy in the VM (TCG: compare the sides, not with the host), median of ${vm.rounds} (min–max)`, vm.rows);
  else console.log(`vlan and dummy (VM): not measured: ${vm.skipped}`);
  saveResults({ rounds: n, rows, vm });
} finally {
  host.close();
}
