/**
 * cnictl under test, isolated from the machine: a throwaway "host" netns (TestNet) and, inside it, a private mount
 * namespace (scripts/e2e/private-mounts.sh) held open by a sleeping process, in which /etc/cni/net.d, /var/lib/cni,
 * /run/cnictl, /run/netns are private and /opt/cni/bin is our dist/bin. Every cnictl call enters both namespaces
 * (nsenter -t HOLDER -m -n), so cnictl runs with its real default paths and nothing on the machine changes.
 * cleanup() kills every process of the host netns and of the sandboxes' namespaces, then removes the host netns.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DIST, ROOT, TestNet, type Exec } from './harness.js';

/** The cnictl under test; CNITS_CNICTL runs another (e.g. "bun dist/bin/cnictl" or a compiled executable). */
export const CNICTL: readonly string[] = process.env.CNITS_CNICTL ? process.env.CNITS_CNICTL.split(' ') : [join(DIST, 'cnictl')];
const PRIVATE_MOUNTS = join(ROOT, 'scripts', 'e2e', 'private-mounts.sh');
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class CnictlHost {
  readonly net: TestNet;
  private holder?: ChildProcess;
  holderPid = 0;

  constructor(label = 'ctl') {
    this.net = new TestNet(label);
  }

  /** Start the holder of the private mount namespace (everything is removed again when that fails). */
  async start(): Promise<this> {
    try {
      await this.startHolder();
    } catch (e) {
      this.cleanup();
      throw e;
    }
    return this;
  }

  private async startHolder(): Promise<void> {
    const tmp = this.net.tempDir();
    const p = spawn('ip', ['netns', 'exec', this.net.host, 'unshare', '-m', '--propagation', 'slave', 'bash', PRIVATE_MOUNTS, tmp, DIST, '--', 'bash', '-c', 'echo ready $$; exec sleep 100000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH },
    });
    this.holder = p;
    this.holderPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      let errOut = '';
      p.stdout!.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      p.stderr!.on('data', (d) => (errOut += d));
      p.on('exit', (code) => reject(new Error(`private mount namespace setup failed (${code}): ${errOut}`)));
    });
  }

  /** The environment cnictl runs with: a clean one plus `extra`. */
  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
    return env;
  }

  private enter(cmd: string, args: readonly string[]): string[] {
    return ['-t', String(this.holderPid), '-m', '-n', '--', cmd, ...args];
  }

  /** Any command inside the private host (its netns and mount namespace). */
  sh(cmd: string, args: readonly string[] = [], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Exec {
    const r = spawnSync('nsenter', this.enter(cmd, args), { env: this.env(opts.env), input: opts.input, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  shOk(cmd: string, args: readonly string[] = [], opts: { env?: Record<string, string | undefined>; input?: string } = {}): string {
    const r = this.sh(cmd, args, opts);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** `cnictl ARGS` inside the private host. */
  ctl(args: readonly string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Exec {
    return this.sh(CNICTL[0]!, [...CNICTL.slice(1), ...args], opts);
  }

  ctlOk(args: readonly string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): string {
    const r = this.ctl(args, opts);
    if (r.status !== 0) throw new Error(`cnictl ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A long-running cnictl (e.g. a foreground `run`), with its output collected. */
  ctlSpawn(args: readonly string[], opts: { env?: Record<string, string | undefined> } = {}): Running {
    const p = spawn('nsenter', this.enter(CNICTL[0]!, [...CNICTL.slice(1), ...args]), { env: this.env(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    return new Running(p);
  }

  /** Named netns in the private /run/netns. */
  netnsList(): string[] {
    return this.shOk('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  }

  cleanup(): void {
    if (this.holderPid) {
      // processes in the sandboxes' namespaces, then everything in the host netns (holder, supervisors)
      this.sh('bash', ['-c', 'for n in $(ip netns list | cut -d" " -f1); do ip netns pids "$n"; done | xargs -r kill -9']);
    }
    const pids = spawnSync('ip', ['netns', 'pids', this.net.host], { encoding: 'utf8' }).stdout?.trim();
    if (pids) spawnSync('kill', ['-9', ...pids.split(/\s+/)]);
    this.holder?.kill('SIGKILL');
    for (let i = 0; i < 50 && spawnSync('ip', ['netns', 'pids', this.net.host], { encoding: 'utf8' }).stdout?.trim(); i++) spawnSync('sleep', ['0.05']);
    this.holderPid = 0;
    this.net.cleanup();
  }
}

export class Running {
  stdout = '';
  stderr = '';
  readonly done: Promise<number>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d) => (this.stdout += d));
    proc.stderr!.on('data', (d) => (this.stderr += d));
    this.done = new Promise((resolve) => proc.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))));
  }

  /** Wait until stdout (or stderr) matches. */
  async waitFor(re: RegExp, ms = 20_000): Promise<void> {
    const t0 = Date.now();
    while (!re.test(this.stdout) && !re.test(this.stderr)) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}; stdout: ${this.stdout} stderr: ${this.stderr}`);
      if (this.proc.exitCode !== null) throw new Error(`exited (${this.proc.exitCode}) before ${re}; stdout: ${this.stdout} stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The Go cnitool built from Debian's libcni (scripts/e2e/build-cnitool.sh), or undefined when it cannot be built. */
export function cnitoolPath(): string | undefined {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'e2e', 'build-cnitool.sh')], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
