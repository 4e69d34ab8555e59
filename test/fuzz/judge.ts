/**
 * The verdict on one invocation: a plugin answers with the spec's error JSON (integer `code`, string `msg`) or a valid
 * result, never a stack trace, an internal error dressed as one, or an empty stdout on failure; it ends within the
 * time bound, forks no runaway chain, leaves no process running. cnictl and the agent: a one-line error on failure,
 * no stack trace, bounded time. Leaks (state left after a failed ADD or a DEL) come from snapshot.ts. Pure.
 */
import { parseCIDR } from '../../lib/ip.js';
import type { BoundedRun } from '../helpers/sandbox.js';

export type FindingKind = 'crash' | 'hang' | 'leak' | 'bad-output' | 'runaway';

export interface Finding {
  kind: FindingKind;
  /** The step (ADD, DEL, …) it happened in. */
  step: string;
  detail: string;
}

/** What one invocation did, as the sandbox reports it (its duration is not judged). */
export type Outcome = Omit<BoundedRun, 'ms'>;

const JS_FRAME = /^\s+at\s.+(?:\(.*:\d+:\d+\)|:\d+:\d+|\(native\)|<anonymous>\)?)\s*$/m;
const GO_PANIC = /^(?:panic: |goroutine \d+ \[|fatal error: |runtime error: )/m;
/** Messages of the JavaScript engine itself: an unhandled bug, even when it reaches stdout as a CNI error. */
const ENGINE_ERROR = /Maximum call stack size exceeded|is not a function|Cannot read propert|undefined is not an object|null is not an object|is not iterable|Out of memory|Invalid array length|RangeError|TypeError|ReferenceError|invalid memory address or nil pointer/;

/** A stack trace or panic in the output, if any (its first line). */
export function stackTrace(text: string): string | undefined {
  const m = JS_FRAME.exec(text) ?? GO_PANIC.exec(text);
  if (!m) return undefined;
  return text.slice(Math.max(0, m.index - 200), m.index + 120).trim().split('\n').slice(-3).join(' | ');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const KNOWN_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/**
 * Why `v` is not a valid ADD result in version `want` (empty: it is), each as `where: what` and then the value seen.
 * A part of the wrong type is reported and then read as empty, so that what depends on it is checked too.
 */
export function resultProblems(v: unknown, want?: string): string[] {
  const seen = (x: unknown): string => ` (got ${JSON.stringify(x)?.slice(0, 80)})`;
  if (!isObj(v)) return [`result: not a JSON object${seen(v)}`];
  const out: string[] = [];
  if (typeof v.cniVersion !== 'string') out.push('result: no string cniVersion');
  else if (want && KNOWN_VERSIONS.includes(want) && v.cniVersion !== want) out.push(`result: version ${v.cniVersion}, the config asked for ${want}`);
  if (v.cniVersion === '0.1.0' || v.cniVersion === '0.2.0') {
    for (const k of ['ip4', 'ip6']) {
      const ipc = v[k];
      if (ipc !== undefined && (!isObj(ipc) || typeof ipc.ip !== 'string' || !parseCIDR(ipc.ip))) out.push(`${k}.ip: not a CIDR${seen(ipc)}`);
    }
    return out;
  }
  const list = (key: string): unknown[] | undefined => {
    const x = v[key];
    if (x === undefined) return undefined;
    if (Array.isArray(x)) return x;
    out.push(`${key}: not an array${seen(x)}`);
    return [];
  };
  const ifaces = list('interfaces');
  for (const [n, i] of (ifaces ?? []).entries()) if (!isObj(i) || typeof i.name !== 'string' || !i.name) out.push(`interfaces[${n}]: no name${seen(i)}`);
  for (const [n, ip] of (list('ips') ?? []).entries()) {
    if (!isObj(ip) || typeof ip.address !== 'string' || !parseCIDR(ip.address)) {
      out.push(`ips[${n}]: no CIDR address${seen(ip)}`);
      continue;
    }
    if (ip.interface !== undefined && (!Number.isInteger(ip.interface) || (ip.interface as number) < 0 || (ip.interface as number) >= (ifaces ?? []).length)) {
      out.push(`ips[${n}]: interface ${JSON.stringify(ip.interface)} is not in interfaces${seen(ip.address)}`);
    }
  }
  for (const [n, r] of (list('routes') ?? []).entries()) if (!isObj(r) || typeof r.dst !== 'string' || !parseCIDR(r.dst)) out.push(`routes[${n}]: no CIDR dst${seen(r)}`);
  if (v.dns !== undefined && !isObj(v.dns)) out.push(`dns: not an object${seen(v.dns)}`);
  return out;
}

export const resultProblem = (v: unknown, want?: string): string | undefined => resultProblems(v, want)[0];

/** The problem without the value seen: the same flaw at the same place, whatever the plugin made of the value. */
const flawOf = (problem: string): string => problem.replace(/ \(got .*\)$/s, '');

/** The config's cniVersion as sent (undefined when stdin is not a JSON object). */
export function requestedVersion(stdin: string): string | undefined {
  try {
    const v = JSON.parse(stdin) as unknown;
    return isObj(v) && typeof v.cniVersion === 'string' ? v.cniVersion : undefined;
  } catch {
    return undefined;
  }
}

/** The prevResult in the config sent (undefined when there is none or stdin is not a JSON object). */
export function prevResultOf(stdin: string): unknown {
  try {
    const v = JSON.parse(stdin) as unknown;
    return isObj(v) ? v.prevResult : undefined;
  } catch {
    return undefined;
  }
}

function common(step: string, out: Outcome): Finding[] {
  const f: Finding[] = [];
  if (out.timedOut) f.push({ kind: 'hang', step, detail: 'killed by the time bound' });
  if (out.forkRefusals > 0) f.push({ kind: 'runaway', step, detail: `the process cap refused ${out.forkRefusals} forks (a delegation loop)` });
  if (out.leftover.length) f.push({ kind: 'leak', step, detail: `processes left running: ${out.leftover.join(' ')}` });
  const trace = stackTrace(out.stdout) ?? stackTrace(out.stderr);
  if (trace) f.push({ kind: 'crash', step, detail: `stack trace: ${trace}` });
  else if (out.status >= 128 && !out.timedOut) f.push({ kind: 'crash', step, detail: `killed by signal ${out.status - 128}` });
  return f;
}

/** A plugin invocation: `command` is the CNI_COMMAND it got, `stdin` what it read. */
export function judgePlugin(step: string, command: string | undefined, stdin: string, out: Outcome): Finding[] {
  const f = common(step, out);
  if (out.timedOut || out.status >= 128) return f;
  const text = out.stdout.trim();
  if (out.status !== 0) {
    if (!text) {
      if (f.some((x) => x.kind === 'crash')) return f; // the stack trace says it already
      f.push({ kind: 'crash', step, detail: `exit ${out.status} with nothing on stdout${out.stderr.trim() ? ` (stderr: ${out.stderr.trim().slice(0, 160)})` : ''}` });
      return f;
    }
    let e: unknown;
    try {
      e = JSON.parse(text);
    } catch {
      f.push({ kind: 'bad-output', step, detail: `exit ${out.status}, stdout is not JSON: ${text.slice(0, 160)}` });
      return f;
    }
    if (!isObj(e) || !Number.isInteger(e.code) || typeof e.msg !== 'string') {
      f.push({ kind: 'bad-output', step, detail: `exit ${out.status}, not the spec's error (integer code, string msg): ${text.slice(0, 160)}` });
      return f;
    }
    const said = `${e.msg} ${typeof e.details === 'string' ? e.details : ''}`;
    if (ENGINE_ERROR.test(said)) f.push({ kind: 'crash', step, detail: `an internal error reported as code ${e.code}: ${said.slice(0, 200)}` });
    return f;
  }
  if (command === 'ADD') {
    let r: unknown;
    try {
      r = JSON.parse(text);
    } catch {
      f.push({ kind: 'bad-output', step, detail: `ADD succeeded but stdout is not JSON: ${text.slice(0, 160) || '(empty)'}` });
      return f;
    }
    // a chained plugin passes the previous result on: what was already wrong in it is not this plugin's doing
    const inherited = new Set(resultProblems(prevResultOf(stdin)).map(flawOf));
    const problem = resultProblems(r, requestedVersion(stdin)).find((p) => !inherited.has(flawOf(p)));
    if (problem) f.push({ kind: 'bad-output', step, detail: `ADD succeeded with an invalid result: ${problem}` });
  } else if (command === 'VERSION') {
    let r: unknown;
    try {
      r = JSON.parse(text);
    } catch {
      r = undefined;
    }
    if (!isObj(r) || typeof r.cniVersion !== 'string' || !Array.isArray(r.supportedVersions)) f.push({ kind: 'bad-output', step, detail: `VERSION printed ${text.slice(0, 160) || '(nothing)'}` });
  } else if (text && command) {
    try {
      JSON.parse(text);
    } catch {
      f.push({ kind: 'bad-output', step, detail: `${command} succeeded but printed text that is not JSON: ${text.slice(0, 160)}` });
    }
  }
  return f;
}

/** cnictl or the agent: `expect` refuse means the input is invalid and must be refused. */
export function judgeCommand(step: string, expect: 'refuse' | 'any', out: Outcome, success: { leftoverAllowed: boolean }): Finding[] {
  const f = common(step, out).filter((x) => !(x.kind === 'leak' && out.status === 0 && success.leftoverAllowed));
  if (out.timedOut || out.status >= 128) return f;
  if (out.status !== 0) {
    const err = out.stderr.trim();
    if (!err) f.push({ kind: 'bad-output', step, detail: `exit ${out.status} without a word on stderr` });
    else if (ENGINE_ERROR.test(err)) f.push({ kind: 'crash', step, detail: `an internal error: ${err.split('\n')[0]!.slice(0, 200)}` });
  } else if (expect === 'refuse') {
    f.push({ kind: 'bad-output', step, detail: 'accepted an invalid input (exit 0)' });
  }
  return f;
}
