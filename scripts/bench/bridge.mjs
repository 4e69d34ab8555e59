// bridge ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/bridge 1.1.1), medians over N interleaved rounds,
// in throwaway netns; plus the programs each invocation executes (strace -f execve, the IPAM plugin included).
// Each side uses its own host-local. `BENCH_ROUNDS` (default 15). NODE_EXTRA_CA_CERTS must be unset (scripts/bench.mjs does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, GO, addDelMedians, execCounts, netnsAdd, netnsDel, printExecCounts, printTable } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
delete process.env.NODE_EXTRA_CA_CERTS;

const host = netnsAdd('brh');
const ctr = netnsAdd('brc');
const dirs = { ours: mkdtempSync(join(tmpdir(), 'cnits-bench-br-')), go: mkdtempSync(join(tmpdir(), 'cnits-bench-br-')) };
const sides = {
  ours: { plugin: join(DIST, 'bridge'), path: `${DIST}:${GO}` },
  go: { plugin: join(GO, 'bridge'), path: GO },
};

const confs = (side) => {
  const ipam = { type: 'host-local', dataDir: dirs[side], subnet: '10.88.0.0/24' };
  const l3 = { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: `bb${side}0`, isGateway: true, ipMasq: true, ipam };
  return [
    ['isGateway+ipMasq (iptables)', l3],
    ['isGateway+ipMasq nftables*', { ...l3, ipMasqBackend: 'nftables' }],
    ['dual-stack, default gw, ipMasq', { ...l3, isDefaultGateway: true, ipam: { ...ipam, subnet: undefined, ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]] } }],
    ['L2 (no ipam)', { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: `bb${side}0` }],
  ];
};

try {
  const rows = [];
  const execs = [];
  for (let c = 0; c < confs('ours').length; c++) {
    const [label] = confs('ours')[c];
    const t = addDelMedians({ rounds: ROUNDS, sides, confOf: (side) => confs(side)[c][1], netns: `/run/netns/${ctr}`, hostNetns: host, id: `b${c}` });
    for (const cmd of ['ADD', 'DEL']) rows.push([`${label} ${cmd}`, t.ours[cmd], t.go[cmd]]);
    execs.push([label, execCounts({ sides, confOf: (side) => confs(side)[c][1], containerId: `x${c}`, netns: `/run/netns/${ctr}`, hostNetns: host })]);
  }
  printTable(`bridge, median of ${ROUNDS} (2 warm-up rounds; includes ~1 ms of 'ip netns exec'; *Go 1.1.1 has no nftables backend: it uses iptables)`, rows);
  printExecCounts(execs);
} finally {
  netnsDel(ctr);
  netnsDel(host);
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}
