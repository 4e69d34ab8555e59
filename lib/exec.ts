/**
 * The one place that runs programs: synchronous, argv arrays, never a shell. Under Bun (the shipped executable)
 * Bun.spawnSync, because loading node:child_process and its first spawn cost Bun ~1.3 ms per process; under Node, or
 * for custom stdio (an inherited fd), child_process.spawnSync, loaded on first use.
 */
import type { StdioOptions } from 'node:child_process';
import { pluginError } from './cni/errors.js';
import { traced } from './trace.js';

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
  /** Kill the program (SIGKILL) after this many milliseconds; default: setExecTimeout's, else none. */
  timeoutMs?: number;
}

let defaultTimeoutMs: number | undefined;

/**
 * Bound every program this process runs (a long-running daemon must not freeze on a hung `ip` or `nft`): a program
 * still running after `ms` is killed and its result is status 124 with a stderr saying so. Plugins leave it unset.
 */
export function setExecTimeout(ms: number | undefined): void {
  defaultTimeoutMs = ms;
}

const timedOut = (cmd: string, ms: number): RunResult => ({ status: 124, stdout: '', stderr: `${cmd} did not finish within ${ms / 1000}s and was killed` });

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runtimes may start plugins with an empty environment; system tools still have to be found. */
export function ensurePath(): void {
  if (!process.env.PATH) process.env.PATH = DEFAULT_PATH;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): RunResult {
  const o = opts.timeoutMs === undefined && defaultTimeoutMs !== undefined ? { ...opts, timeoutMs: defaultTimeoutMs } : opts;
  return traced(() => `exec ${[cmd, ...args].join(' ').slice(0, 120)}`, () => spawn(cmd, args, o));
}

interface BunSpawnResult {
  exitCode: number | null;
  exitedDueToTimeout?: boolean;
  stdout?: Uint8Array;
  stderr?: Uint8Array;
}
type BunSpawnSync = (argv: string[], o: { env?: NodeJS.ProcessEnv; stdin: 'ignore' | Uint8Array; stdout: 'pipe'; stderr: 'pipe'; timeout?: number; killSignal?: string }) => BunSpawnResult;
const bunSpawnSync = (globalThis as { Bun?: { spawnSync: BunSpawnSync } }).Bun?.spawnSync;

const notFound = (cmd: string): RunResult => ({ status: 127, stdout: '', stderr: `${cmd}: command not found` });

function spawn(cmd: string, args: readonly string[], opts: RunOptions): RunResult {
  if (bunSpawnSync && !opts.stdio) return spawnBun(bunSpawnSync, cmd, args, opts);
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(cmd, args, {
    input: opts.input,
    env: opts.env,
    encoding: 'utf8',
    stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT' && opts.timeoutMs) return timedOut(cmd, opts.timeoutMs);
    // The program ended before reading all its input (e.g. it refused its arguments): its own status and words count.
    if (code === 'EPIPE' && r.status !== null) return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    return code === 'ENOENT' ? notFound(cmd) : { status: 127, stdout: '', stderr: String(r.error.message) };
  }
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const decoder = new TextDecoder();

function spawnBun(spawnSync: BunSpawnSync, cmd: string, args: readonly string[], opts: RunOptions): RunResult {
  let r: BunSpawnResult;
  try {
    r = spawnSync([cmd, ...args], {
      ...(opts.env ? { env: opts.env } : {}),
      stdin: opts.input !== undefined ? Buffer.from(opts.input) : 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || /not found|ENOENT/i.test(String((e as Error).message))) return notFound(cmd);
    return { status: 127, stdout: '', stderr: String((e as Error).message) };
  }
  if (r.exitedDueToTimeout && opts.timeoutMs) return timedOut(cmd, opts.timeoutMs);
  const text = (b: Uint8Array | undefined): string => (b ? decoder.decode(b) : '');
  return { status: r.exitCode ?? 128, stdout: text(r.stdout), stderr: text(r.stderr) };
}

/** Wait `ms` without a program or an event loop (between the retries of a synchronous plugin step). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Run and return stdout; a non-zero exit becomes a plugin error naming the command and its stderr. */
export function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw pluginError(`${cmd} ${args.join(' ')} failed`, (r.stderr || r.stdout).trim());
  return r.stdout;
}
