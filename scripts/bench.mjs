#!/usr/bin/env node
// `npm run bench`: cni-ts vs the Go reference plugins (/usr/lib/cni, Debian 1.1.1) side by side, in one run.
// Runs every scripts/bench/*.mjs (each prints its own table: medians, min–max, ratios ours/Go) in a fixed order, then
// writes docs/bench/report.md with the targets of issues 18 and 9, portmap.svg and pod-phases.svg, and the agent's scale
// figures of issue 16 with agent-scale.svg (agent-scale.mjs: BENCH_AGENT_SIZES, BENCH_AGENT_ROUNDS, …).
//   npm run bench -- portmap chain   only the benchmarks whose file name contains one of the words (report not written,
//                                    unless BENCH_REPORT=1: then it is, with the other sections marked not measured;
//                                    BENCH_REPORT=update: only their sections and plots in the report are replaced)
//   BENCH_ROUNDS=N                   timed rounds of every per-exec benchmark (each has its own default)
//   BENCH_WARMUP=N                   untimed rounds first (2)
//   BENCH_SIZES=0,100,1000           portmap: installed mappings
//   BENCH_BURST_PODS=100 BENCH_BURST_CONCURRENCY=10 BENCH_BURST_ROUNDS=3
// Needs root, a built dist/bin (npm run build), the Go plugins, strace and /usr/bin/time (Debian package `time`).
// Everything runs in throwaway `cnits-bench-<run>-*` netns, removed at the end even when a benchmark fails.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineFacts, updateReport, writeReport } from './bench/_report.mjs';

const root = join(import.meta.dirname, '..');
const dir = join(import.meta.dirname, 'bench');
const ORDER = ['version', 'host-local', 'bridge', 'chain', 'macvlan', 'dhcp', 'ptp', 'vlan-dummy-tap', 'meta', 'device-routing', 'portmap', 'burst', 'rss', 'phases', 'execs', 'agent-scale'];
const filter = process.argv.slice(2);

if (process.getuid?.() !== 0) {
  console.error('npm run bench: needs root (network namespaces)');
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'bin', 'cni-ts'))) {
  console.error('npm run bench: dist/bin/cni-ts missing: run npm run build first');
  process.exit(1);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && !f.startsWith('_'))
  .map((f) => f.slice(0, -4))
  .sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b))
  .filter((f) => !filter.length || filter.some((x) => f.includes(x)));

const RUN = randomBytes(2).toString('hex');
// not /tmp/cnits-*: test cleanups of other jobs on this machine (scripts/check-clean.sh) remove those
const out = mkdtempSync(join(tmpdir(), 'cni-ts-bench-results-'));
const env = { ...process.env, BENCH_RUN_ID: RUN };
delete env.NODE_EXTRA_CA_CERTS; // adds ~38 ms to every Node start
delete env.NODE_OPTIONS;
const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ');
const t0 = Date.now();
const results = {};
const ran = [];
const failed = [];
try {
  for (const name of files) {
    console.log(`\n=== ${name}`);
    const file = join(out, `${name}.json`);
    const r = spawnSync(process.execPath, [join(dir, `${name}.mjs`)], { stdio: 'inherit', env: { ...env, BENCH_OUT: file } });
    ran.push(name);
    if (r.status !== 0) failed.push(name);
    else if (existsSync(file)) results[name] = JSON.parse(readFileSync(file, 'utf8'));
  }
  if (!filter.length || process.env.BENCH_REPORT === '1') {
    const targets = writeReport(results, join(root, 'docs', 'bench'), machineFacts(), { seconds: (Date.now() - t0) / 1000, loadStart, ran, failed });
    console.log('\n=== targets (issue 18, then issue 9)');
    for (const t of targets) console.log(`  ${t.met === undefined ? '–' : t.met ? '✓' : '✗'} ${t.name}: ${t.value ?? '–'} (goal ${t.goal}; ${t.measured})`);
    console.log('\nreport: docs/bench/report.md (+ portmap.svg, pod-phases.svg, agent-scale.svg)');
  } else if (process.env.BENCH_REPORT === 'update') {
    const updated = updateReport(results, join(root, 'docs', 'bench'), machineFacts(), { seconds: (Date.now() - t0) / 1000, loadStart, ran, failed });
    console.log(`\nreport: docs/bench/report.md, sections replaced: ${updated.join(', ') || 'none'}`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
  // a benchmark killed hard cannot clean up after itself: its netns carry this run's id
  for (const ns of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n')) {
    const name = ns.split(' ')[0];
    if (name.startsWith(`cnits-bench-${RUN}-`)) spawnSync('ip', ['netns', 'del', name]);
  }
}
process.exitCode = failed.length ? 1 : 0;
