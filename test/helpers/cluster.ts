/**
 * A multi-node test bed on one machine, for cni-ts-agent: every "node" is a network namespace whose eth0 is plugged
 * into an underlay bridge (ul0, 192.168.77.1/24) living in the TestNet's host namespace, where etcd also runs
 * (Debian's etcd-server, its own temp data dir, stopped by PID). An "outside" namespace on the underlay has no route
 * to the pod network. Agents run inside their node's namespace (`ip netns exec`) with temp conf/state/bin/IPAM dirs;
 * pods are attached by our plugins from the conflist the agent wrote, as a runtime does (Chain with hostNetns = node).
 * Every file an agent writes is under the cluster's temp dirs (conf, state, run, bin, IPAM dirs passed as flags;
 * iptables-legacy's lock through XTABLES_LOCKFILE): nothing in the machine's /etc/cni, /var/lib or /run.
 * Everything (processes, namespaces, dirs) is removed by cleanup(), even when a test fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Chain, type ConfList } from './chain.js';
import { ROOT, TestNet, bin, pluginEnv, sh, shOk } from './harness.js';

export const UNDERLAY_GW = '192.168.77.1';
export const OUTSIDE_IP = '192.168.77.200';
export const ETCD_URL = `http://${UNDERLAY_GW}:2379`;
/** The underlay's IPv6 network (addNode({ underlay6: true })): the gateway ::1, node i ::1<i>. */
export const UNDERLAY6_GW = 'fd00:77::1';

export const haveEtcd = spawnSync('etcd', ['--version']).status === 0;

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Node {
  index: number;
  name: string;
  netns: string;
  ip: string;
  dir: string;
  confDir: string;
  stateDir: string;
  runDir: string;
  binDir: string;
  ipamDir: string;
  /** fd00:77::1<i> when added with underlay6. */
  ip6?: string;
}

export class Agent {
  log = '';
  readonly exited: Promise<number>;
  exitCode: number | undefined;

  constructor(
    readonly node: Node,
    readonly proc: ChildProcess,
  ) {
    proc.stdout?.on('data', (d) => (this.log += d));
    proc.stderr?.on('data', (d) => (this.log += d));
    this.exited = new Promise((r) =>
      proc.on('close', (code, sig) => {
        this.exitCode = code ?? (sig ? 128 : 1);
        r(this.exitCode);
      }),
    );
  }

  waitLog(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return waitFor(`agent ${this.node.name} to log ${re}\n--- log ---\n${this.log}`, () => this.log.match(re) ?? undefined, timeoutMs);
  }

  /** SIGTERM (or another signal) and wait for the exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    if (this.exitCode === undefined) this.proc.kill(signal);
    return await Promise.race([this.exited, new Promise<number>((_, rej) => setTimeout(() => rej(new Error(`agent ${this.node.name} did not exit after ${signal}\n${this.log}`)), 10_000))]);
  }
}

/** How the cluster's etcd is started (default: plain http, no auth). */
export interface EtcdOptions {
  /** https with this server certificate and key; with `clientCA`, clients must present a certificate it signed. */
  tls?: { cert: string; key: string; clientCA?: string };
  /** More etcd flags, e.g. ['--auth-token-ttl', '2']. */
  extraArgs?: string[];
}

export class Cluster {
  readonly net: TestNet;
  /** The etcd client URL (https:// when started with TLS). */
  etcdUrl = ETCD_URL;
  /** Extra curl arguments for etcdCall (CA, client certificate, an Authorization header when auth is on). */
  etcdCurlArgs: string[] = [];
  readonly underlay: string;
  readonly nodes: Node[] = [];
  readonly agents: Agent[] = [];
  outside?: string;
  private etcd?: ChildProcess;
  private etcdDir?: string;
  private etcdOpts: EtcdOptions = {};
  /** iptables-legacy's lock file (it would be /run/xtables.lock on the machine). */
  readonly xtablesLock: string;

  constructor(label = 'ag') {
    this.net = new TestNet(label);
    this.xtablesLock = join(this.net.tempDir(), 'xtables.lock');
    this.underlay = this.net.host;
    shOk('ip', ['-n', this.underlay, '-batch', '-'], [`link add ul0 type bridge`, `link set ul0 up`, `addr add ${UNDERLAY_GW}/24 dev ul0`].join('\n') + '\n');
  }

  /** A namespace plugged into the underlay bridge with `addr`/24 on its eth0 and a default route via the gateway. */
  private plug(suffix: string, addr: string, defaultRoute: boolean): string {
    const ns = this.net.addNetns(suffix);
    const port = `ul-${suffix}`;
    shOk('ip', ['-n', this.underlay, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    shOk('ip', ['-n', this.underlay, 'link', 'set', port, 'master', 'ul0', 'up']);
    const lines = [`addr add ${addr}/24 dev eth0`, 'link set eth0 up'];
    if (defaultRoute) lines.push(`route add default via ${UNDERLAY_GW}`);
    shOk('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
    return ns;
  }

  addNode(o: { underlay6?: boolean } = {}): Node {
    const index = this.nodes.length + 1;
    const name = `node-${index}`;
    const netns = this.plug(`n${index}`, `192.168.77.${10 + index}`, true);
    const dir = this.net.tempDir();
    const node: Node = { index, name, netns, ip: `192.168.77.${10 + index}`, dir, confDir: join(dir, 'net.d'), stateDir: join(dir, 'state'), runDir: join(dir, 'run'), binDir: join(dir, 'bin'), ipamDir: join(dir, 'ipam') };
    if (o.underlay6) {
      if (!this.nodes.some((n) => n.ip6)) shOk('ip', ['-n', this.underlay, 'addr', 'add', `${UNDERLAY6_GW}/64`, 'dev', 'ul0', 'nodad']);
      node.ip6 = `fd00:77::1${index}`;
      shOk('ip', ['-n', netns, 'addr', 'add', `${node.ip6}/64`, 'dev', 'eth0', 'nodad']);
    }
    this.nodes.push(node);
    return node;
  }

  /** The "outside": an address on the underlay with no route to any pod subnet. */
  addOutside(): string {
    this.outside = this.plug('out', OUTSIDE_IP, false);
    return this.outside;
  }

  /** Start etcd (again: same data dir); the options given are kept for later restarts (`startEtcd()`). */
  async startEtcd(opts?: EtcdOptions): Promise<void> {
    if (opts) this.etcdOpts = opts;
    const o = this.etcdOpts;
    this.etcdDir ??= join(this.net.tempDir(), 'etcd');
    mkdirSync(this.etcdDir, { recursive: true });
    if (o.tls) this.etcdUrl = ETCD_URL.replace('http:', 'https:');
    const tls = o.tls ? ['--cert-file', o.tls.cert, '--key-file', o.tls.key, ...(o.tls.clientCA ? ['--trusted-ca-file', o.tls.clientCA, '--client-cert-auth'] : [])] : [];
    const p = spawn(
      'ip',
      ['netns', 'exec', this.underlay, 'etcd', '--name', 'cnits', '--data-dir', this.etcdDir, '--listen-client-urls', this.etcdUrl, '--advertise-client-urls', this.etcdUrl, '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'cnits=http://127.0.0.1:2380', '--log-level', 'warn', ...tls, ...(o.extraArgs ?? [])],
      { stdio: ['ignore', 'ignore', 'pipe'], env: pluginEnv({}) },
    );
    let err = '';
    p.stderr?.on('data', (d) => (err = (err + d).slice(-4000)));
    this.etcd = p;
    await waitFor(`etcd to answer on ${this.etcdUrl} (${err})`, () => this.etcdAnswers(), 20_000, 200);
  }

  /** Does etcd answer HTTP at all (also 401/400 with auth on and a stale or no token)? */
  etcdAnswers(): boolean {
    const r = sh('ip', ['netns', 'exec', this.underlay, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', ...this.etcdCurlArgs, '-X', 'POST', `${this.etcdUrl}/v3/kv/range`, '-d', '{"key":"AA=="}']);
    return /^[1-5]\d\d$/.test(r.stdout.trim());
  }

  /** SIGTERM etcd by PID and wait for it to exit. */
  async stopEtcd(): Promise<void> {
    const p = this.etcd;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.on('close', r));
    p.kill('SIGTERM');
    await done;
    this.etcd = undefined;
  }

  /** A call to etcd's JSON gateway from the underlay namespace (curl); undefined when etcd does not answer. */
  etcdCall(path: string, body: unknown): any {
    const r = sh('ip', ['netns', 'exec', this.underlay, 'curl', '-sf', '--max-time', '3', ...this.etcdCurlArgs, '-X', 'POST', `${this.etcdUrl}/v3/${path}`, '-d', JSON.stringify(body)]);
    if (r.status !== 0) return undefined;
    return JSON.parse(r.stdout);
  }

  /** Every key/value under a prefix, decoded. */
  etcdList(prefix: string): Record<string, string> {
    const b = Buffer.from(prefix);
    const end = Buffer.from(b);
    end[end.length - 1]! += 1;
    const r = this.etcdCall('kv/range', { key: b.toString('base64'), range_end: end.toString('base64') });
    const out: Record<string, string> = {};
    for (const kv of r?.kvs ?? []) out[Buffer.from(kv.key, 'base64').toString()] = Buffer.from(kv.value ?? '', 'base64').toString();
    return out;
  }

  agentArgs(node: Node, extra: string[] = []): string[] {
    return [
      '--node-name', node.name,
      '--etcd-endpoints', this.etcdUrl,
      '--conf-dir', node.confDir,
      '--state-dir', node.stateDir,
      '--run-dir', node.runDir,
      '--subnet-file', join(node.runDir, 'subnet.env'), // not the machine's /run/cni-ts/subnet.env
      '--cni-bin-dir', node.binDir,
      '--ipam-data-dir', node.ipamDir,
      '--healthz-addr', '127.0.0.1:9876',
      ...extra,
    ];
  }

  /**
   * Run the agent (daemon or one-shot) inside the node's namespace: the shipped executable, or with CNITS_AGENT_NODE=1
   * the same bundle under Node (dist/build/cni-ts.cjs through a link named cni-ts-agent), to show both runtimes work.
   */
  startAgent(node: Node, args: string[], env: Record<string, string> = {}): Agent {
    const exe = process.env.CNITS_AGENT_NODE === '1' ? [process.execPath, this.nodeForm()] : [bin('cni-ts-agent')];
    const p = spawn('ip', ['netns', 'exec', node.netns, ...exe, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: pluginEnv({ XTABLES_LOCKFILE: this.xtablesLock, ...env }) });
    const a = new Agent(node, p);
    this.agents.push(a);
    return a;
  }

  private nodeLink?: string;

  private nodeForm(): string {
    if (!this.nodeLink) {
      this.nodeLink = join(this.net.tempDir(), 'cni-ts-agent');
      symlinkSync(join(ROOT, 'dist/build/cni-ts.cjs'), this.nodeLink);
    }
    return this.nodeLink;
  }

  /** One-shot run (e.g. --cleanup, --install-cni) to completion. */
  async runAgent(node: Node, args: string[], env: Record<string, string> = {}): Promise<{ status: number; log: string }> {
    const a = this.startAgent(node, args, env);
    const status = await Promise.race([a.exited, new Promise<number>((_, rej) => setTimeout(() => rej(new Error(`one-shot agent did not finish\n${a.log}`)), 30_000))]);
    return { status, log: a.log };
  }

  conflistPath = (node: Node): string => join(node.confDir, '10-cni-ts.conflist');

  conflist(node: Node): ConfList | undefined {
    const p = this.conflistPath(node);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ConfList) : undefined;
  }

  /** The node's pod subnets, from the conflist its agent wrote. */
  subnetsOf(node: Node): string[] {
    const c = this.conflist(node) as any;
    return (c?.plugins?.[0]?.ipam?.ranges ?? []).map((r: any) => r[0].subnet);
  }

  /** A pod on `node`: a container namespace attached with the node's conflist, as a runtime would. Returns its IP. */
  addPod(node: Node, suffix: string): { netns: string; ip: string; chain: Chain; id: string } {
    const list = this.conflist(node);
    if (!list) throw new Error(`no conflist on ${node.name}`);
    const c = this.net.addContainer(suffix);
    const chain = new Chain(list, { hostNetns: node.netns, path: node.binDir });
    const id = `pod-${suffix}`;
    const result = chain.add({ containerId: id, netns: c.path });
    const ip = String(result.ips[0].address).split('/')[0]!;
    return { netns: c.name, ip, chain, id };
  }

  /** Remove a pod as a runtime does: CNI DEL through its chain, then its namespace. */
  delPod(pod: { netns: string; chain: Chain; id: string }): void {
    pod.chain.del({ containerId: pod.id, netns: `/run/netns/${pod.netns}` });
    this.net.removeNetns(pod.netns);
  }

  /** The global addresses on a node's pod bridge ("10.244.1.1/24"), sorted; [] when there is no bridge. */
  bridgeAddrs(node: Node, bridge = 'cni-ts0'): string[] {
    const r = sh('ip', ['-n', node.netns, '-j', 'addr', 'show', 'dev', bridge]);
    if (r.status !== 0 || !r.stdout.trim()) return [];
    return (JSON.parse(r.stdout)[0]?.addr_info ?? []).filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
  }

  /** Put a subnet record into etcd as another node's agent would (no lease unless given). */
  putRecord(subnet: string, rec: Record<string, unknown>, prefix = '/cni-ts/network'): void {
    const b = (x: string): string => Buffer.from(x).toString('base64');
    const r = this.etcdCall('kv/put', { key: b(`${prefix}/subnets/${subnet.replace('/', '-')}`), value: b(JSON.stringify({ subnets: [subnet], backend: 'vxlan', ...rec })) });
    if (!r) throw new Error(`etcd put of ${subnet} failed`);
  }

  ipJson(netns: string, args: string[]): any[] {
    return this.net.ipJson(netns, args);
  }

  /** Routes carrying the agent's protocol number in a node's namespace. */
  agentRoutes(netns: string): any[] {
    return this.ipJson(netns, ['route', 'show', 'proto', '177']);
  }

  fdb(netns: string, dev = 'cni-ts.1'): any[] {
    const r = sh('bridge', ['-n', netns, '-j', 'fdb', 'show', 'dev', dev]);
    return r.status === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : [];
  }

  /** GET /status of the node's agent (the whole status JSON). */
  healthz(node: Node): any {
    return this.probe(node, '/status').body;
  }

  /** GET a health path (/healthz, /readyz, /status) of the node's agent: HTTP code and JSON body. */
  probe(node: Node, path: string): { code: number; body: any } {
    const r = sh('ip', ['netns', 'exec', node.netns, 'curl', '-s', '--max-time', '3', '-w', '\n%{http_code}', `http://127.0.0.1:9876${path}`]);
    const lines = r.stdout.trimEnd().split('\n');
    const code = Number(lines.pop());
    try {
      return { code, body: JSON.parse(lines.join('\n')) };
    } catch {
      return { code, body: undefined };
    }
  }

  /** GET a path of the node's agent as text (/metrics). */
  probeText(node: Node, path: string): string {
    return sh('ip', ['netns', 'exec', node.netns, 'curl', '-s', '--max-time', '3', `http://127.0.0.1:9876${path}`]).stdout;
  }

  /** `iptables-save` (or ip6tables, legacy) in a node, comments and counters left out. */
  iptablesSave(node: Node, tool = 'iptables-nft-save'): string {
    return sh('ip', ['netns', 'exec', node.netns, tool], undefined).stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
  }

  async cleanup(): Promise<void> {
    for (const a of this.agents) if (a.exitCode === undefined) a.proc.kill('SIGKILL');
    await Promise.all(this.agents.map((a) => Promise.race([a.exited, new Promise((r) => setTimeout(r, 5000))])));
    if (this.etcd && this.etcd.exitCode === null) {
      const p = this.etcd;
      const done = new Promise((r) => p.on('close', r));
      p.kill('SIGKILL');
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
    }
    this.net.cleanup();
  }
}

/**
 * A one-connection TCP server inside `netns` on `port`: resolves with the remote address of the first client (what
 * the receiver sees as the sender).
 */
export function tcpServer(netns: string, port: number): { ready: Promise<void>; peer: Promise<string>; kill: () => void } {
  const code = `const s=require('net').createServer(c=>{console.log('PEER '+c.remoteAddress);c.end('hi\\n');s.close()});s.listen(${port},()=>console.log('READY'));setTimeout(()=>process.exit(3),30000)`;
  const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'], env: pluginEnv({}) });
  let out = '';
  const ready = waitFor('tcp server ready', () => out.includes('READY'), 15_000, 20).then(() => undefined);
  const peer = new Promise<string>((resolve, reject) => {
    p.stdout!.on('data', (d) => {
      out += d;
      const m = /PEER (\S+)/.exec(out);
      if (m) resolve(m[1]!.replace(/^::ffff:/, ''));
    });
    p.on('close', () => reject(new Error(`tcp server in ${netns} exited without a connection: ${out}`)));
  });
  peer.catch(() => undefined);
  return { ready, peer, kill: () => p.kill('SIGKILL') };
}

/**
 * The source address a TCP connection from `fromNetns` to toIP:port arrives with in `toNetns` (what the receiver
 * sees: masqueraded or not). Throws when the connection is not answered.
 */
export async function sourceSeen(fromNetns: string, toNetns: string, toIP: string, port: number): Promise<string> {
  const srv = tcpServer(toNetns, port);
  await srv.ready;
  try {
    if (!tcpConnect(fromNetns, toIP, port)) throw new Error(`no TCP connection from ${fromNetns} to ${toIP}:${port} in ${toNetns}`);
    return await srv.peer;
  } finally {
    srv.kill();
  }
}

/** Connect from `netns` to ip:port; true when the server answered. */
export function tcpConnect(netns: string, ip: string, port: number): boolean {
  const code = `const c=require('net').connect(${port},'${ip}');let d='';c.on('data',x=>d+=x);c.on('end',()=>process.exit(d.includes('hi')?0:1));c.on('error',()=>process.exit(2));setTimeout(()=>process.exit(4),5000)`;
  return sh('ip', ['netns', 'exec', netns, process.execPath, '-e', code]).status === 0;
}
