#!/usr/bin/env node
// `npm run fuzz`: the fuzz suite (test/fuzz/main.ts, options in its header). Bundles test/fuzz with esbuild into
// dist/build/fuzz.mjs and runs it with this node, without NODE_EXTRA_CA_CERTS/NODE_OPTIONS. Needs root and a built
// dist/bin (npm run build). Examples:
//   npm run fuzz -- --seed 1 --count 30                  every plugin, cnictl and the agent, 30 cases each
//   npm run fuzz -- --seed 1 --count 30 --ref /usr/lib/cni   the same inputs against the Go reference plugins
//   npm run fuzz -- --replay test/fuzz/regressions         the saved failing cases
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'build', 'fuzz.mjs');
await build({
  entryPoints: [join(root, 'test', 'fuzz', 'main.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // the bundle runs from dist/build: keep paths relative to the sources right
  define: { 'import.meta.dirname': JSON.stringify(join(root, 'test', 'helpers')) },
});
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.NODE_OPTIONS;
const r = spawnSync(process.execPath, [out, ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
