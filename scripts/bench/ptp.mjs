// ptp ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/ptp 1.1.1), medians over N interleaved rounds, one
// throwaway host netns per side; plus the programs each invocation executes (strace -f execve, the IPAM plugin
// included). Each side uses its own host-local. `BENCH_ROUNDS` (default 11).
// The Go ptp waits for IPv6 duplicate address detection in the container (1–2 s per dual-stack ADD); cni-ts does not.
import { HostNetns, SIDES, addDelRounds, execCounts, netnsAdd, printExecCounts, printTable, rounds, rowsOf, saveResults, tempDir } from './_lib.mjs';

const n = rounds(11);
const hosts = { ours: new HostNetns('ptph'), go: new HostNetns('ptph') };
const ctrs = { ours: netnsAdd('ptpc'), go: netnsAdd('ptpc') };
const dirs = { ours: tempDir('ptp'), go: tempDir('ptp') };

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
    const invOf = (side) => ({ plugin: `${SIDES[side].bin}/ptp`, path: SIDES[side].path, conf: confs(side)[c][1], netns: `/run/netns/${ctrs[side]}` });
    const t = await addDelRounds({ n, hosts, invOf, id: `p${c}` });
    rows.push(...rowsOf(label, t, ['ADD', 'DEL']));
    execs.push(await execCounts({ label, hosts, invOf, containerId: `x${c}` }));
  }
  printTable(`ptp, median of ${n} (min–max)`, rows);
  printExecCounts(execs);
  saveResults({ rounds: n, rows, execs });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
