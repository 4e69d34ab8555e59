// ptp ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/ptp 1.1.1), medians over N interleaved rounds, in
// throwaway netns; plus the programs each invocation executes (strace -f execve, the IPAM plugin included).
// Each side uses its own host-local. `BENCH_ROUNDS` (default 15). NODE_EXTRA_CA_CERTS must be unset (scripts/bench.mjs does).
// The Go ptp waits for IPv6 duplicate address detection in the container (1–2 s per dual-stack ADD); cni-ts does not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, GO, addDelMedians, execCounts, netnsAdd, netnsDel, printExecCounts, printTable } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
delete process.env.NODE_EXTRA_CA_CERTS;

const host = netnsAdd('ptph');
const ctr = netnsAdd('ptpc');
const dirs = { ours: mkdtempSync(join(tmpdir(), 'cnits-bench-ptp-')), go: mkdtempSync(join(tmpdir(), 'cnits-bench-ptp-')) };
const sides = {
  ours: { plugin: join(DIST, 'ptp'), path: `${DIST}:${GO}` },
  go: { plugin: join(GO, 'ptp'), path: GO },
};

const confs = (side) => {
  // kind's network (conf/kind-ptp-portmap.conflist's ptp), lease dir per side
  const kind = {
    cniVersion: '0.3.1',
    name: 'ptpbench',
    type: 'ptp',
    ipMasq: false,
    mtu: 1500,
    ipam: { type: 'host-local', dataDir: dirs[side], routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.244.0.0/24' }]] },
  };
  return [
    ['kind (v4, no ipMasq)', kind],
    ['v4 + ipMasq (iptables)', { ...kind, cniVersion: '1.0.0', ipMasq: true }],
    ['dual-stack + ipMasq', { ...kind, cniVersion: '1.0.0', ipMasq: true, ipam: { ...kind.ipam, routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }], ranges: [[{ subnet: '10.244.0.0/24' }], [{ subnet: 'fd44::/64' }]] } }],
  ];
};

try {
  const rows = [];
  const execs = [];
  for (let c = 0; c < confs('ours').length; c++) {
    const [label] = confs('ours')[c];
    const confOf = (side) => confs(side)[c][1];
    const t = addDelMedians({ rounds: ROUNDS, sides, confOf, netns: `/run/netns/${ctr}`, hostNetns: host, id: `p${c}` });
    for (const cmd of ['ADD', 'DEL']) rows.push([`${label} ${cmd}`, t.ours[cmd], t.go[cmd]]);
    execs.push([label, execCounts({ sides, confOf, containerId: `x${c}`, netns: `/run/netns/${ctr}`, hostNetns: host })]);
  }
  printTable(`ptp, median of ${ROUNDS} (2 warm-up rounds; includes ~1 ms of 'ip netns exec')`, rows);
  printExecCounts(execs);
} finally {
  netnsDel(ctr);
  netnsDel(host);
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}
