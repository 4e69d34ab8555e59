// Process start: CNI_COMMAND=VERSION of a plugin (bridge), ours vs Go, interleaved. Nothing else happens in it:
// no stdin config, no netlink, no exec. `BENCH_ROUNDS` (default 30 here).
import { HostNetns, SIDES, interleave, printTable, rounds, saveResults, stats } from './_lib.mjs';

const n = rounds(30);
const host = new HostNetns('ver');
try {
  const t = await interleave(n, ['ours', 'go'], (side) => host.time({ plugin: `${SIDES[side].bin}/bridge`, command: 'VERSION', conf: {} }));
  const rows = printTable(`VERSION of bridge (process start), median of ${n} (min–max)`, [{ label: 'VERSION', ours: stats(t.ours), go: stats(t.go) }]);
  saveResults({ rounds: n, rows });
} finally {
  host.close();
}
