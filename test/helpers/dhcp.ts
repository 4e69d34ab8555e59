/**
 * A DHCP "LAN" for dhcp tests: dnsmasq in its own throwaway netns, reached from a TestNet's host netns through a veth
 * (`lan0` in the host — the macvlan master — and `lan0p` in the LAN, where dnsmasq listens), with a short lease and
 * short T1/T2 so renewals happen within a test. And a dhcp daemon (ours or the Go one) run in the host netns under
 * `ip netns exec` (a private mount namespace), its socket, pidfile and state in the test's temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type TestNet, sh, shOk } from './harness.js';

export const haveDnsmasq = sh('dnsmasq', ['--version']).status === 0;

export interface LanOptions {
  /** The first three octets, e.g. "10.99.0": the server is .1, the pool .50–.150. */
  prefix: string;
  /** dnsmasq's lease time (its minimum is 2m). */
  leaseTime?: string;
  t1?: number;
  t2?: number;
  /** More dnsmasq arguments (e.g. --dhcp-option=121,…). */
  extra?: string[];
  /** The host end of the LAN's veth (the macvlan master), default `lan0`. */
  uplink?: string;
}

export interface DnsmasqLease {
  expiry: number;
  mac: string;
  ip: string;
  clientId: string;
}

const waitFor = async (what: string, ok: () => boolean, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

export { waitFor };

/** Does something accept connections on the unix socket `path`? */
const answers = (path: string): Promise<boolean> =>
  new Promise((res) => {
    const c = connect(path);
    c.on('connect', () => (c.destroy(), res(true)));
    c.on('error', () => res(false));
  });

/** Hex client id as dnsmasq writes it: "00:63:31:2f:…" for 0x00 + "c1/…". */
export const dnsmasqClientId = (id: string): string => ['00', ...Buffer.from(id).toString('hex').match(/../g)!].join(':');

export class DhcpLan {
  readonly ns: string;
  readonly server: string;
  readonly dir: string;
  private proc: ChildProcess | undefined;

  constructor(
    readonly net: TestNet,
    readonly opts: LanOptions,
  ) {
    this.ns = net.addNetns('lan');
    this.dir = net.tempDir();
    this.server = `${opts.prefix}.1`;
    const uplink = opts.uplink ?? 'lan0';
    shOk('ip', ['-n', net.host, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'lan0p', 'netns', this.ns]);
    shOk('ip', ['-n', net.host, 'link', 'set', uplink, 'up']);
    shOk('ip', ['-n', this.ns, 'addr', 'add', `${this.server}/24`, 'dev', 'lan0p']);
    shOk('ip', ['-n', this.ns, 'link', 'set', 'lan0p', 'up']);
  }

  get leaseFile(): string {
    return join(this.dir, 'dnsmasq.leases');
  }

  get logFile(): string {
    return join(this.dir, 'dnsmasq.log');
  }

  async start(): Promise<this> {
    const o = this.opts;
    const args = [
      'netns', 'exec', this.ns, 'dnsmasq', '--keep-in-foreground', '--port=0', '--interface=lan0p', '--bind-interfaces', '--no-ping',
      `--dhcp-range=${o.prefix}.50,${o.prefix}.150,255.255.255.0,${o.leaseTime ?? '2m'}`,
      `--dhcp-option=option:T1,${o.t1 ?? 3}`, `--dhcp-option=option:T2,${o.t2 ?? 6}`,
      `--dhcp-leasefile=${this.leaseFile}`, '--log-dhcp', `--log-facility=${this.logFile}`, `--pid-file=${join(this.dir, 'dnsmasq.pid')}`,
      '--conf-file=/dev/null', '--user=root', '--group=root',
      ...(o.extra ?? []),
    ];
    this.proc = spawn('ip', args, { stdio: 'ignore' });
    await waitFor('dnsmasq to start', () => existsSync(this.logFile) && /DHCP, sockets bound/.test(readFileSync(this.logFile, 'utf8')));
    return this;
  }

  leases(): DnsmasqLease[] {
    if (!existsSync(this.leaseFile)) return [];
    return readFileSync(this.leaseFile, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [expiry, mac, ip, , clientId] = l.split(' ');
      return { expiry: Number(expiry), mac: mac!, ip: ip!, clientId: clientId ?? '' };
    });
  }

  leaseOf(id: string): DnsmasqLease | undefined {
    return this.leases().find((l) => l.clientId === dnsmasqClientId(id));
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** dnsmasq log lines of `kind` (DHCPDISCOVER, DHCPREQUEST, DHCPACK, DHCPRELEASE…) for an IP or MAC (or any). */
  count(kind: string, ipOrMac?: string): number {
    return this.log().split('\n').filter((l) => l.includes(`${kind}(lan0p)`) && (!ipOrMac || `${l} `.includes(` ${ipOrMac} `))).length;
  }

  stop(): void {
    this.proc?.kill('SIGTERM');
    this.proc = undefined;
  }
}

export interface DaemonOptions {
  /** The executable (dist/bin/dhcp or /usr/lib/cni/dhcp). */
  bin: string;
  dir: string;
  args?: string[];
  /** Our daemon only: its state directory (default <dir>/state). */
  statedir?: string | false;
}

/** A `dhcp daemon` in the host netns; stdout/stderr to <dir>/daemon.log. */
export class DhcpDaemon {
  readonly socket: string;
  readonly pidfile: string;
  readonly logFile: string;
  private proc: ChildProcess | undefined;
  exitCode: number | null | undefined;

  constructor(
    readonly net: TestNet,
    readonly opts: DaemonOptions,
  ) {
    this.socket = join(opts.dir, 'dhcp.sock');
    this.pidfile = join(opts.dir, 'dhcp.pid');
    this.logFile = join(opts.dir, 'daemon.log');
  }

  get statedir(): string {
    return typeof this.opts.statedir === 'string' ? this.opts.statedir : join(this.opts.dir, 'state');
  }

  async start(): Promise<this> {
    const ours = this.opts.statedir !== false;
    const args = ['netns', 'exec', this.net.host, this.opts.bin, 'daemon', '-socketpath', this.socket, '-pidfile', this.pidfile, ...(ours ? ['-statedir', this.statedir] : []), ...(this.opts.args ?? [])];
    const log = openSync(this.logFile, 'a');
    this.exitCode = undefined;
    const p = spawn('ip', args, { stdio: ['ignore', log, log], env: { PATH: process.env.PATH } });
    closeSync(log);
    p.on('exit', (code) => (this.exitCode = code));
    this.proc = p;
    // a socket file may be left by a daemon that was killed: ready is when one answers on it
    const deadline = Date.now() + 10_000;
    while (!(existsSync(this.socket) && (await answers(this.socket)))) {
      if (this.exitCode !== undefined) throw new Error(`dhcp daemon exited (${this.exitCode}): ${this.log()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the dhcp daemon on ${this.socket}: ${this.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Stop it (SIGTERM, or SIGKILL: a crash) and wait for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null | undefined> {
    const p = this.proc;
    if (!p) return this.exitCode;
    if (this.exitCode === undefined) {
      p.kill(signal);
      await waitFor('the dhcp daemon to exit', () => this.exitCode !== undefined);
    }
    this.proc = undefined;
    return this.exitCode;
  }

  /** Does the daemon hold the netns at a path, or with this inode (an open file, or one of its threads inside it)? */
  holdsNetns(netns: string | { ino: number; dev: number }): boolean {
    const pid = this.pid;
    if (!pid) return false;
    const want = typeof netns === 'string' ? statSync(netns) : netns;
    const same = (p: string): boolean => {
      try {
        const st = statSync(p); // follows /proc's magic links to the namespace itself, mounted or not
        return st.ino === want.ino && st.dev === want.dev;
      } catch {
        return false;
      }
    };
    return readdirSync(`/proc/${pid}/fd`).some((fd) => same(`/proc/${pid}/fd/${fd}`)) || readdirSync(`/proc/${pid}/task`).some((t) => same(`/proc/${pid}/task/${t}/ns/net`));
  }

  /** The network namespaces ("net:[inode]") the daemon's threads are in. */
  threadNetns(): Set<string> {
    const pid = this.pid;
    const out = new Set<string>();
    if (!pid) return out;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.add(readlinkSync(`/proc/${pid}/task/${t}/ns/net`));
      } catch {
        /* the thread ended */
      }
    }
    return out;
  }

  /** Lease records our daemon keeps on disk. */
  records(): string[] {
    return existsSync(this.statedir) ? readdirSync(this.statedir) : [];
  }
}
