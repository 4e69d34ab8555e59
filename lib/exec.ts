/** The one place that runs programs: spawnSync with argv arrays, never a shell. */
import { spawnSync, type StdioOptions } from 'node:child_process';
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
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runtimes may start plugins with an empty environment; system tools still have to be found. */
export function ensurePath(): void {
  if (!process.env.PATH) process.env.PATH = DEFAULT_PATH;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): RunResult {
  return traced(() => `exec ${[cmd, ...args].join(' ').slice(0, 120)}`, () => spawn(cmd, args, opts));
}

function spawn(cmd: string, args: readonly string[], opts: RunOptions): RunResult {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    env: opts.env,
    encoding: 'utf8',
    stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { status: 127, stdout: '', stderr: code === 'ENOENT' ? `${cmd}: command not found` : String(r.error.message) };
  }
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Run and return stdout; a non-zero exit becomes a plugin error naming the command and its stderr. */
export function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw pluginError(`${cmd} ${args.join(' ')} failed`, (r.stderr || r.stdout).trim());
  return r.stdout;
}
