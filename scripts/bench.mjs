#!/usr/bin/env node
// `npm run bench`: runs every scripts/bench/*.mjs (each prints its own table: ours vs the Go reference, ratios).
// `npm run bench -- portmap` runs only the benchmarks whose file name contains "portmap".
// Benchmarks unset NODE_EXTRA_CA_CERTS (it adds ~38 ms to every Node start) and run as root in throwaway netns.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, 'bench');
const filter = process.argv.slice(2);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.NODE_OPTIONS;
let failed = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.mjs') && !f.startsWith('_')).sort()) {
  if (filter.length && !filter.some((x) => f.includes(x))) continue;
  console.log(`\n=== ${f}`);
  const r = spawnSync(process.execPath, [join(dir, f)], { stdio: 'inherit', env });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
