// macvlan ADD/DEL wall time, cni-ts vs the Go reference, medians over N interleaved rounds, one throwaway host netns
// per side with a veth as master. Cases: L2 only (no IPAM: the plugin alone) and with host-local IPAM (each side its
// own). `BENCH_ROUNDS` (default 15).
import { HostNetns, SIDES, addDelRounds, netnsAdd, printTable, rounds, rowsOf, saveResults, tempDir } from './_lib.mjs';

const n = rounds(25); // DEL carries a 10–30 ms RCU wait in the kernel: more rounds for a stable median
const hosts = { ours: new HostNetns('mvh'), go: new HostNetns('mvh') };
const ctrs = { ours: netnsAdd('mvc'), go: netnsAdd('mvc') };
const dirs = { ours: tempDir('mv'), go: tempDir('mv') };
try {
  for (const h of Object.values(hosts)) {
    h.ip('link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm0p');
    h.ip('link', 'set', 'm0', 'up');
    h.ip('link', 'set', 'm0p', 'up');
  }
  const l2 = { cniVersion: '1.0.0', name: 'mvbench', type: 'macvlan', master: 'm0' };
  const l3 = (side) => ({ ...l2, ipam: { type: 'host-local', dataDir: dirs[side], ranges: [[{ subnet: '10.99.0.0/24', gateway: '10.99.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] } });
  const rows = [];
  for (const [label, confOf] of [['L2 (no ipam)', () => l2], ['host-local ipam', l3]]) {
    const invOf = (side) => ({ plugin: `${SIDES[side].bin}/macvlan`, path: SIDES[side].path, conf: confOf(side), netns: `/run/netns/${ctrs[side]}` });
    const t = await addDelRounds({ n, hosts, invOf, id: 'b' });
    rows.push(...rowsOf(label, t, ['ADD', 'DEL', 'ADD+DEL']));
  }
  printTable(`macvlan on a veth master, median of ${n} (min–max)`, rows);
  saveResults({ rounds: n, rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
