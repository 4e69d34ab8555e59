/**
 * Runs one case for real: a fresh sandbox (test/helpers/sandbox.ts: throwaway netns and mount namespace, each
 * invocation in its own PID namespace under a process cap and a time bound), the target's setup, the case's steps
 * exactly as a runtime makes them (the executable, CNI_* env, config on stdin), a snapshot of everything a plugin can
 * leave before the case and after each step that must leave nothing, and the verdicts of judge.ts and snapshot.ts.
 */
import { join } from 'node:path';
import { Sandbox, type BoundedRun } from '../helpers/sandbox.js';
import { DIST } from '../helpers/harness.js';
import { passesPrevResult, type Case, type Step } from './generate.js';
import { judgeCommand, judgePlugin, type Finding } from './judge.js';
import { SNAPSHOT_SCRIPT, leaksBetween, parseSnapshot, type Snapshot } from './snapshot.js';
import { CONTAINER } from './targets.js';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  /** Directory of the plugins under test (dist/bin, or the reference's, e.g. /usr/lib/cni). */
  bin: string;
  /** Seconds before an invocation counts as hung. */
  timeoutSec: number;
  /** Process cap of an invocation. */
  maxPids?: number;
}

export interface StepReport {
  label: string;
  status: number;
  ms: number;
  /** First 300 characters of stdout (and of stderr when it failed). */
  stdout: string;
  stderr: string;
}

export interface CaseReport {
  case: Case;
  steps: StepReport[];
  findings: Finding[];
  /** The sandbox had no pids cgroup: a fork bomb would be bounded by the time limit only. */
  uncapped: boolean;
}

const sub = (v: string | undefined, bin: string): string | undefined => (v === undefined ? undefined : v.replaceAll('@BIN@', bin));
/** execve strings cannot hold NUL: a runtime could not pass one either. */
const noNul = (v: string): string => v.replaceAll('\u0000', '');

async function snapshot(box: Sandbox): Promise<Snapshot> {
  return parseSnapshot((await box.shellAsync(SNAPSHOT_SCRIPT)).stdout);
}

/** stdin with prevResult set to ADD's result, as a runtime sends it for CHECK and DEL (when stdin is a JSON object). */
function withPrevResult(stdin: string, addStdout: string | undefined): string {
  if (addStdout === undefined) return stdin;
  try {
    const conf = JSON.parse(stdin) as Record<string, unknown>;
    if (typeof conf !== 'object' || conf === null || Array.isArray(conf) || !passesPrevResult(conf.cniVersion)) return stdin;
    return JSON.stringify({ ...conf, prevResult: JSON.parse(addStdout) });
  } catch {
    return stdin;
  }
}

export async function runCase(c: Case, opts: RunOptions): Promise<CaseReport> {
  const box = await Sandbox.start({ label: 'fuzz', containerNames: [CONTAINER], maxPids: opts.maxPids ?? 64, ...(c.setup ? { setup: c.setup } : {}) });
  const steps: StepReport[] = [];
  const findings: Finding[] = [];
  try {
    let before: Snapshot | undefined;
    let addStdout: string | undefined;
    for (const step of c.steps) {
      if (!step.prepare && !before) before = await snapshot(box);
      if (step.kind === 'shell') {
        const r = await box.shellAsync(step.script ?? '');
        steps.push({ label: step.label, status: r.status, ms: 0, stdout: '', stderr: r.stderr.slice(0, 300) });
        continue;
      }
      const out = await invoke(box, c, step, opts, addStdout);
      steps.push({ label: step.label, status: out.status, ms: Math.round(out.ms), stdout: out.stdout.slice(0, 300), stderr: out.status !== 0 ? out.stderr.slice(0, 300) : '' });
      if (step.kind === 'plugin') {
        const command = step.env?.CNI_COMMAND;
        findings.push(...judgePlugin(step.label, command, out.input, out));
        const previous = steps.at(-2);
        if (step.repeat && previous?.status === 0 && out.status !== 0 && !out.timedOut) {
          findings.push({ kind: 'bad-output', step: step.label, detail: `DEL is not idempotent: it succeeded, then failed: ${out.stdout.trim().slice(0, 200)}` });
        }
        if (command === 'ADD' && out.status === 0) addStdout = out.stdout;
      } else if (!step.prepare) {
        findings.push(...judgeCommand(step.label, step.expect ?? 'any', out, { leftoverAllowed: true }));
      }
      const check = step.leakCheck === 'always' || (step.leakCheck === 'on-failure' && out.status !== 0);
      if (check && before && !out.timedOut) {
        const containerId = step.env?.CNI_CONTAINERID;
        const netnsDeleted = c.steps.some((s) => s.kind === 'shell');
        for (const leak of leaksBetween(before, await snapshot(box), containerId, { netnsDeleted })) {
          findings.push({ kind: 'leak', step: step.label, detail: `${leak.what}: ${leak.item}` });
        }
      }
    }
    return { case: c, steps, findings, uncapped: !box.capped };
  } finally {
    box.stop();
  }
}

async function invoke(box: Sandbox, c: Case, step: Step, opts: RunOptions, addStdout: string | undefined): Promise<BoundedRun & { input: string }> {
  if (step.kind === 'plugin') {
    const env: NodeJS.ProcessEnv = { PATH };
    for (const [k, v] of Object.entries(step.env ?? {})) if (v !== undefined) env[k] = noNul(sub(v, opts.bin)!);
    const stdin = step.prevFromAdd ? withPrevResult(step.stdin ?? '', addStdout) : (step.stdin ?? '');
    const input = step.stdinBytes ? Buffer.from(stdin, 'latin1') : stdin;
    return { ...(await box.run({ argv: [join(opts.bin, c.target)], env, input, timeoutSec: opts.timeoutSec })), input: stdin };
  }
  // cnictl finds the plugins in dist/bin (the sandbox has no /opt/cni/bin)
  const env: NodeJS.ProcessEnv = { PATH, CNI_PATH: DIST };
  for (const [k, v] of Object.entries(step.env ?? {})) if (v !== undefined) env[k] = noNul(v);
  const argv = [join(DIST, c.target), ...(step.argv ?? []).map(noNul)];
  return { ...(await box.run({ argv, env, input: '', timeoutSec: opts.timeoutSec })), input: '' };
}
