/**
 * Sandboxes from birth to removal: register (name, ports — under the state lock), namespaces, CNI ADD per network,
 * the files it sees, the command (spawned and supervised: signals passed on, exit status kept), and teardown
 * (CNI DEL, namespace removed) when the command ends — or by the next cnictl when the supervisor died.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from '../../lib/hash.js';
import { closeSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { contains, formatIP, parseCIDR, parseIP } from '../../lib/ip.js';
import { Netns } from '../../lib/netns.js';
import { describe, DEFAULT_NETWORK, PSEUDO, withoutDefaultRoute } from '../network/model.js';
import { resolveNetworkName } from '../network/resolve.js';
import { sameIp, widenForStaticIps } from '../network/static-ip.js';
import { NetworkStore, readSettings, resultFacts } from '../network/store.js';
import { confListFromBytes, type ConfList } from '../runtime/conffiles.js';
import { findPlugin, PluginNotFound } from '../runtime/invoke.js';
import { Runtime, type RuntimeConf } from '../runtime/libcni.js';
import { declaredCapabilities } from '../runtime/request.js';
import { UserError, oneLine } from '../util/errors.js';
import { pathsFrom, type Paths } from '../util/paths.js';
import { checkDnsFlags, hostsFile, parseAddHost, resolvConf, UPSTREAM_RESOLV } from './hosts.js';
import { LogWriter } from './logs.js';
import { boundPorts, createNetns, deleteNetns, killNetnsProcesses, ephemeralRange, findExecutable, netnsPath, sandboxArgv, signalCommand } from './namespaces.js';
import { randomName } from './names.js';
import { ALIAS, checkRun, SANDBOX_NAME, type RunFlags } from './options.js';
import { checkHostAddresses, conflicts, parsePublish, portMappingsArg, type PortMapping } from './ports.js';
import { openPty, relayPty, terminalSize, type Pty } from './pty.js';
import { isAlive, procRef, StateStore, type Attachment, type SandboxState } from './state.js';

export interface CreateFlags extends RunFlags {
  detach: boolean;
  autoRemove: boolean;
}

/** One network to ADD: the config, addresses asked for (--ip, ip=, ip6=), addresses to keep when free (start), a MAC, aliases. */
interface AttachPlan {
  list: ConfList;
  ip?: string;
  ip6?: string;
  prefer?: string[];
  mac?: string;
  aliases?: string[];
}

/** The addresses an attachment asks for. */
const requestedIps = (x: { ip?: string | undefined; ip6?: string | undefined }): string[] => [x.ip, x.ip6].filter((v): v is string => !!v);

/** The environment of the command: cnictl's, its hostname, -e KEY=VALUE (KEY alone: cnictl's value, if any). */
export function commandEnv(base: NodeJS.ProcessEnv, hostname: string, vars: readonly string[] = [], tty = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, HOSTNAME: hostname };
  if (tty && !env.TERM) env.TERM = 'xterm';
  for (const v of vars) {
    const eq = v.indexOf('=');
    if (eq > 0) env[v.slice(0, eq)] = v.slice(eq + 1);
    else if (base[v] === undefined) delete env[v];
  }
  return env;
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

  /** A network's name for a name, an ID or a unique ID prefix (unknown refs come back as given). */
  networkName(ref: string): string {
    return resolveNetworkName(ref, this.networks.load().lists.map((l) => l.name));
  }

  /**
   * Everything before the command starts: checks, registration, namespaces, networks, files. On any failure
   * whatever was made is undone and a UserError says why.
   */
  create(f: CreateFlags): SandboxState {
    const { mode, ports } = checkRun(f, DEFAULT_NETWORK, (n) => this.networkName(n));
    if (mode.kind === 'networks' || mode.kind === 'none') {
      // /etc/cnictl/config.json's "dns", "dns-search", "dns-opts": defaults for sandboxes with a network of their own
      const settings = readSettings(this.paths, this.env);
      f = { ...f, dns: f.dns.length ? f.dns : (settings.dns ?? []), dnsSearch: f.dnsSearch.length ? f.dnsSearch : (settings.dnsSearch ?? []), dnsOptions: f.dnsOptions?.length ? f.dnsOptions : (settings.dnsOptions ?? []) };
    }
    if (!findExecutable(f.command[0]!, this.env.PATH)) throw new UserError(`executable ${JSON.stringify(f.command[0])} not found${f.command[0]!.includes('/') ? '' : ' in PATH'}: check the command`);
    this.reap();
    // --network name=NET,alias=…,ip=…,ip6=…,mac-address=… per network (the first one's with --ip, --network-alias, --mac-address)
    const eps = mode.kind === 'networks' ? mode.endpoints : [];
    // checked against the networks as they are before anything is written (the default network's config included)
    const peeked = eps.map((e) => this.networks.peek(e.name));
    peeked.forEach((l, i) => this.checkNetwork(l, { ...(i === 0 ? { ports } : {}), ips: requestedIps(eps[i]!), mac: eps[i]!.mac }));
    eps.forEach((e, i) => requestedIps(e).forEach((ip) => this.checkIpFree(peeked[i]!, ip, i === 0 && ip === f.ip ? '--ip' : ip === e.ip ? 'ip=' : 'ip6=')));
    const lists = eps.map((e) => this.networks.require(e.name));
    const s = this.register({ ...f, mac: eps[0]?.mac ?? f.mac }, mode, ports, lists.some((l) => describe(l).ipv6));
    return this.bringUp(s, eps.map((e, i) => ({ list: lists[i]!, ip: e.ip, ip6: e.ip6, mac: e.mac, aliases: e.aliases })), true);
  }

  /** Namespace and networks of a registered sandbox; on failure it is torn down (and its record removed when `remove`). */
  private bringUp(s: SandboxState, plans: AttachPlan[], remove: boolean): SandboxState {
    try {
      if (s.ownNetns) {
        s.netns = createNetns(s.id);
        this.store.update(s.id, (x) => (x.netns = s.netns));
      }
      plans.forEach((p, i) => this.attach(s, i === 0 ? p.list : withoutDefaultRoute(p.list), `eth${i}`, { ...(i === 0 ? { ports: s.ports } : {}), mac: p.mac ?? (i === 0 ? s.mac : undefined), ip: p.ip, ip6: p.ip6, prefer: p.prefer, aliases: p.aliases }));
      this.store.locked(() => this.refreshHosts());
      return this.store.read(s.id)!;
    } catch (e) {
      this.teardown(s.id, undefined, { remove });
      throw e instanceof UserError ? e : new UserError(oneLine((e as Error).message));
    }
  }

  /** A --ip that another attachment holds (or that is the gateway) is refused, naming who has it. */
  private checkIpFree(list: ConfList, ip: string, flag: string, self?: string): void {
    const shown = flag.endsWith('=') ? `${flag}${ip}` : `${flag} ${ip}`; // --ip IP, or ip=IP of a --network value
    if (describe(list).ranges.some((r) => r.gateway && sameIp(r.gateway, ip))) throw new UserError(`${shown} is the gateway of network ${list.name}: choose another address`);
    const holder = this.ipHolder(list, ip, self);
    if (holder) throw new UserError(`${shown} is already in use on network ${list.name} by ${holder}: choose another address, or leave ${flag} out for a free one`);
  }

  /** "sandbox NAME" (or "container ID") holding `ip` on `list`, from the result cache and host-local's leases. */
  private ipHolder(list: ConfList, ip: string, self?: string): string | undefined {
    const a = this.networks.attachments(list).find((x) => x.containerId !== self && x.ips.some((c) => sameIp(c, ip)));
    if (!a) return undefined;
    const name = this.store.read(a.containerId)?.name;
    return name ? `sandbox ${name}` : `container ${a.containerId.slice(0, 12)}`;
  }

  /** A network the sandbox can use: every plugin present, the capabilities the flags need declared. */
  private checkNetwork(l: ConfList, want: { ports?: PortMapping[]; ips?: string[]; mac?: string | undefined }): void {
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
    for (const want1 of want.ips ?? []) {
      if (!caps.has('ips')) throw new UserError(`network ${l.name} declares no "ips" capability: --ip ${want1} cannot be honoured on it`);
      const ip = parseIP(want1)!;
      const subnets = describe(l).ranges.map((r) => r.subnet);
      if (!subnets.some((s) => contains(parseCIDR(s)!, ip))) throw new UserError(`--ip ${want1} is not in network ${l.name}'s subnets (${subnets.join(', ')})`);
    }
    if (want.mac && !caps.has('mac')) throw new UserError(`network ${l.name} declares no "mac" capability: --mac-address ${want.mac} cannot be honoured on it`);
  }

  /** Under the lock: the name, the container: target, the host ports; saves the record (status "creating"). */
  private register(f: CreateFlags, mode: ReturnType<typeof checkRun>['mode'], ports: PortMapping[], ipv6: boolean): SandboxState {
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
        dnsOptions: f.dnsOptions ?? [],
        addHosts: f.addHosts,
        publish: f.publish,
        env: f.env ?? [],
        interactive: !!f.interactive,
        tty: !!f.tty,
        detached: f.detach,
        autoRemove: f.autoRemove,
        supervisor: procRef(process.pid),
      };
      if (f.mac) s.mac = f.mac;
      if (f.workdir) s.workdir = f.workdir;
      if (mode.kind === 'container') {
        const t = all.find((x) => x.name === mode.target) ?? this.store.find(mode.target);
        if (!t || !isRunning(t) || !t.netns) throw new UserError(`--network container:${mode.target}: sandbox ${mode.target} is ${t ? 'not running' : 'not found'}: start it first (cnictl run -d --name ${mode.target} ...)`);
        s.target = t.id;
        s.netns = t.netns;
        s.hostname = t.hostname;
      }
      for (const h of f.addHosts) parseAddHost(h, mode.kind === 'networks' ? '0.0.0.0' : undefined); // syntax now; host-gateway once attached
      checkDnsFlags(f.dns, f.dnsSearch, f.dnsOptions ?? []);
      this.store.save(s);
      this.writeFiles(s, ipv6);
      return s;
    });
  }

  /**
   * Host ports: explicit ones checked against other sandboxes and the host's listeners; 0 gets a free one (the one
   * in `previous` when still free: `start` keeps it), a host range (-p 9100-9102:80) its first free port.
   */
  private resolvePorts(wanted: PortMapping[], all: SandboxState[], previous: readonly PortMapping[] = []): PortMapping[] {
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
    for (const { hostRange, ...m } of wanted) {
      if (m.hostPort) {
        const why = clash(m);
        if (why) throw new UserError(`host port ${m.hostIP ? `${m.hostIP}:` : ''}${m.hostPort}/${m.protocol} ${why}: choose another with -p`);
        out.push(m);
        continue;
      }
      const [lo, hi] = hostRange ?? ephemeralRange();
      const prev = previous.find((p) => p.containerPort === m.containerPort && p.protocol === m.protocol && p.hostIP === m.hostIP && p.hostPort >= lo && p.hostPort <= hi)?.hostPort;
      let chosen: PortMapping | undefined;
      if (prev && !clash({ ...m, hostPort: prev })) chosen = { ...m, hostPort: prev };
      for (let port = lo; port <= hi && !chosen; port++) if (!clash({ ...m, hostPort: port })) chosen = { ...m, hostPort: port };
      if (!chosen) {
        if (hostRange) throw new UserError(`no free host port in ${lo}-${hi}/${m.protocol} for container port ${m.containerPort}: every one is published or in use; choose another range with -p`);
        throw new UserError(`no free host port left in ${lo}-${hi} for -p ${m.containerPort}/${m.protocol}`);
      }
      out.push(chosen);
    }
    return out;
  }

  /**
   * ADD one network as `ifname`, recorded before the call so a crash midway is still cleaned up. `ip` is asked for;
   * `prefer` (start: the addresses it had) is asked for when the network takes "ips" and nobody holds them now.
   */
  private attach(s: SandboxState, list: ConfList, ifname: string, opts: { ports?: PortMapping[]; ip?: string | undefined; ip6?: string | undefined; prefer?: string[] | undefined; mac?: string | undefined; aliases?: string[] | undefined }): void {
    const a: Attachment = { network: list.name, ifname, ips: [] };
    if (opts.ip) a.requestedIp = opts.ip;
    if (opts.ip6) a.requestedIp6 = opts.ip6;
    if (opts.mac) a.requestedMac = opts.mac;
    if (opts.aliases?.length) a.aliases = opts.aliases;
    this.store.update(s.id, (x) => x.attachments.push(a));
    s.attachments.push(a);
    const caps: Record<string, unknown> = {};
    if (opts.ports?.length) caps.portMappings = portMappingsArg(opts.ports);
    let ips = requestedIps(opts);
    if (!ips.length && opts.prefer?.length && declaredCapabilities(list.plugins).has('ips')) ips = opts.prefer.map((c) => c.split('/')[0]!).filter((ip) => !this.ipHolder(list, ip, s.id));
    if (ips.length) caps.ips = ips;
    if (opts.mac) caps.mac = opts.mac;
    const result = this.runtime.add(ips.length ? widenForStaticIps(list, ips) : list, { containerId: s.id, netns: s.netns!, ifname, capabilityArgs: caps });
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

  private writeFiles(s: SandboxState, ipv6: boolean): void {
    if (s.mode === 'container') return;
    writeFileSync(this.store.file(s.id, 'hostname'), `${s.mode === 'host' ? readHost('/etc/hostname').trim() || 'localhost' : s.hostname}\n`);
    const upstream = existsSync(UPSTREAM_RESOLV) ? readHost(UPSTREAM_RESOLV) : undefined;
    const r = resolvConf({ host: readHost('/etc/resolv.conf'), ...(upstream !== undefined ? { upstream } : {}), dns: s.dns, search: s.dnsSearch, options: s.dnsOptions ?? [], ownNetns: s.ownNetns, ipv6 });
    writeFileSync(this.store.file(s.id, 'resolv.conf'), r.text);
    if (r.fallback && s.mode === 'network') process.stderr.write(`cnictl: note: ${r.fallback}\n`);
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
    // like Docker's DNS: on user-defined networks a sandbox's name and aliases resolve, also to itself
    const userNets = s.attachments.filter((a) => a.network !== DEFAULT_NETWORK);
    const ownNames = userNets.flatMap((a) => a.ips.map((ip) => ({ names: [s.name, ...(a.aliases ?? [])], ip: ip.split('/')[0]! })));
    const peers: Array<{ names: string[]; ip: string }> = [];
    for (const p of all) {
      if (p.id === s.id || p.status === 'exited' || p.mode !== 'network') continue;
      for (const a of userNets) {
        const pa = p.attachments.find((x) => x.network === a.network);
        for (const ip of pa?.ips ?? []) peers.push({ names: [p.name, ...(pa?.aliases ?? [])], ip: ip.split('/')[0]! });
      }
    }
    const seen = new Set<string>();
    return hostsFile({ hostname: s.hostname, ownIps: own, ownNames, extra, peers: peers.filter((p) => !seen.has(p.ip) && !!seen.add(p.ip)) });
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
   *
   * Its stdio, as Docker's: stdin is /dev/null unless -i (then the terminal's in the foreground, or a pipe this
   * process keeps open when detached, so `run -id … sh` waits for input); with -t a pseudo-terminal (this process
   * relays it: to the terminal, in raw mode when that is a terminal and -i, or to the log); output goes to the
   * terminal in the foreground and to the log (stdout and stderr apart) when detached.
   */
  async supervise(s: SandboxState, started?: (err?: Error) => void): Promise<number> {
    let pty: Pty | undefined;
    try {
      if (s.tty) pty = openPty(...(s.detached ? ([80, 24] as const) : terminalSize()));
    } catch (e) {
      this.teardown(s.id, 127);
      started?.(e as Error);
      throw e;
    }
    const log = s.detached ? new LogWriter(this.store.file(s.id, 'log')) : undefined;
    const stdin = pty ? pty.slave : s.interactive ? (s.detached ? 'pipe' : 'inherit') : 'ignore';
    const output = pty ? pty.slave : s.detached ? 'pipe' : 'inherit';
    const argv = sandboxArgv(s.netns, this.filesOf(s), s.mode === 'host' ? undefined : s.hostname, s.command, { ...(pty ? { tty: pty.path } : {}), ...(s.workdir ? { workdir: s.workdir } : {}) });
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: [stdin, output, output, 'pipe'] as StdioOptions, detached: true, env: commandEnv(this.env, s.hostname, s.env, !!pty) });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (e) {
      if (pty) [pty.slave, pty.master].forEach((fd) => closeSync(fd));
      log?.close();
      this.teardown(s.id, 127);
      const err = new UserError(`cannot start ${argv[0]}: ${(e as Error).message}`);
      started?.(err);
      throw err;
    }
    if (pty) closeSync(pty.slave);
    const relay = this.relay(child, s, pty, log);
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
      await relay.finish();
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
      x.started = new Date().toISOString();
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
    await relay.finish();
    this.teardown(s.id, code);
    return code;
  }

  /** Move the command's output (and, with -it, the terminal's input) between it and where it goes. */
  private relay(child: ChildProcess, s: SandboxState, pty: Pty | undefined, log: LogWriter | undefined): { finish(): Promise<void> } {
    const done: Array<Promise<void>> = [];
    const ptyRelay = pty ? relayPty(pty, { input: !s.detached && !!s.interactive, ...(log ? { output: (d: Buffer) => log.write('stdout', d) } : {}) }) : undefined;
    if (!pty && log) {
      child.stdout?.on('data', (d: Buffer) => log.write('stdout', d));
      child.stderr?.on('data', (d: Buffer) => log.write('stderr', d));
      for (const st of [child.stdout, child.stderr]) if (st) done.push(new Promise<void>((resolve) => (st.once('end', resolve), st.once('close', resolve), st.once('error', () => resolve()))));
    }
    // -id: stdin is a pipe nobody writes to, held open until the command ends
    child.stdin?.on('error', () => {});
    return {
      finish: async () => {
        // output still in flight after the exit; a daemonised grandchild holding it open is not waited for
        await Promise.race([Promise.all(done), sleep(2000)]);
        await ptyRelay?.finish();
        child.stdin?.destroy();
        for (const st of [child.stdout, child.stderr]) st?.destroy();
        log?.close();
      },
    };
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
    // sandboxes that joined this one's network (--network container:) keep running, with only lo left (Docker)
    const joined = new Set(this.store.list().filter((x) => x.mode === 'container' && x.target === s.id && isRunning(x) && x.pid && isAlive(x.pid)).map((x) => x.pid!.pid));
    if (s.ownNetns && s.netns) killNetnsProcesses(s.netns, joined);
    for (const a of [...s.attachments].reverse()) {
      try {
        this.detach(s, a);
      } catch (e) {
        errors.push(oneLine((e as Error).message));
      }
    }
    if (s.ownNetns && s.netns) deleteNetns(s.netns, joined);
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

  /**
   * `start`: an exited sandbox again, with its ID and name, the networks it was on (in order, with their aliases),
   * its -p (a chosen host port kept when still free), and its addresses where nobody took them meanwhile. The
   * caller starts its supervisor. Returns undefined when it is running already (Docker's start then does nothing).
   */
  prepareStart(ref: string): SandboxState | undefined {
    this.reap();
    const old = this.get(ref);
    if (isRunning(old)) return undefined;
    if (!findExecutable(old.command[0]!, this.env.PATH)) throw new UserError(`executable ${JSON.stringify(old.command[0])} of sandbox ${old.name} is not found any more: remove it (cnictl rm ${old.name})`);
    const previous = [...old.attachments].sort((a, b) => a.ifname.localeCompare(b.ifname, undefined, { numeric: true }));
    const peeked = old.mode === 'network' ? previous.map((a) => this.networks.peek(a.network)) : [];
    const publish = old.publish ?? old.ports.map((p) => `${p.hostIP ? `${p.hostIP.includes(':') ? `[${p.hostIP}]` : p.hostIP}:` : ''}${p.hostPort}:${p.containerPort}/${p.protocol}`);
    const wanted = publish.flatMap(parsePublish);
    const asked = (a: (typeof previous)[number]) => requestedIps({ ip: a.requestedIp, ip6: a.requestedIp6 });
    peeked.forEach((l, i) => this.checkNetwork(l, { ...(i === 0 ? { ports: wanted } : {}), ips: asked(previous[i]!), mac: previous[i]!.requestedMac ?? (i === 0 ? old.mac : undefined) }));
    for (const [i, a] of previous.entries()) for (const ip of asked(a)) this.checkIpFree(peeked[i]!, ip, '--ip', old.id);
    const lists = old.mode === 'network' ? previous.map((a) => this.networks.require(a.network)) : [];
    const s = this.store.locked(() => {
      const x = this.store.read(old.id);
      if (!x || isRunning(x)) throw new UserError(`sandbox ${old.name} was started meanwhile`);
      let netns = x.ownNetns ? undefined : x.netns;
      if (x.mode === 'container') {
        const t = x.target ? this.store.read(x.target) : undefined;
        if (!t || !isRunning(t) || !t.netns) throw new UserError(`sandbox ${x.name} joins the network of sandbox ${t?.name ?? x.target?.slice(0, 12)}, which is not running: start that first`);
        netns = t.netns;
      }
      const others = this.store.list().filter((o) => o.id !== x.id);
      const ports = this.resolvePorts(wanted, others, x.ports);
      return this.store.update(x.id, (y) => {
        y.status = 'creating';
        y.supervisor = procRef(process.pid);
        y.ports = ports;
        y.attachments = [];
        y.detached = true;
        y.publish = publish;
        delete y.exitCode;
        delete y.finished;
        delete y.pid;
        if (netns) y.netns = netns;
        else delete y.netns;
      })!;
    });
    this.store.locked(() => this.writeFiles(s, lists.some((l) => describe(l).ipv6)));
    return this.bringUp(
      s,
      previous
        .map((a, i) => ({ list: lists[i]!, ...(asked(a).length ? { ip: a.requestedIp, ip6: a.requestedIp6 } : { prefer: a.ips }), ...(a.requestedMac ? { mac: a.requestedMac } : {}), ...(a.aliases ? { aliases: a.aliases } : {}) }))
        .filter((p) => p.list),
      false,
    );
  }

  /** `rename`: a new name (free, valid); other sandboxes' hosts files follow. */
  rename(ref: string, name: string): SandboxState {
    if (!SANDBOX_NAME.test(name)) throw new UserError(`invalid name ${JSON.stringify(name)}: use letters, digits, _ . - (starting with a letter or digit)`);
    return this.store.locked(() => {
      const s = this.get(ref);
      if (s.name === name) throw new UserError(`sandbox ${s.name} is already called ${name}: give a new name`);
      const other = this.store.list().find((x) => x.name === name);
      if (other) throw new UserError(`the name ${name} is already in use by sandbox ${other.id.slice(0, 12)}: remove it (cnictl rm ${name}) or choose another name`);
      const r = this.store.update(s.id, (x) => (x.name = name))!;
      this.refreshHosts();
      return r;
    });
  }

  connect(network: string, ref: string, ip?: string, aliases: string[] = []): Attachment {
    this.reap();
    const s = this.get(ref);
    network = this.networkName(network);
    if ((PSEUDO as readonly string[]).includes(network)) throw new UserError(`sandbox ${s.name} cannot be connected to the ${network} network: host and none are chosen when a sandbox starts (cnictl run --network ${network} ...)`);
    if (!isRunning(s)) throw new UserError(`sandbox ${s.name} is not running: networks are connected to running sandboxes (cnictl start ${s.name})`);
    if (!s.ownNetns || s.mode === 'container') throw new UserError(`sandbox ${s.name} uses --network ${s.mode === 'container' ? 'container:…' : s.mode}: it has no network namespace of its own to connect`);
    if (s.attachments.some((a) => a.network === network)) throw new UserError(`sandbox ${s.name} is already attached to network ${network}`);
    if (ip !== undefined && !parseIP(ip)) throw new UserError(`invalid --ip ${JSON.stringify(ip)}: not an IP address`);
    if (aliases.length && network === DEFAULT_NETWORK) throw new UserError(`--alias ${aliases[0]}: network-scoped aliases are only supported on user-defined networks, not the default network ${DEFAULT_NETWORK}`);
    for (const a of aliases) if (!ALIAS.test(a)) throw new UserError(`invalid --alias ${JSON.stringify(a)}: use letters, digits, _ . -`);
    const peeked = this.networks.peek(network);
    this.checkNetwork(peeked, { ips: ip ? [ip] : [] });
    if (ip) this.checkIpFree(peeked, ip, '--ip', s.id);
    const list = this.networks.require(network);
    const used = new Set(s.attachments.map((a) => a.ifname));
    let n = 0;
    while (used.has(`eth${n}`)) n++;
    try {
      this.attach(s, s.attachments.length ? withoutDefaultRoute(list) : list, `eth${n}`, { ip, aliases });
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
    network = this.networkName(network);
    const a = s.attachments.find((x) => x.network === network);
    if (!a) {
      if (s.mode === network) throw new UserError(`sandbox ${s.name} runs with --network ${network}: it cannot be disconnected from it (run a new sandbox with another --network)`);
      if (!(PSEUDO as readonly string[]).includes(network) && !this.networks.find(network)) throw new UserError(`network ${network} not found: see "cnictl network ls"`);
      throw new UserError(`sandbox ${s.name} is not attached to network ${network}`);
    }
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
