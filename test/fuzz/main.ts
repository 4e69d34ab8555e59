/**
 * `npm run fuzz` (scripts/fuzz.mjs bundles and runs this): seeded, reproducible fuzzing of every plugin, cnictl and the
 * agent, each invocation run as a runtime runs it inside a throwaway sandbox (runner.ts).
 *
 *   npm run fuzz -- [--seed N] [--count N] [--plugin bridge,ptp] [--ref DIR] [--timeout S] [--no-save] [--verbose]
 *
 *   --seed N     the run's seed (default: random, printed); the same seed and count give the same inputs
 *   --count N    cases per target (default 20); case 0 of each plugin is its valid config, unmutated
 *   --plugin X   only these targets (comma-separated plugin names, cnictl, cni-ts-agent)
 *   --ref DIR    run the plugins in DIR instead (e.g. /usr/lib/cni, the Go reference); cnictl and the agent are ours only
 *   --timeout S  seconds before an invocation counts as hung (default 30)
 *   --no-save    do not write failing cases to test/fuzz/regressions/
 *   --replay F   run the saved case(s) in file or directory F instead of generating
 *   --jobs N     cases run side by side, each in its own sandbox (default 2)
 *
 * Prints every failing case (its mutations and findings) and a table per target: inputs tried, crashes, hangs,
 * leaks, bad output, runaway forks. Exit status 1 when anything failed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DIST } from '../helpers/harness.js';
import { Sandbox } from '../helpers/sandbox.js';
import { REGRESSIONS, loadSaved, saveCase, type SavedCase } from './saved.js';
import { generateCase, type Case } from './generate.js';
import type { FindingKind } from './judge.js';
import { runCase, type CaseReport } from './runner.js';
import { TARGETS, type Target } from './targets.js';

const KINDS: readonly FindingKind[] = ['crash', 'hang', 'leak', 'bad-output', 'runaway'];

const describe = (c: Case): string => `${c.target} #${c.index}${c.mutations.length ? ` [${c.mutations.join('; ')}]` : ' [valid config]'}`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      count: { type: 'string', default: '20' },
      plugin: { type: 'string' },
      ref: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      'no-save': { type: 'boolean', default: false },
      replay: { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
      jobs: { type: 'string', short: 'j', default: '2' },
    },
  });
  if (process.getuid?.() !== 0) {
    console.error('npm run fuzz: needs root (namespaces)');
    return 2;
  }
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1e6);
  const count = Number(values.count);
  const timeoutSec = Number(values.timeout);
  const jobs = Number(values.jobs);
  if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 0 || !(timeoutSec > 0)) {
    console.error('npm run fuzz: --seed and --count take integers, --timeout a number of seconds');
    return 2;
  }
  const ref = values.ref;
  const bin = ref ?? DIST;
  if (!existsSync(join(DIST, 'cni-ts'))) {
    console.error('npm run fuzz: dist/bin/cni-ts missing: run npm run build first');
    return 2;
  }
  const only = values.plugin?.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(TARGETS.map((t) => t.name));
  for (const o of only ?? []) {
    if (!known.has(o)) {
      console.error(`npm run fuzz: unknown target ${o} (known: ${[...known].join(', ')})`);
      return 2;
    }
  }
  const targets: Target[] = TARGETS.filter((t) => (!only || only.includes(t.name)) && !(ref && t.kind === 'command') && (t.kind === 'command' || existsSync(join(bin, t.name))));
  const skipped = TARGETS.filter((t) => !targets.includes(t) && (!only || only.includes(t.name))).map((t) => t.name);

  const cases: Case[] = values.replay ? loadSaved(values.replay).map((s) => s.case).filter((c) => !only || only.includes(c.target)) : targets.flatMap((t) => Array.from({ length: count }, (_, i) => generateCase(t, seed, i)));
  const who = ref ? `reference ${ref}` : 'cni-ts';
  console.log(`fuzz: ${who}, ${values.replay ? `replaying ${values.replay}` : `seed ${seed}, ${count} cases per target`}, ${cases.length} cases; timeout ${timeoutSec}s per invocation`);
  if (skipped.length) console.log(`fuzz: not run: ${skipped.join(', ')}${ref ? ' (cnictl and the agent are ours; plugins missing from the reference directory)' : ''}`);

  const stats = new Map<string, { inputs: number; invocations: number; failed: number } & Record<FindingKind, number>>();
  const failing: CaseReport[] = [];
  let uncapped = false;
  const t0 = Date.now();
  // cases run `jobs` at a time, each in its own sandbox; reports are printed in case order
  const reports: Array<CaseReport | undefined> = new Array(cases.length);
  let nextToRun = 0;
  let nextToPrint = 0;
  const print = (): void => {
    for (; nextToPrint < cases.length && reports[nextToPrint]; nextToPrint++) {
      const report = reports[nextToPrint]!;
      const c = report.case;
      const s = stats.get(c.target) ?? { inputs: 0, invocations: 0, failed: 0, crash: 0, hang: 0, leak: 0, 'bad-output': 0, runaway: 0 };
      stats.set(c.target, s);
      uncapped ||= report.uncapped;
      s.inputs++;
      s.invocations += report.steps.filter((st) => st.label !== 'container netns deleted').length;
      const steps = report.steps.map((st) => `${c.target === 'cnictl' || c.target === 'cni-ts-agent' ? 'exit' : st.label.split(' ')[0]}→${st.status}`).join(' ');
      if (report.findings.length) {
        s.failed++;
        for (const k of new Set(report.findings.map((f) => f.kind))) s[k]++;
        failing.push(report);
        console.log(`FAIL ${describe(c)} ${steps}`);
        for (const f of report.findings) console.log(`     ${f.kind.toUpperCase()} in ${f.step}: ${f.detail}`);
        const err = report.steps.find((st) => st.status !== 0 && (st.stdout || st.stderr));
        if (err && values.verbose) console.log(`     output: ${(err.stdout || err.stderr).replace(/\s+/g, ' ').slice(0, 300)}`);
      } else if (values.verbose) {
        console.log(`ok   ${describe(c)} ${steps}`);
      }
      const done = nextToPrint + 1;
      if (!values.verbose && cases.length >= 40 && done % Math.ceil(cases.length / 4) === 0 && done < cases.length) {
        console.log(`fuzz: ${done}/${cases.length} cases, ${failing.length} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (nextToRun < cases.length) {
      const i = nextToRun++;
      reports[i] = await runCase(cases[i]!, { bin, timeoutSec });
      print();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  const secs = ((Date.now() - t0) / 1000).toFixed(0);

  console.log(`\nfuzz summary: ${who}${values.replay ? '' : `, seed ${seed}`}, ${secs} s${uncapped ? ' (NO pids cgroup: fork bombs bounded by the timeout only)' : ''}`);
  const header = ['target', 'inputs', 'invocations', 'failed', ...KINDS];
  const rows = [...stats.entries()].map(([t, s]) => [t, s.inputs, s.invocations, s.failed, ...KINDS.map((k) => s[k])].map(String));
  const all = [...stats.values()];
  rows.push(['total', ...(['inputs', 'invocations', 'failed', ...KINDS] as const).map((k) => String(all.reduce((n, s) => n + s[k], 0)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));

  if (failing.length && !values['no-save'] && !values.replay) {
    mkdirSync(REGRESSIONS, { recursive: true });
    for (const r of failing) {
      const file = join(REGRESSIONS, `${r.case.target}-s${r.case.seed}-i${r.case.index}${ref ? '-ref' : ''}.json`);
      const saved: SavedCase = { found: who, findings: r.findings.map((f) => `${f.kind} in ${f.step}: ${f.detail}`), case: r.case };
      saveCase(file, saved);
    }
    console.log(`saved ${failing.length} failing case(s) to ${REGRESSIONS} (replayed against cni-ts by test/integration/fuzz-regressions.test.ts)`);
  }
  return failing.length ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    Sandbox.stopAll();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
