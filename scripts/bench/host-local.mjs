// host-local and loopback: ADD/DEL wall time per exec, ours vs the Go plugins, interleaved, with 200 leases already in
// each store (so DEL walks a realistic store). Each side its own dataDir. `BENCH_ROUNDS` (default 20 here).
import { HostNetns, SIDES, interleave, netnsAdd, printTable, rounds, rowsOf, saveResults, tempDir } from './_lib.mjs';

const n = rounds(20);
const host = new HostNetns('hl');
const ctr = netnsAdd('hlc');
try {
  const dirs = { ours: tempDir('hl'), go: tempDir('hl') };
  const conf = (side) => ({ cniVersion: '1.0.0', name: 'bench', ipam: { type: 'host-local', dataDir: dirs[side], ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: 'fd00:1::/64' }]] } });
  const lo = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
  const hl = (side) => ({ plugin: `${SIDES[side].bin}/host-local`, conf: conf(side), path: SIDES[side].path });
  for (const side of ['ours', 'go']) for (let i = 0; i < 200; i++) await host.time({ ...hl(side), command: 'ADD', containerId: `fill${i}` });
  const t = await interleave(n, ['ours', 'go'], async (side, i) => {
    const loInv = { plugin: `${SIDES[side].bin}/loopback`, path: SIDES[side].path, conf: lo, netns: `/run/netns/${ctr}`, ifname: 'lo' };
    return {
      ADD: await host.time({ ...hl(side), command: 'ADD', containerId: `b${i}` }),
      DEL: await host.time({ ...hl(side), command: 'DEL', containerId: `b${i}` }),
      'loopback ADD': await host.time({ ...loInv, command: 'ADD' }),
      'loopback DEL': await host.time({ ...loInv, command: 'DEL' }),
    };
  });
  const rows = printTable(`host-local (dual-stack, 200 leases in the store) / loopback, median of ${n} (min–max)`, [
    ...rowsOf('host-local', t, ['ADD', 'DEL']),
    ...rowsOf('', t, ['loopback ADD', 'loopback DEL']).map((r) => ({ ...r, label: r.key })),
  ]);
  saveResults({ rounds: n, rows });
} finally {
  host.close();
}
