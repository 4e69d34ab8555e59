/**
 * Running iproute2 and sysctl inside a network namespace.
 * In the executable, `ip` and `bridge` command lines run in-process over rtnetlink (lib/rtnetlink: same results and
 * error texts); otherwise, and for any line outside what that takes over, the program runs: named netns (under
 * /run/netns) with `ip -n NAME`, any other path through `nsenter --net=PATH`.
 */
import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { basename, dirname } from './paths.js';
import { CniError, ErrorCode, pluginError } from './cni/errors.js';
import { run, type RunResult } from './exec.js';
import { inNetns, libc, type Libc } from './native.js';
import { traced } from './trace.js';

const NAMED_DIRS = new Set(['/var/run/netns', '/run/netns']);

type RtnetlinkModule = typeof import('./rtnetlink/index.js');
let rtnetlink: RtnetlinkModule | undefined;
/** lib/rtnetlink, loaded on first use only where it can run (the executable's FFI): a plugin pays for it when it needs it. */
const inProcess = (): RtnetlinkModule | undefined => (libc() ? (rtnetlink ??= require('./rtnetlink/index.js') as RtnetlinkModule) : undefined);

export class Netns {
  /** `path` undefined means the namespace this process runs in (the host). */
  private constructor(readonly path: string | undefined) {}

  static host(): Netns {
    return new Netns(undefined);
  }

  static at(path: string): Netns {
    return new Netns(path);
  }

  get isHost(): boolean {
    return this.path === undefined;
  }

  get label(): string {
    return this.path ?? 'host netns';
  }

  /** The name `ip -n` accepts, when the path is a named netns. */
  private get ipName(): string | undefined {
    return this.path && NAMED_DIRS.has(dirname(this.path)) ? basename(this.path) : undefined;
  }

  exists(): boolean {
    return this.path === undefined || existsSync(this.path);
  }

  /** Is this the namespace the current process already runs in? */
  isCurrent(): boolean {
    if (!this.path) return true;
    try {
      const a = statSync(this.path);
      const b = statSync('/proc/self/ns/net');
      return a.ino === b.ino && a.dev === b.dev;
    } catch {
      return false;
    }
  }

  /** This netns, or the reference's "failed to open netns" error when it does not exist (DEL checks exists() instead). */
  requireExists(): this {
    if (!this.exists()) throw new CniError(ErrorCode.Internal, `failed to open netns "${this.path}": no such file or directory`);
    return this;
  }

  /** Run any program inside this namespace. */
  exec(cmd: string, args: readonly string[], input?: string): RunResult {
    if (!this.path) return run(cmd, args, { input });
    return run('nsenter', [`--net=${this.path}`, '--', cmd, ...args], { input });
  }

  /** `ip ARGS` inside this namespace: in-process over rtnetlink when taken over, else the program. */
  ip(args: readonly string[], input?: string): RunResult {
    return inProcess()?.ipInProcess(args, input, this.path) ?? this.program('ip', args, input);
  }

  /** `bridge ARGS` (vlan, fdb) inside this namespace, as `ip`. */
  bridge(args: readonly string[], input?: string): RunResult {
    return inProcess()?.bridgeInProcess(args, input, this.path) ?? this.program('bridge', args, input);
  }

  /** The iproute2 program itself in this namespace (`-n NAME` for a named netns). */
  private program(tool: 'ip' | 'bridge', args: readonly string[], input?: string): RunResult {
    const name = this.ipName;
    if (this.isHost) return run(tool, args, { input });
    if (name) return run(tool, ['-n', name, ...args], { input });
    return this.exec(tool, args, input);
  }

  /**
   * `ip -j ARGS` / `bridge -j ARGS` (one listing): its status and stderr, and the objects it prints ([] when it fails).
   * In-process they come from lib/rtnetlink as objects (no JSON text written and parsed back); from the program, its
   * output parsed. The same objects either way (test/integration/rtnetlink-compat).
   */
  list<T>(tool: 'ip' | 'bridge', args: readonly string[]): { status: number; stderr: string; items: T[] } {
    const taken = inProcess()?.listInProcess(tool, ['-j', ...args], this.path);
    if (taken) return { status: taken.status, stderr: taken.stderr, items: (taken.status === 0 ? (taken.lists[0] ?? []) : []) as T[] };
    const r = this.program(tool, ['-j', ...args]);
    const out = r.status === 0 ? r.stdout.trim() : '';
    return { status: r.status, stderr: r.stderr, items: (out ? JSON.parse(out) : []) as T[] };
  }

  /**
   * `ip` and `bridge` change lines as ONE batch of netlink messages in this namespace, every line tried (as -force):
   * per line undefined (done) or iproute2's error text for it. Undefined when not run in-process (no FFI, or a line
   * outside what lib/rtnetlink takes over): then run them with `-force -batch`.
   */
  netlinkBatch(lines: ReadonlyArray<{ tool: 'ip' | 'bridge'; line: string }>): Array<string | undefined> | undefined {
    return inProcess()?.batchInProcess(lines, this.path);
  }

  ipOk(args: readonly string[]): string {
    const r = this.ip(args);
    if (r.status !== 0) throw pluginError(`ip ${args.join(' ')} in ${this.label} failed`, r.stderr.trim());
    return r.stdout;
  }

  /** `ip -j ARGS`, parsed (Netns.list). Empty output is an empty list; a failure throws. */
  ipJson<T = unknown>(args: readonly string[]): T {
    const r = this.list('ip', args);
    if (r.status !== 0) throw pluginError(`ip -j ${args.join(' ')} in ${this.label} failed`, r.stderr.trim());
    return r.items as T;
  }

  /** Many ip commands in one `ip -batch` (in-process, or one exec). Stops at the first failure unless `force`. */
  ipBatch(lines: readonly string[], force = false): RunResult {
    if (lines.length === 0) return { status: 0, stdout: '', stderr: '' };
    return this.ip(force ? ['-force', '-batch', '-'] : ['-batch', '-'], lines.join('\n') + '\n');
  }

  ipBatchOk(lines: readonly string[]): void {
    const r = this.ipBatch(lines);
    if (r.status !== 0) throw pluginError(`configuring ${this.label} failed`, describeBatchFailure(r.stderr, lines));
  }

  /**
   * Set sysctls (keys in slash form, e.g. "net/ipv4/conf/eth0/arp_notify") in this namespace.
   * The host is written directly; other namespaces need one `sysctl` exec for all keys.
   * `ignoreMissing`: keys the kernel does not have (e.g. IPv6 disabled) are skipped.
   */
  sysctlSet(values: Record<string, string>, ignoreMissing = false): void {
    const keys = Object.keys(values);
    if (keys.length === 0) return;
    const c = this.path ? libc() : undefined;
    if (this.isHost || c) {
      // /proc/sys/net resolves to the netns of the calling thread: the host's, or the container's entered with setns(2)
      const write = (): void => writeSysctls(values, ignoreMissing, this.label);
      if (this.isHost) write();
      else traced('setns+sysctl', () => inNetnsOrFail(c!, this.path!, write));
      return;
    }
    const r = this.exec('sysctl', [...(ignoreMissing ? ['-e'] : []), '-q', '-w', ...keys.map((k) => `${k}=${values[k]}`)]);
    if (r.status !== 0) throw pluginError(`failed to set sysctls in ${this.label}`, r.stderr.trim());
  }

  /**
   * Run `fn` — which creates a link in this namespace — with `defaults` (keys in slash form under
   * net/ipv4/conf/default/ or net/ipv6/conf/default/) in place: the kernel copies a netns's `default` settings into a
   * device when it is created, so the new link starts with them, as if they had been set on it before its addresses.
   * The previous defaults are put back afterwards, also when `fn` throws. Keys the kernel lacks (IPv6 disabled) are
   * skipped. In-process only: needs the executable's FFI (`libc()`); callers check that first.
   */
  withLinkDefaults<T>(c: Libc, defaults: Record<string, string>, fn: () => T): T {
    const keys = Object.keys(defaults);
    if (!keys.length) return fn();
    const enter = <R>(g: () => R): R => (this.isHost ? g() : inNetnsOrFail(c, this.path!, g));
    const before = new Map<string, string>();
    try {
      enter(() => {
        for (const k of keys) {
          try {
            before.set(k, readFileSync(`/proc/sys/${k}`, 'utf8').trim());
          } catch {
            continue; // absent here
          }
          writeFileSync(`/proc/sys/${k}`, defaults[k]!);
        }
      });
      return fn();
    } finally {
      if (before.size) {
        enter(() => {
          for (const [k, v] of before) writeFileSync(`/proc/sys/${k}`, v);
        });
      }
    }
  }

  /**
   * Read several sysctls (slash form) in this namespace: keys that cannot be read are absent from the map.
   * In-process (host, or setns(2) in the executable); otherwise one `grep -H` over the files.
   */
  sysctlRead(keys: readonly string[]): Map<string, string> {
    const readAll = (): Map<string, string> => {
      const m = new Map<string, string>();
      for (const k of keys) {
        try {
          m.set(k, readFileSync(`/proc/sys/${k}`, 'utf8').replace(/\n$/, ''));
        } catch {
          /* absent */
        }
      }
      return m;
    };
    if (this.isHost) return readAll();
    const c = libc();
    if (c) return inNetnsOrFail(c, this.path!, readAll);
    return parseProcValues(this.exec('grep', ['-H', '', ...keys.map((k) => `/proc/sys/${k}`)]).stdout);
  }
}

/** Write sysctls (slash form) under /proc/sys of the calling thread's netns, skipping values already set. */
function writeSysctls(values: Record<string, string>, ignoreMissing: boolean, label: string): void {
  for (const [k, v] of Object.entries(values)) {
    const file = `/proc/sys/${k}`;
    try {
      if (readFileSync(file, 'utf8').trim() === v) continue;
      writeFileSync(file, v);
    } catch (e) {
      if (ignoreMissing && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw pluginError(`failed to set sysctl ${k}=${v} in ${label}`, (e as Error).message);
    }
  }
}

function inNetnsOrFail<T>(c: Libc, path: string, fn: () => T): T {
  try {
    return inNetns(c, path, fn);
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw pluginError(`failed to enter netns ${path}`, (e as Error).message);
  }
}

/** `grep -H '' FILE...` output ("/proc/sys/net/x:value" lines) as key → value (key relative to /proc/sys). */
export function parseProcValues(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (!line.startsWith('/proc/sys/')) continue;
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice('/proc/sys/'.length, i), line.slice(i + 1));
  }
  return m;
}

/** The 1-based line an `ip -batch` / `tc -batch` run failed at ("Command failed -:N" on stderr); 0 when unknown. */
export const batchFailedLine = (stderr: string): number => Number(/Command failed -:(\d+)/.exec(stderr)?.[1] ?? 0);

/** A failed `-batch` run's first error message, naming the line that failed (`tool` is ip or tc). */
export function describeBatchFailure(stderr: string, lines: readonly string[], tool = 'ip'): string {
  const line = lines[batchFailedLine(stderr) - 1];
  const first = stderr.split('\n').find((l) => l.trim() && !l.startsWith('Command failed')) ?? stderr.trim();
  return line ? `${first.trim()} (while running "${tool} ${line}")` : stderr.trim();
}

/** Errors iproute2 prints when the object is already gone (DEL tolerates these). */
export function isNotFound(stderr: string): boolean {
  return /Cannot find device|does not exist|No such device|No such file or directory|Cannot open network namespace|not found/i.test(stderr);
}
