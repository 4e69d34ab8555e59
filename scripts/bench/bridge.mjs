// bridge ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/bridge 1.1.1), medians over N interleaved rounds,
// one throwaway host netns per side; plus the programs each invocation executes (strace -f execve, the IPAM plugin
// included). Each side uses its own host-local. `BENCH_ROUNDS` (default 15).
import { HostNetns, SIDES, addDelRounds, execCounts, netnsAdd, printExecCounts, printTable, rounds, rowsOf, saveResults, tempDir } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('brh'), go: new HostNetns('brh') };
const ctrs = { ours: netnsAdd('brc'), go: netnsAdd('brc') };
const dirs = { ours: tempDir('br'), go: tempDir('br') };

const confs = (side) => {
  const ipam = { type: 'host-local', dataDir: dirs[side], subnet: '10.88.0.0/24' };
  const l3 = { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: 'bb0', isGateway: true, ipMasq: true, ipam };
  return [
    ['isGateway+ipMasq (iptables)', l3],
    ['isGateway+ipMasq nftables*', { ...l3, ipMasqBackend: 'nftables' }],
    ['dual-stack, default gw, ipMasq', { ...l3, isDefaultGateway: true, ipam: { ...ipam, subnet: undefined, ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]] } }],
    ['L2 (no ipam)', { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: 'bb0' }],
  ];
};
const invOf = (c) => (side) => ({ plugin: `${SIDES[side].bin}/bridge`, path: SIDES[side].path, conf: confs(side)[c][1], netns: `/run/netns/${ctrs[side]}` });

try {
  const rows = [];
  const execs = [];
  for (let c = 0; c < confs('ours').length; c++) {
    const [label] = confs('ours')[c];
    const t = await addDelRounds({ n, hosts, invOf: invOf(c), id: `b${c}` });
    rows.push(...rowsOf(label, t, ['ADD', 'DEL']));
    execs.push(await execCounts({ label, hosts, invOf: invOf(c), containerId: `x${c}` }));
  }
  printTable(`bridge, median of ${n} (min–max) (*Go 1.1.1 has no nftables backend: it uses iptables)`, rows);
  printExecCounts(execs);
  saveResults({ rounds: n, rows, execs });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
