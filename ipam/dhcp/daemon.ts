/**
 * `dhcp daemon`: the long-running DHCP client the dhcp plugin asks for leases, a drop-in for the reference's
 * (`/usr/lib/cni/dhcp daemon`): same flags, same socket (default /run/cni/dhcp.sock, or the one systemd passes with
 * LISTEN_FDS), same protocol (Go net/rpc over HTTP, gob: DHCP.Allocate, DHCP.Release — rpc.ts), so a reference
 * plugin can use it and our plugin can use a reference daemon. Beyond the reference: leases are kept on disk
 * (-statedir) and resumed by a restarted daemon; a CHECK or a repeated ADD never starts a second lease keeper; a lease
 * whose container went away without a DEL is released; DHCP.Check answers without acquiring.
 */
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import type { Result } from '../../lib/cni/result.js';
import { clientIdFor, type ClientOptions } from './dhcp4.js';
import { clientOptions, DEFAULT_SOCKET_PATH, parseDhcpConf } from './config.js';
import { Lease, LeaseStopped, type LeaseRecord, type LeaseSettings } from './lease.js';
import { PacketLink, type Transport } from './link.js';
import { CONNECT_RESPONSE, METHOD_ALLOCATE, METHOD_CHECK, METHOD_RELEASE, PairReader, ReplyEncoder, RPC_PATH, callFrom, type CmdArgs } from './rpc.js';
import { LeaseStore } from './store.js';
import * as sys from './sys.js';

// --- flags (Go's flag package: -name value, -name=value, --name; booleans take no value) ---------------------------

export interface DaemonFlags {
  pidfile: string;
  hostprefix: string;
  socketpath: string;
  broadcast: boolean;
  timeoutMs: number;
  resendMaxMs: number;
  statedir: string;
}

const USAGE = `Usage of daemon:
  -broadcast
    	broadcast DHCP leases
  -hostprefix string
    	optional prefix to host root
  -pidfile string
    	optional path to write daemon PID to
  -resendmax duration
    	optional dhcp client resend max duration (default 1m2s)
  -socketpath string
    	optional dhcp server socketpath
  -statedir string
    	where leases are kept across restarts (default: dhcp-leases beside the socket)
  -timeout duration
    	optional dhcp client timeout duration (default 10s)
`;

export class UsageError extends Error {}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("10s", "1m2s", "1.5h", "300ms") in milliseconds. */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(s))) {
    ms += Number(m[1]) * UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (at !== s.length || s === '') throw new UsageError(`invalid value "${s}" for flag: time: invalid duration "${s}"`);
  return ms;
}

export function parseFlags(argv: readonly string[]): DaemonFlags {
  const f: DaemonFlags = { pidfile: '', hostprefix: '', socketpath: '', broadcast: false, timeoutMs: 10_000, resendMaxMs: 62_000, statedir: '' };
  const strings = { pidfile: 'pidfile', hostprefix: 'hostprefix', socketpath: 'socketpath', statedir: 'statedir' } as const;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      return argv[++i]!;
    };
    if (name === 'h' || name === 'help') throw new UsageError('');
    if (name === 'broadcast') {
      if (inline === undefined || /^(1|t|T|true|TRUE|True)$/.test(inline)) f.broadcast = true;
      else if (/^(0|f|F|false|FALSE|False)$/.test(inline)) f.broadcast = false;
      else throw new UsageError(`invalid boolean value "${inline}" for -broadcast: parse error`);
    } else if (name in strings) f[strings[name as keyof typeof strings]] = value();
    else if (name === 'timeout') f.timeoutMs = parseDuration(value());
    else if (name === 'resendmax') f.resendMaxMs = parseDuration(value());
    else throw new UsageError(`flag provided but not defined: -${name}`);
  }
  if (!f.socketpath) f.socketpath = DEFAULT_SOCKET_PATH;
  return f;
}

// --- logging like Go's log package ----------------------------------------------------------------------------------

const pad = (n: number): string => String(n).padStart(2, '0');
function log(msg: string): void {
  const d = new Date();
  process.stderr.write(`${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${msg}\n`);
}

// --- the leases -----------------------------------------------------------------------------------------------------

interface Entry {
  netns: string;
  lease?: Lease;
  ready: Promise<Lease>;
  cancelled: boolean;
}

class DaemonError extends Error {}

function netConfOf(args: CmdArgs): { name: string; conf: Record<string, unknown> } {
  let conf: unknown;
  try {
    conf = JSON.parse(Buffer.from(args.StdinData).toString('utf8'));
  } catch (e) {
    throw new DaemonError(`error parsing netconf: ${(e as Error).message}`);
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) throw new DaemonError('error parsing netconf: not a JSON object');
  const name = (conf as Record<string, unknown>).name;
  return { name: typeof name === 'string' ? name : '', conf: conf as Record<string, unknown> };
}

export class Leases {
  private readonly entries = new Map<string, Entry>();
  /** Leases of containers that were gone when the daemon started: released (from the host) on DEL. */
  private readonly orphans = new Map<string, LeaseRecord>();

  constructor(
    private readonly flags: DaemonFlags,
    private readonly store: LeaseStore,
  ) {}

  private settings(): LeaseSettings {
    return {
      timeoutMs: this.flags.timeoutMs,
      resendMaxMs: this.flags.resendMaxMs,
      broadcast: this.flags.broadcast,
      log,
      onGone: (lease) => void this.drop(lease.key, lease),
    };
  }

  private persist = (r: LeaseRecord): void => this.store.save(r);

  /** Take over the leases a previous daemon saved. */
  async restore(): Promise<void> {
    const records = this.store.load(log);
    await Promise.all(records.map(async (r) => {
      try {
        const link = await PacketLink.reopen(r.netns, r.ifname, r.mac);
        const lease = Lease.restore(r, link, this.settings(), this.persist);
        this.entries.set(r.key, { netns: r.netns, lease, ready: Promise.resolve(lease), cancelled: false });
        lease.start();
        log(`${r.key}: resumed the lease of ${lease.address} (${lease.state}, expiration is ${new Date(lease.expireAt).toISOString()})`);
      } catch (e) {
        this.orphans.set(r.key, r);
        log(`${r.key}: cannot resume the lease: ${(e as Error).message}; it is released on DEL`);
      }
    }));
  }

  /**
   * DHCP.Allocate: the lease of these args, acquired unless this daemon already keeps it. `gone` fires when the caller
   * hung up: a lease it made us acquire is dropped then, since nobody received it (a killed or timed-out ADD).
   */
  async allocate(args: CmdArgs, gone?: AbortSignal): Promise<Result> {
    const { name, conf } = netConfOf(args);
    const dconf = parseDhcpConf(conf);
    const id = clientIdFor(args.ContainerID, name, args.IfName);
    const opts = clientOptions(dconf, args.Args, id.bytes);
    const netns = this.flags.hostprefix + args.Netns;
    // deciding (reuse, replace or create) is serialized per lease: two calls at once must not both create a keeper
    const entry = await this.serially(id.key, () => this.entryFor(id.key, netns, args.IfName, opts, gone));
    const lease = await entry.ready;
    if (lease.state === 'expired' || lease.state === 'stopped') throw new DaemonError(`${id.key}: the lease of ${lease.address} is ${lease.state}`);
    return lease.result('1.0.0');
  }

  private readonly deciding = new Map<string, Promise<unknown>>();

  private serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.deciding.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const settled = mine.catch(() => undefined);
    this.deciding.set(key, settled);
    void settled.then(() => {
      if (this.deciding.get(key) === settled) this.deciding.delete(key);
    });
    return mine;
  }

  /** The entry that answers an Allocate: the one kept (same netns, same interface), or a new acquisition. */
  private async entryFor(key: string, netns: string, ifname: string, opts: ClientOptions, gone?: AbortSignal): Promise<Entry> {
    const entry = this.entries.get(key);
    if (entry && entry.netns !== netns) {
      log(`${key}: asked again for another netns (${netns}, was ${entry.netns}): releasing the old lease`);
      await this.drop(key);
    } else if (entry?.lease && entry.lease.state !== 'acquiring' && !entry.lease.attached()) {
      // e.g. a runtime retrying an ADD whose first attempt died after the IPAM: the interface was made anew. No
      // DHCPRELEASE: it could only go out from the host and might reach the server after the new acquisition, which
      // takes the lease over (same client id) anyway.
      log(`${key}: its interface is not the one the lease was acquired on any more: dropping the old lease`);
      await this.drop(key, undefined, false);
    } else if (entry) {
      return entry;
    }
    if (this.orphans.has(key)) await this.drop(key);
    log(`${key}: acquiring lease`);
    const e: Entry = { netns, cancelled: false, ready: Promise.resolve(undefined as unknown as Lease) };
    e.ready = (async () => {
      const link = await PacketLink.open(netns, ifname);
      if (e.cancelled) {
        link.close();
        throw new DaemonError(`${key}: released while being acquired`);
      }
      const lease = new Lease(key, netns, ifname, opts, link, this.settings(), this.persist);
      e.lease = lease;
      try {
        await lease.acquire();
      } catch (err) {
        link.close();
        if (err instanceof LeaseStopped) throw new DaemonError(`${key}: released while being acquired`);
        throw err;
      }
      lease.start();
      return lease;
    })();
    e.ready.catch(() => {
      if (this.entries.get(key) === e) this.entries.delete(key);
    });
    this.entries.set(key, e);
    const hungUp = (): void => {
      if (this.entries.get(key) !== e) return;
      log(`${key}: the plugin hung up before it got the lease; dropping it`);
      void this.drop(key);
    };
    gone?.addEventListener('abort', hungUp, { once: true });
    void e.ready.then(() => gone?.removeEventListener('abort', hungUp), () => undefined);
    return e;
  }

  /** DHCP.Check (ours): is there a live lease for these args? Never acquires one. */
  async check(args: CmdArgs): Promise<void> {
    const { name } = netConfOf(args);
    const id = clientIdFor(args.ContainerID, name, args.IfName);
    const entry = this.entries.get(id.key);
    if (!entry) throw new DaemonError(`no DHCP lease for ${id.key}${this.orphans.has(id.key) ? ' (its container was gone when the daemon started)' : ''}`);
    const netns = this.flags.hostprefix + args.Netns;
    if (entry.netns !== netns) throw new DaemonError(`the DHCP lease for ${id.key} is in ${entry.netns}, not ${netns}`);
    const lease = await entry.ready;
    if (!['bound', 'renewing', 'rebinding'].includes(lease.state)) throw new DaemonError(`the DHCP lease of ${lease.address} for ${id.key} is ${lease.state}`);
  }

  /** DHCP.Release: stop keeping the lease and send DHCPRELEASE; nothing to do is success. */
  async release(args: CmdArgs): Promise<void> {
    const { name } = netConfOf(args);
    await this.drop(clientIdFor(args.ContainerID, name, args.IfName).key);
  }

  /** Stop keeping the lease of `key` (only when it is `only`, if given) and, unless `release` is false, release it. */
  private async drop(key: string, only?: Lease, release = true): Promise<void> {
    const entry = this.entries.get(key);
    if (entry && (!only || entry.lease === only)) {
      this.entries.delete(key);
      entry.cancelled = true;
      await (release ? entry.lease?.stop(hostRelease) : entry.lease?.detach());
      await entry.ready.catch(() => undefined);
      this.store.remove(key);
      return;
    }
    const orphan = this.orphans.get(key);
    if (orphan) {
      this.orphans.delete(key);
      orphanRelease(orphan);
      this.store.remove(key);
    }
  }

  /** Daemon shutdown: stop keeping leases without releasing them (they stay on disk for the next daemon). */
  async detachAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map(async (e) => {
      e.cancelled = true;
      await e.lease?.detach();
    }));
  }

  get size(): number {
    return this.entries.size;
  }
}

/** DHCPRELEASE from the daemon's own netns when the container's interface is gone (best effort: needs a route). */
function hostRelease(payload: Uint8Array, serverId: string): void {
  const s = createSocket('udp4');
  s.on('error', () => s.close());
  s.send(payload, 67, serverId, () => s.close());
}

/** The release of a lease whose container was gone when the daemon started: from the host (see hostRelease). */
function orphanRelease(r: LeaseRecord): void {
  try {
    const noLink: Transport = { mac: r.mac, exchange: async () => undefined, sendOnly: () => undefined, present: () => false, close: () => undefined };
    const lease = Lease.restore(r, noLink, { timeoutMs: 0, resendMaxMs: 0, broadcast: false, log }, () => undefined);
    const payload = lease.releaseMessage();
    if (payload && lease.serverId) {
      hostRelease(payload, lease.serverId);
      log(`${r.key}: released ${lease.address} from the host`);
    }
  } catch (e) {
    log(`${r.key}: cannot release: ${(e as Error).message}`);
  }
}

// --- the socket: HTTP CONNECT, then gob calls -------------------------------------------------------------------------

const MAX_HEADER = 8192;

function serveConnection(sock: Socket, leases: Leases): void {
  let head: Buffer | undefined = Buffer.alloc(0);
  const reader = new PairReader();
  const replies = new ReplyEncoder();
  let queue: Promise<void> = Promise.resolve();
  const hungUp = new AbortController();
  sock.on('error', () => sock.destroy());
  sock.on('close', () => hungUp.abort());
  const onCall = (pair: Parameters<typeof callFrom>[0]): void => {
    const call = callFrom(pair);
    queue = queue.then(async () => {
      let bytes: Uint8Array;
      try {
        switch (call.method) {
          case METHOD_ALLOCATE:
            bytes = replies.result(call.method, call.seq, await leases.allocate(call.args, hungUp.signal));
            break;
          case METHOD_RELEASE:
            await leases.release(call.args);
            bytes = replies.empty(call.method, call.seq);
            break;
          case METHOD_CHECK:
            await leases.check(call.args);
            bytes = replies.empty(call.method, call.seq);
            break;
          default:
            bytes = replies.error(call.method, call.seq, call.method.startsWith('DHCP.') ? `rpc: can't find method ${call.method}` : `rpc: can't find service ${call.method}`);
        }
      } catch (e) {
        bytes = replies.error(call.method, call.seq, e instanceof Error ? e.message : String(e));
      }
      if (!sock.destroyed) sock.write(bytes);
    });
  };
  sock.on('data', (chunk: Buffer) => {
    try {
      let data: Buffer = chunk;
      if (head) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\n\n') >= 0 ? head.indexOf('\n\n') + 2 : head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') + 4 : -1;
        if (end < 0) {
          if (head.length > MAX_HEADER) sock.destroy();
          return;
        }
        const [method, path] = head.subarray(0, end).toString('latin1').split(/\s+/);
        data = head.subarray(end);
        head = undefined;
        if (method !== 'CONNECT') {
          sock.end('HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n405 must CONNECT\n');
          return;
        }
        if (path !== RPC_PATH) {
          sock.end('HTTP/1.0 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n404 page not found\n');
          return;
        }
        sock.write(CONNECT_RESPONSE);
      }
      if (data.length) for (const pair of reader.push(new Uint8Array(data))) onCall(pair);
    } catch (e) {
      log(`rpc: dropping a connection: ${(e as Error).message}`);
      sock.destroy();
    }
  });
}

// --- the listener ---------------------------------------------------------------------------------------------------

/** systemd socket activation (sd_listen_fds): fd 3 when LISTEN_PID is us and LISTEN_FDS is 1. */
function activatedFd(env: NodeJS.ProcessEnv): number | undefined {
  if (Number(env.LISTEN_PID) !== process.pid) return undefined;
  const n = Number(env.LISTEN_FDS ?? 0);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (n === 0) return undefined;
  if (n > 1) throw new Error(`Too many (${n}) FDs passed through socket activation`);
  return 3;
}

/** Is a daemon answering at `path`? (A socket file nobody listens on is left by a daemon that died.) */
function answering(path: string): Promise<boolean> {
  return new Promise((res) => {
    const c = connect(path);
    c.on('connect', () => {
      c.destroy();
      res(true);
    });
    c.on('error', () => res(false));
  });
}

async function listen(server: Server, flags: DaemonFlags, env: NodeJS.ProcessEnv): Promise<{ path?: string }> {
  const fd = activatedFd(env);
  if (fd !== undefined) {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen({ fd }, () => res());
    });
    return {};
  }
  const path = flags.hostprefix + flags.socketpath;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await answering(path)) throw new Error(`another dhcp daemon is serving ${path}`);
    rmSync(path, { force: true }); // stale
  }
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => res());
  });
  return { path };
}

/** `dhcp daemon [flags]`: runs until SIGTERM/SIGINT; the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let flags: DaemonFlags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write(msg ? `${msg}\n${USAGE}` : USAGE);
    return msg ? 2 : 0;
  }
  // a daemon serves many pods: a bug in one call is logged, not the end of every lease
  process.on('unhandledRejection', (e) => log(`internal error: ${(e as Error)?.stack ?? e}`));
  process.on('uncaughtException', (e) => log(`internal error: ${e.stack ?? e}`));
  if (flags.pidfile && !isAbsolute(flags.pidfile)) {
    log(`Error writing pidfile "${flags.pidfile}": path not absolute`);
    return 1;
  }
  if (!sys.available()) {
    log('dhcp daemon needs the cni-ts executable (Bun FFI for packet sockets in container namespaces)');
    return 1;
  }
  try {
    if (flags.pidfile) {
      mkdirSync(dirname(flags.pidfile), { recursive: true }); // e.g. /run/cni before the socket made it
      writeFileSync(flags.pidfile, String(process.pid), { mode: 0o644 });
    }
  } catch (e) {
    log(`Error writing pidfile "${flags.pidfile}": ${(e as Error).message}`);
    return 1;
  }
  sys.socketInMode(); // compile socket_in now, not during the first ADD
  const stateDir = flags.hostprefix + (flags.statedir || `${dirname(flags.socketpath)}/dhcp-leases`);
  const store = new LeaseStore(stateDir);
  const leases = new Leases(flags, store);
  const server = createServer((s) => serveConnection(s, leases));
  let socketPath: string | undefined;
  let step = 'opening the lease store';
  try {
    store.open();
    step = 'resuming leases';
    await leases.restore();
    step = 'getting listener';
    socketPath = (await listen(server, flags, env)).path;
  } catch (e) {
    log(`Error ${step}: ${(e as Error).message}`);
    if (flags.pidfile) rmSync(flags.pidfile, { force: true });
    await leases.detachAll();
    return 1;
  }
  log(`dhcp daemon ${process.pid} serving ${socketPath ?? 'the socket systemd passed'}; leases in ${stateDir} (${leases.size} resumed); sockets in container namespaces made ${sys.socketInMode() === 'c' ? 'in C (socket_in)' : 'from JavaScript (Bun cc unavailable or CNI_TS_DHCP_NO_CC=1)'}`);
  return new Promise<number>((resolve) => {
    const shutdown = (sig: string): void => {
      log(`${sig}: shutting down; ${leases.size} lease(s) stay in ${stateDir} for the next daemon`);
      server.close();
      if (socketPath) rmSync(socketPath, { force: true });
      if (flags.pidfile) rmSync(flags.pidfile, { force: true });
      void leases.detachAll().then(() => resolve(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
