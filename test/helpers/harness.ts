/**
 * Test harness: throwaway network namespaces and plugin invocations exactly as a runtime makes them
 * (the built executable, CNI_* env, config on stdin), run inside a per-test "host" netns.
 * Every namespace made here is named `cnits-*` and removed by cleanup(), even when a test fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const DIST = join(ROOT, 'dist', 'bin');
export const GO_PLUGINS = '/usr/lib/cni';
export const PREFIX = 'cnits-';
/** Names in dist/bin that are programs, not plugins. */
export const COMMAND_NAMES = ['cnictl', 'cni-ts-agent'];

export const isRoot = process.getuid?.() === 0;
export const haveGoPlugins = spawnSync('test', ['-x', `${GO_PLUGINS}/host-local`]).status === 0;

export interface Exec {
  status: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[], input?: string): Exec {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function shOk(cmd: string, args: string[], input?: string): string {
  const r = sh(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export const uniq = (): string => randomBytes(4).toString('hex');

/** Clean environment for plugin processes: no NODE_EXTRA_CA_CERTS, NODE_OPTIONS or anything else from the test runner. */
export function pluginEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface Invocation {
  /** Path of the plugin executable (e.g. `bin('host-local')` or `goBin('bridge')`). */
  plugin: string;
  command: string;
  conf: unknown;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** CNI_PATH; defaults to our dist/bin. */
  path?: string;
  env?: Record<string, string | undefined>;
  /** Run the plugin inside this netns (by name); undefined runs it in the caller's netns. */
  hostNetns?: string;
}

export interface PluginRun extends Exec {
  /** Parsed stdout (result or error), when it is JSON. */
  json: any;
}

export const bin = (type: string): string => join(DIST, type);
export const goBin = (type: string): string => join(GO_PLUGINS, type);

function invocationArgv(inv: Invocation): { cmd: string; argv: string[]; env: NodeJS.ProcessEnv; input: string } {
  const env = pluginEnv({
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname,
    CNI_ARGS: inv.args,
    CNI_PATH: inv.path ?? DIST,
    ...inv.env,
  });
  const input = typeof inv.conf === 'string' ? inv.conf : JSON.stringify(inv.conf);
  if (inv.hostNetns) return { cmd: 'ip', argv: ['netns', 'exec', inv.hostNetns, inv.plugin], env, input };
  return { cmd: inv.plugin, argv: [], env, input };
}

function parse(stdout: string): any {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

export function runPlugin(inv: Invocation): PluginRun {
  const { cmd, argv, env, input } = invocationArgv(inv);
  const r = spawnSync(cmd, argv, { env, input, encoding: 'utf8' });
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json: parse(r.stdout ?? '') };
}

export function runPluginAsync(inv: Invocation): Promise<PluginRun> {
  const { cmd, argv, env, input } = invocationArgv(inv);
  return new Promise((res) => {
    const p = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ status: code ?? 128, stdout, stderr, json: parse(stdout) }));
    p.stdin.end(input);
  });
}

/** A set of throwaway namespaces: one "host" in which plugins run, and containers beside it. */
export class TestNet {
  readonly id = uniq();
  readonly host: string;
  private readonly namespaces: string[] = [];
  private readonly dirs: string[] = [];

  constructor(readonly label = 't') {
    this.host = this.addNetns('h');
  }

  /** Create a netns named cnits-<label>-<id>-<suffix> with lo up; returns its name. */
  addNetns(suffix: string): string {
    const name = `${PREFIX}${this.label}-${this.id}-${suffix}`;
    shOk('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    shOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  addContainer(suffix = `c${this.namespaces.length}`): { name: string; path: string } {
    const name = this.addNetns(suffix);
    return { name, path: `/run/netns/${name}` };
  }

  /**
   * An "outside" namespace linked to the host netns by a veth (host end `hostIf`, outside end `outIf`), with the given
   * addresses (CIDRs; IPv6 without DAD). The outside has no route back to container subnets. Returns its name.
   */
  addOutside(hostAddrs: string[], outAddrs: string[], hostIf = 'up0', outIf = 'o0'): string {
    const out = this.addNetns('out');
    shOk('ip', ['-n', this.host, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', outIf, 'netns', out]);
    const batch = (ns: string, dev: string, addrs: string[]) =>
      shOk('ip', ['-n', ns, '-batch', '-'], [...addrs.map((a) => `addr add ${a} dev ${dev}${a.includes(':') ? ' nodad' : ''}`), `link set ${dev} up`].join('\n') + '\n');
    batch(this.host, hostIf, hostAddrs);
    batch(out, outIf, outAddrs);
    return out;
  }

  /**
   * A veth pair between the host netns (`hostIf`) and `container` (`ctrIf`), both up, with optional fixed MACs — a
   * container interface for chained plugins without running an interface plugin.
   */
  addVeth(container: string, hostIf: string, ctrIf = 'eth0', macs: { host?: string; ctr?: string } = {}): void {
    const addr = (m?: string) => (m ? ['address', m] : []);
    shOk('ip', ['-n', this.host, 'link', 'add', hostIf, ...addr(macs.host), 'type', 'veth', 'peer', 'name', ctrIf, ...addr(macs.ctr), 'netns', container]);
    shOk('ip', ['-n', this.host, 'link', 'set', hostIf, 'up']);
    shOk('ip', ['-n', container, 'link', 'set', ctrIf, 'up']);
  }

  /** Remove a namespace early (e.g. to test DEL after the container is gone). */
  removeNetns(name: string): void {
    sh('ip', ['netns', 'del', name]);
  }

  tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), `${PREFIX}${this.label}-`));
    this.dirs.push(d);
    return d;
  }

  /** Run a plugin in this test's host netns. */
  run(inv: Omit<Invocation, 'hostNetns'>): PluginRun {
    return runPlugin({ ...inv, hostNetns: this.host });
  }

  runAsync(inv: Omit<Invocation, 'hostNetns'>): Promise<PluginRun> {
    return runPluginAsync({ ...inv, hostNetns: this.host });
  }

  /** Run a command inside a namespace. */
  exec(netns: string, cmd: string, args: string[], input?: string): Exec {
    return sh('ip', ['netns', 'exec', netns, cmd, ...args], input);
  }

  ipJson(netns: string, args: string[]): any {
    const out = shOk('ip', ['-n', netns, '-j', ...args]).trim();
    return out ? JSON.parse(out) : [];
  }

  cleanup(): void {
    for (const n of this.namespaces.reverse()) sh('ip', ['netns', 'del', n]);
    this.namespaces.length = 0;
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.length = 0;
  }
}

/** Addresses (CIDR strings) on an interface inside a netns. */
export function addressesOf(netns: string, ifname: string): string[] {
  const out = sh('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', ifname]);
  if (out.status !== 0) return [];
  const links = JSON.parse(out.stdout || '[]') as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
  return (links[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export function ping(fromNetns: string, ip: string, count = 1): boolean {
  const six = ip.includes(':');
  return sh('ip', ['netns', 'exec', fromNetns, 'ping', ...(six ? ['-6'] : []), '-c', String(count), '-W', '2', ip]).status === 0;
}

/** Every path a `node` can be started from on this machine (PATH entries and their link targets). */
export function nodeBinaries(): string[] {
  const found = new Set<string>();
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    for (const name of ['node', 'nodejs']) {
      const p = join(dir, name);
      if (!existsSync(p)) continue;
      found.add(realpathSync(p));
      found.add(p);
    }
  }
  found.add(realpathSync(process.execPath));
  return [...found];
}

/** A shell command prefix that covers every node binary (/dev/null bind-mounted over it); run it in `unshare -m`. */
export const coverNodeScript = (): string => nodeBinaries().map((n) => `mount --bind /dev/null '${n}'`).join(' && ') + ' && ! node -e 0 2>/dev/null';
