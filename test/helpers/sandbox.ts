/**
 * A throwaway host for running plugins (or cnictl, the agent) exactly as a runtime runs them, that nothing can escape:
 *
 *   - a holder process in its own network namespace (anonymous: nothing in `ip netns list`) and a private mount
 *     namespace: /etc is a copy-on-write overlay (with /etc/cni and /etc/cnictl emptied), /var/lib and /run are empty
 *     tmpfs (so leases, backups, locks and state files are the sandbox's own), sysfs is remounted for its netns.
 *     Container namespaces are `ip netns add`ed in its private /run/netns, so they die with it;
 *   - every invocation enters those namespaces and runs in its OWN PID namespace (`unshare --pid --fork --kill-child
 *     --mount-proc`): whatever the program leaves running is listed and then killed with the namespace's init;
 *   - a pids cgroup per sandbox (cgroup v1 or v2, when the machine has one) caps the processes of an invocation, so a
 *     delegation loop (fork bomb) fails to fork instead of exhausting the machine, and the cap being hit is reported;
 *   - a time bound per invocation (SIGKILL to unshare, whose --kill-child takes the whole PID namespace with it).
 * stop() kills the holder: its namespaces, links, rules and files go with it; so does the death of the process that
 * started it (the holder runs with a parent-death signal).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';


const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Marker lines the invocation wrapper appends to stderr (stripped from what callers see). */
const LEFT_MARK = '@@cnits-sandbox-left';

/** A pids cgroup (v1 `pids` hierarchy or v2 with the pids controller): caps the processes of whatever is put in it. */
export class PidsCgroup {
  private constructor(readonly dir: string) {}

  /** Create one with a `max` cap; undefined when the machine offers no pids controller we can use. */
  static create(label: string, max: number): PidsCgroup | undefined {
    const name = `cnits-${label}-${randomBytes(4).toString('hex')}`;
    const v1 = '/sys/fs/cgroup/pids';
    const v2 = '/sys/fs/cgroup';
    let dir: string | undefined;
    if (existsSync(join(v1, 'cgroup.procs')) && !existsSync(join(v1, 'cgroup.controllers'))) dir = join(v1, name);
    else if (existsSync(join(v2, 'cgroup.subtree_control')) && /\bpids\b/.test(readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8'))) dir = join(v2, name);
    if (!dir) return undefined;
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pids.max'), String(max));
      return new PidsCgroup(dir);
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        /* never created */
      }
      return undefined;
    }
  }

  /** How often a fork was refused because of the cap, so far. */
  refusals(): number {
    try {
      return Number(/max (\d+)/.exec(readFileSync(join(this.dir, 'pids.events'), 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** Shell words that put the shell running them into this cgroup. */
  enterScript(): string {
    return `echo $$ > '${this.dir}/cgroup.procs'`;
  }

  remove(): void {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch {
        spawnSync('sleep', ['0.1']); // the last processes are still being reaped
      }
    }
  }
}

export interface BoundedRun {
  status: number;
  stdout: string;
  stderr: string;
  /** Killed by the time bound. */
  timedOut: boolean;
  /** Processes (pid:comm, in the invocation's PID namespace) still running when the program exited; they were killed. */
  leftover: string[];
  /** Forks refused by the process cap during this invocation (a delegation loop). */
  forkRefusals: number;
  ms: number;
}

export interface SandboxInvocation {
  argv: string[];
  env: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Seconds before the program is killed. */
  timeoutSec?: number;
}

export interface SandboxOptions {
  /** Names each container netns `cnits-<label>-<id>-c<n>`. */
  label: string;
  /** Container network namespaces to create (paths in `containers`). */
  containers?: number;
  /** Their names instead (they live in the sandbox's private /run/netns, so fixed names cannot clash). */
  containerNames?: string[];
  /** Process cap per invocation (default 128). */
  maxPids?: number;
  /** Shell run in the sandbox after the namespaces exist (e.g. links a test needs on the host). */
  setup?: string;
}

export class Sandbox {
  readonly id = randomBytes(4).toString('hex');
  readonly containers: string[] = [];
  private holderPid = 0;
  private tmp = '';
  private cgroup: PidsCgroup | undefined;

  private static readonly running = new Set<Sandbox>();

  private constructor(readonly label: string) {}

  /** Stop every sandbox this process started (e.g. on SIGINT). */
  static stopAll(): void {
    for (const s of [...Sandbox.running]) s.stop();
  }

  static async start(opts: SandboxOptions): Promise<Sandbox> {
    const s = new Sandbox(opts.label);
    Sandbox.running.add(s);
    try {
      await s.boot(opts);
    } catch (e) {
      s.stop();
      throw e;
    }
    return s;
  }

  /** Path of container netns `i` (CNI_NETNS). */
  netnsPath(i = 0): string {
    return `/run/netns/${this.containers[i]}`;
  }

  private async boot(opts: SandboxOptions): Promise<void> {
    this.tmp = mkdtempSync(join(tmpdir(), `cnits-${this.label}-`));
    if (opts.containerNames) this.containers.push(...opts.containerNames);
    else for (let i = 0; i < (opts.containers ?? 1); i++) this.containers.push(`cnits-${this.label}-${this.id}-c${i}`);
    const inner = [
      'set -e',
      'mount -t tmpfs -o mode=0755 tmpfs "$0"',
      'mkdir -p "$0/up" "$0/work"',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/up,workdir=$0/work" /etc',
      'rm -rf /etc/cni /etc/cnictl',
      'mkdir -p /etc/cni/net.d',
      'mount -t tmpfs -o mode=0755 tmpfs /var/lib',
      'mount -t tmpfs -o mode=0755 tmpfs /run',
      'mkdir -p /run/netns /run/lock',
      'mount --bind /run/netns /run/netns',
      'mount --make-shared /run/netns',
      'umount -l /sys',
      'mount -t sysfs sysfs /sys',
      'ip link set lo up',
      ...this.containers.map((c) => `ip netns add ${c} && ip -n ${c} link set lo up`),
      'echo ready $$',
      'exec sleep 1000000',
    ].join('\n');
    // --pdeathsig: should this process die without stop(), the holder (and so the whole sandbox) dies with it
    const p = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--mount', '--propagation', 'slave', '--', 'sh', '-c', inner, this.tmp], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH },
    });
    this.holderPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      p.stdout!.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      p.stderr!.on('data', (d) => (err += d));
      p.on('exit', (code) => reject(new Error(`sandbox setup failed (${code}): ${err.trim()}`)));
    });
    p.stdout!.destroy();
    p.stderr!.destroy();
    p.unref();
    this.cgroup = PidsCgroup.create(this.label, opts.maxPids ?? 128);
    if (opts.setup) {
      const r = this.shell(opts.setup);
      if (r.status !== 0) throw new Error(`sandbox setup script failed: ${r.stderr.trim()}`);
    }
  }

  /** Is there a process cap (a pids cgroup)? Without one, a fork bomb is bounded only by the timeout. */
  get capped(): boolean {
    return this.cgroup !== undefined;
  }

  /** Run a shell script in the sandbox's namespaces (no PID namespace: for setup and snapshots). */
  shell(script: string, input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('nsenter', this.shellArgv(script), { input, encoding: 'utf8', env: { PATH }, timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
    return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  shellAsync(script: string): Promise<{ status: number; stdout: string; stderr: string }> {
    return collect(spawn('nsenter', this.shellArgv(script), { env: { PATH }, stdio: ['ignore', 'pipe', 'pipe'] }), '', 60_000).then((r) => ({ status: r.status, stdout: r.stdout, stderr: r.stderr }));
  }

  private shellArgv(script: string): string[] {
    return ['-t', String(this.holderPid), '-n', '-m', '--', 'sh', '-c', script];
  }

  /**
   * Run a program as a runtime would (env + stdin), in the sandbox's namespaces and its own PID namespace, capped and
   * time-bounded. Whatever it leaves running is reported in `leftover` and killed.
   */
  invoke(inv: SandboxInvocation): BoundedRun {
    const { argv, before, timeoutMs } = this.prepare(inv);
    const t0 = performance.now();
    const r = spawnSync('sh', argv, { input: inv.input ?? '', env: inv.env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
    return this.finish({ status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '', killed: r.signal === 'SIGKILL' }, before, performance.now() - t0);
  }

  /** invoke(), without blocking: sandboxes can run side by side. */
  async run(inv: SandboxInvocation): Promise<BoundedRun> {
    const { argv, before, timeoutMs } = this.prepare(inv);
    const t0 = performance.now();
    const r = await collect(spawn('sh', argv, { env: inv.env, stdio: ['pipe', 'pipe', 'pipe'] }), inv.input ?? '', timeoutMs);
    return this.finish(r, before, performance.now() - t0);
  }

  private prepare(inv: SandboxInvocation): { argv: string[]; before: number; timeoutMs: number } {
    // pid 1 of the new PID namespace: runs the program, lists what is left (builtins only: no fork), then exits,
    // which kills everything else in the namespace. The time bound kills unshare, and --kill-child its pid 1.
    const wrapper = [
      '"$@"; rc=$?',
      'left=""',
      'for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = 1 ] && continue; c=?; read -r c < "$d/comm" 2>/dev/null; left="$left $p:$c"; done',
      `[ -n "$left" ] && echo "${LEFT_MARK}$left" >&2`,
      'exit $rc',
    ].join('\n');
    const enter = this.cgroup ? `${this.cgroup.enterScript()} && ` : '';
    const outer = `${enter}exec nsenter -t ${this.holderPid} -n -m -- unshare --pid --fork --kill-child --mount-proc --propagation unchanged -- sh -c '${wrapper.replace(/'/g, `'\\''`)}' sandbox "$@"`;
    return { argv: ['-c', outer, 'sandbox', ...inv.argv], before: this.cgroup?.refusals() ?? 0, timeoutMs: (inv.timeoutSec ?? 30) * 1000 };
  }

  private finish(r: { status: number; stdout: string; stderr: string; killed: boolean }, before: number, ms: number): BoundedRun {
    const lines = r.stderr.split('\n');
    const leftLine = lines.find((l) => l.startsWith(LEFT_MARK));
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: lines.filter((l) => !l.startsWith(LEFT_MARK)).join('\n'),
      timedOut: r.killed,
      leftover: leftLine ? leftLine.slice(LEFT_MARK.length).trim().split(/\s+/) : [],
      forkRefusals: (this.cgroup?.refusals() ?? 0) - before,
      ms,
    };
  }

  stop(): void {
    Sandbox.running.delete(this);
    if (this.holderPid) {
      try {
        process.kill(this.holderPid, 'SIGKILL'); // its namespaces (and the tmpfs on tmp) are released as it exits
      } catch {
        /* already gone */
      }
      this.holderPid = 0;
    }
    this.cgroup?.remove();
    this.cgroup = undefined;
    if (this.tmp) {
      try {
        rmdirSync(this.tmp);
      } catch {
        /* not empty: leave it to check-clean */
      }
      this.tmp = '';
    }
  }
}

/** Feed `input`, gather the output, SIGKILL the process after `timeoutMs`. */
function collect(p: ChildProcess, input: string | Buffer, timeoutMs: number): Promise<{ status: number; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.stdout?.on('data', (d: Buffer) => out.push(d));
    p.stderr?.on('data', (d: Buffer) => err.push(d));
    p.stdin?.on('error', () => undefined); // the program may exit without reading stdin
    p.stdin?.end(input);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 128), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), killed });
    });
  });
}
