/**
 * Sandboxes from birth to removal: register (name, ports — under the state lock), namespaces, CNI ADD per network,
 * the files it sees, the command (spawned and supervised: signals passed on, exit status kept), and teardown
 * (CNI DEL, namespace removed) when the command ends — or by the next cnictl when the supervisor died.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from '../../lib/hash.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { contains, formatIP, parseCIDR, parseIP } from '../../lib/ip.js';
import { Netns } from '../../lib/netns.js';
import { describe, DEFAULT_NETWORK, withoutDefaultRoute } from '../network/model.js';
import { NetworkStore, resultFacts } from '../network/store.js';
import { confListFromBytes, type ConfList } from '../runtime/conffiles.js';
import { findPlugin, PluginNotFound } from '../runtime/invoke.js';
import { Runtime, type RuntimeConf } from '../runtime/libcni.js';
import { declaredCapabilities } from '../runtime/request.js';
import { UserError, oneLine } from '../util/errors.js';
import { pathsFrom, type Paths } from '../util/paths.js';
import { hostsFile, parseAddHost, resolvConf } from './hosts.js';
import { boundPorts, createNetns, deleteNetns, killNetnsProcesses, ephemeralRange, findExecutable, netnsPath, sandboxArgv, signalCommand } from './namespaces.js';
import { randomName } from './names.js';
import { checkRun, type RunFlags } from './options.js';
import { checkHostAddresses, conflicts, portMappingsArg, type PortMapping } from './ports.js';
import { isAlive, procRef, StateStore, type Attachment, type SandboxState } from './state.js';

export interface CreateFlags extends RunFlags {
  detach: boolean;
  autoRemove: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const SIGNUM: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

export const isRunning = (s: SandboxState): boolean => s.status !== 'exited' && isAlive(s.supervisor);

export class Sandboxes {
  readonly paths: Paths;
  readonly store: StateStore;
  readonly networks: NetworkStore;
  readonly runtime: Runtime;

  constructor(readonly env: NodeJS.ProcessEnv) {
    this.paths = pathsFrom(env);
    this.store = new StateStore(this.paths.stateDir);
    this.networks = new NetworkStore(this.paths, env);
    this.runtime = new Runtime(this.paths.cniPath, this.paths.cacheDir, env);
  }

  /** By name or ID (prefix), or a clear error. */
  get(ref: string): SandboxState {
    const s = this.store.find(ref);
    if (!s) throw new UserError(`no such sandbox: ${ref} (see "cnictl ps -a")`);
    return s;
  }

  // ---------------------------------------------------------------------------------------------- creation

  /**
   * Everything before the command starts: checks, registration, namespaces, networks, files. On any failure
   * whatever was made is undone and a UserError says why.
   */
  create(f: CreateFlags): SandboxState {
    const { mode, ports } = checkRun(f, DEFAULT_NETWORK);
    if (!findExecutable(f.command[0]!, this.env.PATH)) throw new UserError(`executable ${JSON.stringify(f.command[0])} not found${f.command[0]!.includes('/') ? '' : ' in PATH'}: check the command`);
    this.reap();
    const lists = mode.kind === 'networks' ? mode.names.map((n) => this.networks.require(n)) : [];
    for (const l of lists) this.checkNetwork(l, lists.indexOf(l) === 0 ? { ports, ip: f.ip, mac: f.mac } : {});
    const s = this.register(f, mode, ports);
    try {
      if (mode.kind === 'networks' || mode.kind === 'none') {
        s.netns = createNetns(s.id);
        this.store.save(s);
      }
      lists.forEach((l, i) => this.attach(s, i === 0 ? l : withoutDefaultRoute(l), `eth${i}`, i === 0 ? { ports: s.ports, ip: f.ip, mac: f.mac } : {}));
      this.store.locked(() => this.refreshHosts());
      return this.store.read(s.id)!;
    } catch (e) {
      this.teardown(s.id, undefined, { remove: true });
      throw e instanceof UserError ? e : new UserError(oneLine((e as Error).message));
    }
  }

  /** A network the sandbox can use: every plugin present, the capabilities the flags need declared. */
  private checkNetwork(l: ConfList, want: { ports?: PortMapping[]; ip?: string | undefined; mac?: string | undefined }): void {
    for (const p of l.plugins) {
      try {
        findPlugin(String(p.type), this.paths.cniPath);
      } catch (e) {
        if (e instanceof PluginNotFound) throw new UserError(`network ${l.name} needs ${e.message}: install the plugins (scripts/install.sh) or set CNI_PATH`);
        throw e;
      }
    }
    const caps = declaredCapabilities(l.plugins);
    if (want.ports?.length && !caps.has('portMappings')) throw new UserError(`network ${l.name} has no plugin with the portMappings capability (portmap): -p cannot be honoured on it`);
    if (want.ports?.some((m) => m.hostIP)) checkHostAddresses(want.ports, hostAddresses(), { name: l.name, ipv6: describe(l).ipv6 });
    if (want.ip) {
      if (!caps.has('ips')) throw new UserError(`network ${l.name} declares no "ips" capability: --ip ${want.ip} cannot be honoured on it`);
      const ip = parseIP(want.ip)!;
      const subnets = describe(l).ranges.map((r) => r.subnet);
      if (!subnets.some((s) => contains(parseCIDR(s)!, ip))) throw new UserError(`--ip ${want.ip} is not in network ${l.name}'s subnets (${subnets.join(', ')})`);
    }
    if (want.mac && !caps.has('mac')) throw new UserError(`network ${l.name} declares no "mac" capability: --mac-address ${want.mac} cannot be honoured on it`);
  }

  /** Under the lock: the name, the container: target, the host ports; saves the record (status "creating"). */
  private register(f: CreateFlags, mode: ReturnType<typeof checkRun>['mode'], ports: PortMapping[]): SandboxState {
    return this.store.locked(() => {
      const all = this.store.list();
      if (f.name) {
        const other = all.find((s) => s.name === f.name);
        if (other) throw new UserError(`the name ${f.name} is already in use by sandbox ${other.id.slice(0, 12)}: remove it (cnictl rm ${f.name}) or choose another --name`);
      }
      const id = randomBytes(32).toString('hex');
      const s: SandboxState = {
        id,
        name: f.name ?? randomName((n) => all.some((x) => x.name === n)),
        command: f.command,
        created: new Date().toISOString(),
        status: 'creating',
        mode: mode.kind === 'networks' ? 'network' : mode.kind,
        ownNetns: mode.kind === 'networks' || mode.kind === 'none',
        hostname: f.hostname ?? id.slice(0, 12),
        attachments: [],
        ports: this.resolvePorts(ports, all),
        dns: f.dns,
        dnsSearch: f.dnsSearch,
        addHosts: f.addHosts,
        detached: f.detach,
        autoRemove: f.autoRemove,
        supervisor: procRef(process.pid),
      };
      if (f.mac) s.mac = f.mac;
      if (mode.kind === 'container') {
        const t = all.find((x) => x.name === mode.target) ?? this.store.find(mode.target);
        if (!t || !isRunning(t) || !t.netns) throw new UserError(`--network container:${mode.target}: sandbox ${mode.target} is ${t ? 'not running' : 'not found'}: start it first (cnictl run -d --name ${mode.target} ...)`);
        s.target = t.id;
        s.netns = t.netns;
        s.hostname = t.hostname;
      }
      for (const h of f.addHosts) parseAddHost(h, mode.kind === 'networks' ? '0.0.0.0' : undefined); // syntax now; host-gateway once attached
      resolvConf('', f.dns, f.dnsSearch, true);
      this.store.save(s);
      this.writeFiles(s);
      return s;
    });
  }

  /** Host ports: explicit ones checked against other sandboxes and the host's listeners; 0 gets a free one. */
  private resolvePorts(wanted: PortMapping[], all: SandboxState[]): PortMapping[] {
    const used = all.filter((s) => s.status !== 'exited').flatMap((s) => s.ports.map((p) => ({ p, by: s.name })));
    const out: PortMapping[] = [];
    const bound = { tcp: boundPorts('tcp'), udp: boundPorts('udp'), sctp: boundPorts('sctp') };
    const clash = (m: PortMapping): string | undefined => {
      const u = used.find((x) => conflicts(x.p, m));
      if (u) return `is already published by sandbox ${u.by}`;
      if (out.some((o) => conflicts(o, m))) return 'is given twice';
      if (bound[m.protocol].has(m.hostPort)) return 'is in use on the host (a process listens on it)';
      return undefined;
    };
    for (const m of wanted) {
      if (m.hostPort) {
        const why = clash(m);
        if (why) throw new UserError(`host port ${m.hostIP ? `${m.hostIP}:` : ''}${m.hostPort}/${m.protocol} ${why}: choose another with -p`);
        out.push(m);
        continue;
      }
      const [lo, hi] = ephemeralRange();
      let chosen: PortMapping | undefined;
      for (let port = lo; port <= hi && !chosen; port++) if (!clash({ ...m, hostPort: port })) chosen = { ...m, hostPort: port };
      if (!chosen) throw new UserError(`no free host port left in ${lo}-${hi} for -p ${m.containerPort}/${m.protocol}`);
      out.push(chosen);
    }
    return out;
  }

  /** ADD one network as `ifname`, recorded before the call so a crash midway is still cleaned up. */
  private attach(s: SandboxState, list: ConfList, ifname: string, opts: { ports?: PortMapping[]; ip?: string | undefined; mac?: string | undefined }): void {
    const a: Attachment = { network: list.name, ifname, ips: [] };
    if (opts.ip) a.requestedIp = opts.ip;
    this.store.update(s.id, (x) => x.attachments.push(a));
    s.attachments.push(a);
    const caps: Record<string, unknown> = {};
    if (opts.ports?.length) caps.portMappings = portMappingsArg(opts.ports);
    if (opts.ip) caps.ips = [opts.ip];
    if (opts.mac) caps.mac = opts.mac;
    const result = this.runtime.add(list, { containerId: s.id, netns: s.netns!, ifname, capabilityArgs: caps });
    const facts = resultFacts({ containerId: s.id, ifName: ifname, networkName: list.name, config: '', result });
    const ifaceMac = Array.isArray(result.interfaces) ? (result.interfaces as Array<{ name?: string; mac?: string; sandbox?: string }>).find((i) => i.name === ifname && i.sandbox)?.mac : undefined;
    this.store.update(s.id, (x) => {
      const mine = x.attachments.find((y) => y.network === list.name && y.ifname === ifname)!;
      mine.ips = facts.ips;
      if (ifaceMac ?? facts.mac) mine.mac = ifaceMac ?? facts.mac;
    });
    a.ips = facts.ips;
  }

  /** DEL one attachment with the config it was added with when the network's file is gone. */
  private detach(s: SandboxState, a: Attachment): void {
    const entry = this.runtime.cache.read(a.network, s.id, a.ifname);
    let list: ConfList | undefined = this.networks.find(a.network);
    if (!list && entry?.config) list = confListFromBytes(entry.config, `${a.network} (cached config)`);
    if (!list) return;
    const rt: RuntimeConf = { containerId: s.id, netns: s.netns && existsSync(s.netns) ? s.netns : '', ifname: a.ifname, capabilityArgs: entry?.capabilityArgs ?? {}, args: entry?.cniArgs ?? [] };
    this.runtime.del(list, rt);
  }

  // ---------------------------------------------------------------------------------------------- files

  private writeFiles(s: SandboxState): void {
    if (s.mode === 'container') return;
    writeFileSync(this.store.file(s.id, 'hostname'), `${s.mode === 'host' ? readHost('/etc/hostname').trim() || 'localhost' : s.hostname}\n`);
    writeFileSync(this.store.file(s.id, 'resolv.conf'), resolvConf(readHost('/etc/resolv.conf'), s.dns, s.dnsSearch, s.ownNetns));
    writeInPlace(this.store.file(s.id, 'hosts'), this.hostsFor(s, []));
  }

  /** Files the command sees (container mode: its target's, so both see the same). */
  filesOf(s: SandboxState) {
    const id = s.mode === 'container' && s.target ? s.target : s.id;
    return { hosts: this.store.file(id, 'hosts'), resolv: this.store.file(id, 'resolv.conf'), hostnameFile: this.store.file(id, 'hostname') };
  }

  private hostsFor(s: SandboxState, all: SandboxState[]): string {
    const gateway = s.attachments.length ? this.gatewayOf(s.attachments[0]!.network) : undefined;
    const extra = s.addHosts.filter((h) => gateway || !h.endsWith(':host-gateway')).map((h) => parseAddHost(h, gateway));
    if (s.mode === 'host') return readHost('/etc/hosts') + extra.map(([h, ip]) => `${ip}\t${h}\n`).join('');
    const own = s.attachments[0]?.ips.map((c) => c.split('/')[0]!) ?? [];
    const peers: Array<{ names: string[]; ip: string }> = [];
    for (const p of all) {
      if (p.id === s.id || p.status === 'exited' || p.mode !== 'network') continue;
      for (const a of s.attachments) {
        if (a.network === DEFAULT_NETWORK) continue; // like Docker: names resolve on user-defined networks only
        const pa = p.attachments.find((x) => x.network === a.network);
        for (const ip of pa?.ips ?? []) peers.push({ names: [p.name], ip: ip.split('/')[0]! });
      }
    }
    const seen = new Set<string>();
    return hostsFile({ hostname: s.hostname, ownIps: own, extra, peers: peers.filter((p) => !seen.has(p.ip) && !!seen.add(p.ip)) });
  }

  private gatewayOf(network: string): string | undefined {
    const l = this.networks.find(network);
    return l ? describe(l).ranges.find((r) => r.gateway && !r.gateway.includes(':'))?.gateway : undefined;
  }

  /** Rewrite (in place: they are bind-mounted) the hosts files of every live sandbox. Call under the lock. */
  refreshHosts(): void {
    const all = this.store.list();
    for (const s of all) if (s.status !== 'exited' && s.mode !== 'container') writeInPlace(this.store.file(s.id, 'hosts'), this.hostsFor(s, all));
  }

  // ---------------------------------------------------------------------------------------------- running

  /**
   * Start the command and wait for it: signals this process gets are passed on; when it ends the sandbox is torn
   * down. Returns the exit status (128+N for a signal, as a shell reports it).
   */
  async supervise(s: SandboxState, stdio: StdioOptions, started?: (err?: Error) => void): Promise<number> {
    const argv = sandboxArgv(s.netns, this.filesOf(s), s.mode === 'host' ? undefined : s.hostname, s.command);
    let child: ChildProcess;
    const fds = (stdio === 'inherit' ? ['inherit', 'inherit', 'inherit'] : (stdio as unknown[]).slice(0, 3)) as StdioOptions & unknown[];
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: [...fds, 'pipe'] as StdioOptions, detached: true, env: { ...this.env, HOSTNAME: s.hostname } });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (e) {
      this.teardown(s.id, 127);
      const err = new UserError(`cannot start ${argv[0]}: ${(e as Error).message}`);
      started?.(err);
      throw err;
    }
    const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? 128 + (SIGNUM[sig as NodeJS.Signals] ?? 1))));
    // the init script says "." on fd 3 once the mounts and hostname are in place, right before it execs the command
    const readyPipe = child.stdio[3] as NodeJS.ReadableStream | null;
    const ready = await new Promise<boolean>((resolve) => {
      if (!readyPipe) return resolve(true);
      readyPipe.once('data', () => resolve(true));
      readyPipe.once('end', () => resolve(false));
      readyPipe.once('error', () => resolve(false));
    });
    (readyPipe as unknown as { destroy?: () => void })?.destroy?.();
    if (!ready) {
      const code = await exited;
      this.teardown(s.id, code);
      const err = new UserError(`sandbox ${s.name} could not be set up (exit status ${code}): see the messages above${s.detached ? ` (cnictl logs ${s.name})` : ''}`);
      started?.(err);
      if (s.detached) throw err;
      return code;
    }
    this.store.update(s.id, (x) => {
      x.status = 'running';
      x.pid = procRef(child.pid!);
      x.supervisor = procRef(process.pid);
    });
    const forward = (sig: NodeJS.Signals) => () => {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    };
    const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    started?.();
    const code = await exited;
    for (const [sig, h] of handlers) process.off(sig, h);
    this.teardown(s.id, code);
    return code;
  }

  /**
   * Kill what is left of the command, DEL every network (reverse order), remove the namespace; mark it exited
   * (or remove the record with --rm / `remove`). Errors are reported but do not stop the rest.
   */
  teardown(id: string, exitCode: number | undefined, opts: { remove?: boolean } = {}): string[] {
    const s = this.store.read(id);
    if (!s) return [];
    const errors: string[] = [];
    signalCommand(s.pid, 'SIGKILL', true);
    if (s.ownNetns && s.netns) killNetnsProcesses(s.netns);
    for (const a of [...s.attachments].reverse()) {
      try {
        this.detach(s, a);
      } catch (e) {
        errors.push(oneLine((e as Error).message));
      }
    }
    if (s.ownNetns && s.netns) deleteNetns(s.netns);
    this.store.locked(() => {
      if (opts.remove || s.autoRemove) this.store.remove(id);
      else
        this.store.update(id, (x) => {
          x.status = 'exited';
          x.exitCode = exitCode ?? x.exitCode ?? 137;
          x.finished = new Date().toISOString();
          delete x.pid;
          delete x.supervisor;
        });
      this.refreshHosts();
    });
    for (const e of errors) process.stderr.write(`cnictl: warning: sandbox ${s.name}: ${e}\n`);
    return errors;
  }

  /** Sandboxes whose supervisor died: claim each (under the lock) and tear it down. */
  reap(): string[] {
    const reaped: string[] = [];
    for (const s of this.store.list()) {
      if (s.status === 'exited' || isAlive(s.supervisor)) continue;
      const claimed = this.store.locked(() => {
        const x = this.store.read(s.id);
        if (!x || x.status === 'exited' || isAlive(x.supervisor)) return false;
        this.store.update(s.id, (y) => (y.supervisor = procRef(process.pid)));
        return true;
      });
      if (!claimed) continue;
      this.teardown(s.id, 137);
      reaped.push(s.name);
    }
    return reaped;
  }

  /** Wait until a sandbox is exited (or gone); true when it is. */
  async waitExited(id: string, ms: number): Promise<boolean> {
    const t0 = Date.now();
    for (;;) {
      const s = this.store.read(id);
      if (!s || s.status === 'exited') return true;
      if (!isAlive(s.supervisor)) {
        this.reap();
        return true;
      }
      if (Date.now() - t0 > ms) return false;
      await sleep(50);
    }
  }

  /** SIGTERM, then SIGKILL after `timeout` seconds (Docker's stop). */
  async stop(ref: string, timeout = 10): Promise<void> {
    const s = this.get(ref);
    if (!isRunning(s)) {
      this.reap();
      return;
    }
    signalCommand(s.pid, 'SIGTERM');
    if (await this.waitExited(s.id, timeout * 1000)) return;
    signalCommand(s.pid, 'SIGKILL', true);
    if (!(await this.waitExited(s.id, 10_000))) throw new UserError(`sandbox ${s.name} did not stop`);
  }

  async remove(ref: string, force: boolean): Promise<void> {
    const s = this.get(ref);
    if (isRunning(s)) {
      if (!force) throw new UserError(`sandbox ${s.name} is running: stop it first (cnictl stop ${s.name}) or use rm -f`);
      signalCommand(s.pid, 'SIGKILL', true);
      if (!(await this.waitExited(s.id, 10_000))) throw new UserError(`sandbox ${s.name} did not stop`);
    } else if (s.status !== 'exited') this.reap();
    this.store.remove(s.id);
  }

  // ---------------------------------------------------------------------------------------------- networks of a running sandbox

  connect(network: string, ref: string, ip?: string): Attachment {
    this.reap();
    const s = this.get(ref);
    if (!isRunning(s)) throw new UserError(`sandbox ${s.name} is not running: networks are connected to running sandboxes`);
    if (!s.ownNetns || s.mode === 'container') throw new UserError(`sandbox ${s.name} uses --network ${s.mode === 'container' ? 'container:…' : s.mode}: it has no network namespace of its own to connect`);
    if (s.attachments.some((a) => a.network === network)) throw new UserError(`sandbox ${s.name} is already attached to network ${network}`);
    if (ip !== undefined && !parseIP(ip)) throw new UserError(`invalid --ip ${JSON.stringify(ip)}: not an IP address`);
    const list = this.networks.require(network);
    this.checkNetwork(list, { ip });
    const used = new Set(s.attachments.map((a) => a.ifname));
    let n = 0;
    while (used.has(`eth${n}`)) n++;
    try {
      this.attach(s, s.attachments.length ? withoutDefaultRoute(list) : list, `eth${n}`, { ip });
    } catch (e) {
      const a = s.attachments.find((x) => x.network === network);
      try {
        if (a) this.detach(s, a);
      } catch {
        /* the ADD error is the one to report */
      }
      this.store.update(s.id, (x) => (x.attachments = x.attachments.filter((y) => y.network !== network)));
      throw e instanceof UserError ? e : new UserError(oneLine((e as Error).message));
    }
    this.store.locked(() => this.refreshHosts());
    return this.store.read(s.id)!.attachments.find((a) => a.network === network)!;
  }

  disconnect(network: string, ref: string, force: boolean): void {
    this.reap();
    const s = this.get(ref);
    const a = s.attachments.find((x) => x.network === network);
    if (!a) throw new UserError(`sandbox ${s.name} is not attached to network ${network}`);
    if (isRunning(s)) {
      try {
        this.detach(s, a);
      } catch (e) {
        if (!force) throw new UserError(`${oneLine((e as Error).message)} (disconnect -f drops the attachment anyway)`);
      }
    }
    this.store.locked(() => {
      this.store.update(s.id, (x) => (x.attachments = x.attachments.filter((y) => y.network !== network)));
      this.refreshHosts();
    });
  }
}

/** Every address of this host (normalised), for -p IP:… */
function hostAddresses(): Set<string> {
  const links = Netns.host().ipJson<Array<{ addr_info?: Array<{ local?: string }> }>>(['addr', 'show']);
  const out = new Set<string>();
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const ip = a.local ? parseIP(a.local) : undefined;
      if (ip) out.add(formatIP(ip));
    }
  }
  return out;
}

function readHost(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Write keeping the inode (a bind mount of the file sees the new content). */
function writeInPlace(file: string, text: string): void {
  if (readHost(file) !== text) writeFileSync(file, text);
}

export { netnsPath };
