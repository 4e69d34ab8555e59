// The measuring side of agent-scale.mjs, run INSIDE the throwaway node netns (`ip netns exec <node> node …`): it writes
// simulated peers into etcd in the agent's own key layout, runs the built agent (dist/bin/cni-ts-agent, vxlan) as a
// child, times it from its log and checks the kernel state. One JSON argument (see agent-scale.mjs); prints one JSON
// line of results on stdout, progress on stderr.
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const opt = JSON.parse(process.argv[2]);
const PREFIX = '/cni-ts/network';
const CLUSTER = '10.128.0.0/12'; // 4096 /24 subnets
const DEVICE = 'cni-ts.1';
const HEALTH = '127.0.0.1:9876';
const now = () => performance.now();
const say = (m) => process.stderr.write(`  agent-scale: ${m}\n`);
const b64 = (s) => Buffer.from(s).toString('base64');

function sh(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function post(base, path, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(t)) : reject(new Error(`${path}: HTTP ${res.statusCode} ${t}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
const etcd = (path, body) => post(opt.etcd, `/v3/${path}`, body);

function get(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve(t));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- simulated peers, in the agent's key layout (agent/store/etcd.ts) -------------------------------------------------
const subnetOf = (i) => `10.${128 + (i >> 8)}.${i & 255}.0/24`;
const peerKey = (i) => `${PREFIX}/subnets/${subnetOf(i).replace('/', '-')}`;
const peerValue = (i) =>
  JSON.stringify({ node: `sim-${i}`, publicIPs: [`172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`], subnets: [subnetOf(i)], backend: 'vxlan', vtepMAC: `02:5a:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` });
const put = (i) => ({ request_put: { key: b64(peerKey(i)), value: b64(peerValue(i)) } });

/** The cluster's keys gone, then peers 0…n-1 written (100 puts per transaction). */
async function writePeers(n) {
  await etcd('kv/deleterange', { key: b64(PREFIX), range_end: b64(PREFIX.slice(0, -1) + String.fromCharCode(PREFIX.charCodeAt(PREFIX.length - 1) + 1)) });
  for (let i = 0; i < n; i += 100) {
    const ops = [];
    for (let k = i; k < Math.min(n, i + 100); k++) ops.push(put(k));
    await etcd('kv/txn', { success: ops });
  }
}

// ---- the agent ------------------------------------------------------------------------------------------------------
const TICK = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;

class Agent {
  constructor(resync) {
    this.lines = [];
    this.waiters = [];
    this.started = now();
    const args = [
      '--node-name', 'bench-node', '--etcd-endpoints', opt.etcd, '--cluster-cidr', CLUSTER, '--backend', 'vxlan',
      '--public-ip', opt.publicIP, '--iface', 'eth0', '--conf-dir', join(opt.dir, 'net.d'), '--state-dir', join(opt.dir, 'state'),
      '--run-dir', join(opt.dir, 'run'), '--subnet-file', join(opt.dir, 'subnet.env'), '--healthz-addr', HEALTH, '--resync-interval', String(resync),
    ];
    this.proc = spawn(opt.agent, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, ...(process.env.CNI_TS_TRACE ? { CNI_TS_TRACE: process.env.CNI_TS_TRACE } : {}) } });
    let buf = '';
    this.proc.stderr.setEncoding('utf8').on('data', (d) => {
      const t = now();
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push({ t, line });
        for (const w of [...this.waiters]) if (w.re.test(line) && t >= w.after) this.settle(w, t);
      }
    });
    this.exited = new Promise((r) => this.proc.on('close', r));
  }

  settle(w, t) {
    this.waiters.splice(this.waiters.indexOf(w), 1);
    clearTimeout(w.timer);
    w.resolve(t);
  }

  /** Resolves with the arrival time of the first log line matching `re` that arrives at or after `after`. */
  waitLine(re, after = 0, timeoutMs = 120_000) {
    const hit = this.lines.find((l) => l.t >= after && re.test(l.line));
    if (hit) return Promise.resolve(hit.t);
    return new Promise((resolve, reject) => {
      const w = { re, after, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`agent did not log ${re} within ${timeoutMs} ms; log tail:\n${this.lines.slice(-15).map((l) => l.line).join('\n')}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** utime+stime of the agent and its waited-for children (ip, bridge, nft), in ms. */
  cpuMs() {
    const f = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / TICK;
  }

  /** CPU ms per thread name (the JS thread is named after the program; the rest are the runtime's: JIT, GC, allocator). */
  threadCpuMs() {
    const out = {};
    for (const t of readdirSync(`/proc/${this.proc.pid}/task`)) {
      try {
        const comm = readFileSync(`/proc/${this.proc.pid}/task/${t}/comm`, 'utf8').trim();
        const f = readFileSync(`/proc/${this.proc.pid}/task/${t}/stat`, 'utf8').split(') ')[1].split(' ');
        out[comm] = (out[comm] ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
      } catch {
        /* thread gone */
      }
    }
    return out;
  }

  /** Peak resident set (VmHWM), MB. */
  peakRssMB() {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'))[1]) / 1024;
  }

  async metrics() {
    const text = await get(`http://${HEALTH}/metrics`);
    const m = {};
    for (const l of text.split('\n')) if (l && !l.startsWith('#')) m[l.split(/[{ ]/)[0]] = Number(l.split(' ').pop());
    return m;
  }

  async stop() {
    this.proc.kill('SIGTERM');
    await this.exited;
  }
}

/** Routes, permanent neighbours and remote FDB entries the agent installed. */
function kernelCounts() {
  const routes = JSON.parse(sh('ip', ['-j', 'route', 'show', 'proto', '177']) || '[]').length;
  const link = spawnSync('ip', ['link', 'show', DEVICE]).status === 0;
  const neigh = link ? JSON.parse(sh('ip', ['-j', 'neigh', 'show', 'dev', DEVICE, 'nud', 'permanent']) || '[]').length : 0;
  const fdb = link ? JSON.parse(sh('bridge', ['-j', 'fdb', 'show', 'dev', DEVICE]) || '[]').filter((f) => f.dst).length : 0;
  return { routes, neigh, fdb };
}

/** A clean node: no device (its routes, neighbours and FDB go with it), no state, no conflist. */
function resetNode() {
  spawnSync('ip', ['link', 'del', DEVICE]);
  rmSync(join(opt.dir, 'state'), { recursive: true, force: true });
  rmSync(join(opt.dir, 'run'), { recursive: true, force: true });
  rmSync(join(opt.dir, 'net.d'), { recursive: true, force: true });
  mkdirSync(opt.dir, { recursive: true });
}

function expectCounts(n, what) {
  const c = kernelCounts();
  if (c.routes !== n || c.neigh !== n || c.fdb !== n) throw new Error(`${what}: expected ${n} routes, neighbours and FDB entries, the kernel has ${JSON.stringify(c)}`);
}

const FIRST = /reconcile \(first list of peers\): \d+ change/;

async function firstReconcileSeen(a) {
  for (let i = 0; i < 1200; i++) {
    const m = await a.metrics().catch(() => undefined);
    if (m?.cni_ts_agent_reconciles_total >= 1) return now();
    await sleep(50);
  }
  throw new Error('the agent did not reconcile');
}
const CHANGE = /reconcile \((peers changed|periodic resync)\): \d+ change/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the measurements -------------------------------------------------------------------------------------------------
const out = { sizes: opt.sizes, rounds: opt.rounds, install: {}, reconcile: {}, rss: {}, change: { add: [], remove: [] } };

for (const n of opt.sizes) {
  out.install[n] = [];
  out.reconcile[n] = [];
  for (let r = 0; r < opt.rounds; r++) {
    resetNode();
    await writePeers(n);
    const a = new Agent(3600);
    try {
      // With no peers the first reconcile changes nothing and logs nothing: its count in /metrics says it ran.
      const t = n > 0 ? await a.waitLine(FIRST) : await firstReconcileSeen(a);
      expectCounts(n, `${n} peers`);
      const m = await a.metrics();
      out.install[n].push(t - a.started);
      out.reconcile[n].push(m.cni_ts_agent_last_reconcile_duration_seconds * 1000);
      out.rss[n] = Math.max(out.rss[n] ?? 0, a.peakRssMB());
      say(`${n} peers installed ${(t - a.started).toFixed(0)} ms after the agent's start (reconcile ${out.reconcile[n].at(-1).toFixed(0)} ms), peak RSS ${a.peakRssMB().toFixed(1)} MB`);
    } finally {
      await a.stop();
    }
  }
}

// One peer added / removed while `base` exist; then a restart with --resync-interval 1 for the no-op resync cost.
const base = opt.changeBase;
resetNode();
await writePeers(base);
let a = new Agent(3600);
try {
  await a.waitLine(FIRST);
  expectCounts(base, `${base} peers`);
  await sleep(500);
  // Extra peers take free subnets above the base peers', never the one the agent leased for itself.
  const own = /FLANNEL_SUBNET=10\.(\d+)\.(\d+)\./.exec(readFileSync(join(opt.dir, 'subnet.env'), 'utf8'));
  const ownIndex = own ? (Number(own[1]) - 128) * 256 + Number(own[2]) : -1;
  const extra = Array.from({ length: opt.changeRounds + 1 }, (_, k) => base + 10 + k).filter((i) => i !== ownIndex);
  for (let k = 0; k < opt.changeRounds; k++) {
    const i = extra[k];
    let t0 = now();
    await etcd('kv/put', put(i).request_put);
    out.change.add.push((await a.waitLine(CHANGE, t0)) - t0);
    if (!JSON.parse(sh('ip', ['-j', 'route', 'show', subnetOf(i), 'proto', '177'])).length) throw new Error(`route to ${subnetOf(i)} missing after the add`);
    await sleep(200);
    t0 = now();
    await etcd('kv/deleterange', { key: b64(peerKey(i)) });
    out.change.remove.push((await a.waitLine(CHANGE, t0)) - t0);
    if (JSON.parse(sh('ip', ['-j', 'route', 'show', subnetOf(i), 'proto', '177'])).length) throw new Error(`route to ${subnetOf(i)} still there after the removal`);
    await sleep(200);
  }
  expectCounts(base, `${base} peers after the changes`);
  out.rss[`${base} + changes`] = a.peakRssMB();
  say(`one peer with ${base} present: added in ${out.change.add.map((x) => x.toFixed(0)).join(', ')} ms; removed in ${out.change.remove.map((x) => x.toFixed(0)).join(', ')} ms`);
} finally {
  await a.stop();
}

a = new Agent(1);
try {
  // The restart finds everything in place: its first reconcile changes nothing (no log line); wait for reconciles.
  let m;
  for (let tries = 0; tries < 600; tries++) {
    await sleep(100);
    m = await a.metrics().catch(() => undefined);
    if (m && m.cni_ts_agent_reconciles_total >= 3) break;
  }
  if (!m || m.cni_ts_agent_reconciles_total < 3) throw new Error('the restarted agent did not reconcile');
  // Warm-up: the runtime compiles the hot code during the first resyncs (JIT threads); measured is the steady state.
  await sleep(opt.resyncWarmupS * 1000);
  const c0 = a.cpuMs();
  const th0 = a.threadCpuMs();
  const m0 = await a.metrics();
  await sleep(opt.resyncWindowS * 1000);
  const c1 = a.cpuMs();
  const th1 = a.threadCpuMs();
  const m1 = await a.metrics();
  const resyncs = m1.cni_ts_agent_reconciles_total - m0.cni_ts_agent_reconciles_total;
  const changes = m1.cni_ts_agent_datapath_changes_total - m0.cni_ts_agent_datapath_changes_total;
  if (changes !== 0) throw new Error(`the periodic resyncs changed ${changes} things: not a no-op`);
  expectCounts(base, `${base} peers after the restart`);
  const threads = Object.fromEntries(Object.entries(th1).map(([k, v]) => [k, (v - (th0[k] ?? 0)) / resyncs]).filter(([, v]) => v > 0));
  out.resync = { threads, peers: base, windowS: opt.resyncWindowS, resyncs, cpuMs: c1 - c0, cpuMsPerResync: (c1 - c0) / resyncs, lastReconcileMs: m1.cni_ts_agent_last_reconcile_duration_seconds * 1000, tickMs: 1000 / TICK };
  out.rss[`${base} + resyncs`] = a.peakRssMB();
  say(`no-op periodic resync with ${base} peers: ${(c1 - c0).toFixed(0)} ms CPU over ${resyncs} resyncs = ${out.resync.cpuMsPerResync.toFixed(1)} ms each (the reconcile itself ${out.resync.lastReconcileMs.toFixed(1)} ms wall); per thread: ${Object.entries(threads).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
} finally {
  await a.stop();
}
resetNode();
process.stdout.write(JSON.stringify(out) + '\n');
