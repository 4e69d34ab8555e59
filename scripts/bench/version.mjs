// Process start: CNI_COMMAND=VERSION of a plugin (bridge), ours vs Go, interleaved. Nothing else happens in it:
// no stdin config, no netlink, no exec. Beside them, the runtime's floor: an executable compiled by the same Bun with
// the same flags from `process.exit(0)` (what any Bun-compiled program pays before its first line of code runs, and
// to exit). `BENCH_ROUNDS` (default 30 here).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bunCompile } from '../build.mjs';
import { HostNetns, SIDES, interleave, printTable, rounds, saveResults, stats, tempDir } from './_lib.mjs';

/** An executable of Bun's doing nothing, compiled as scripts/build.mjs compiles ours; undefined if that fails. */
function emptyBunExecutable() {
  const dir = tempDir('floor');
  writeFileSync(join(dir, 'empty.js'), 'process.exit(0)\n');
  const out = join(dir, 'empty');
  try {
    bunCompile(join(dir, 'empty.js'), out);
    return out;
  } catch (e) {
    console.log(`version: the runtime-floor executable could not be compiled (${String(e).split('\n')[0]}); its row is left out`);
    return undefined;
  }
}

const n = rounds(30);
const host = new HostNetns('ver');
try {
  const floor = emptyBunExecutable();
  const bins = { ...Object.fromEntries(Object.entries(SIDES).map(([s, v]) => [s, `${v.bin}/bridge`])), ...(floor ? { floor } : {}) };
  const t = await interleave(n, Object.keys(bins), (side) => host.time({ plugin: bins[side], command: 'VERSION', conf: {} }));
  const rows = printTable(`VERSION of bridge (process start), median of ${n} (min–max)`, [
    { label: 'VERSION', ours: stats(t.ours), go: stats(t.go) },
    ...(t.floor ? [{ label: 'an empty Bun executable (the runtime floor)', key: 'floor', ours: stats(t.floor), go: stats(t.go) }] : []),
  ]);
  saveResults({ rounds: n, rows });
} finally {
  host.close();
}
