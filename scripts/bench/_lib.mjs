// Shared benchmark helpers (files starting with "_" are not benchmarks themselves).
// Plugins run exactly as a runtime runs them: executable + CNI_* env + config on stdin, exec'd by a runtime process
// (_runtime.mjs) that lives inside a throwaway `cnits-bench-*` "host" netns; ours and Go's are measured in
// interleaved rounds (the order alternating) so the noise of this shared machine hits both alike.
// Every netns and temp dir made here is removed at exit, also on an error or Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const DIST = join(ROOT, 'dist', 'bin');
export const GO = '/usr/lib/cni';
/** The two sides of every comparison: where the plugins are and the CNI_PATH they get. */
export const SIDES = {
  ours: { bin: DIST, path: DIST },
  go: { bin: GO, path: GO },
};

/** Rounds (env BENCH_ROUNDS, or the older BENCH_RUNS), timed after `WARMUP` untimed rounds. */
export const rounds = (dflt = 15) => Number(process.env.BENCH_ROUNDS ?? process.env.BENCH_RUNS ?? dflt);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);

// ---- cleanup of everything this process creates -------------------------------------------------------------------
const RUN = process.env.BENCH_RUN_ID ?? randomBytes(2).toString('hex');
const made = { netns: new Set(), dirs: new Set(), children: new Set() };

/** SIGKILL every process still running inside netns `name` (daemons a benchmark started there, e.g. etcd, an agent). */
function killInside(name) {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').map(Number).filter((p) => p > 1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function cleanup() {
  for (const c of made.children) c.kill('SIGKILL');
  for (const n of made.netns) killInside(n);
  for (const n of made.netns) spawnSync('ip', ['netns', 'del', n]);
  for (const d of made.dirs) rmSync(d, { recursive: true, force: true });
  made.netns.clear();
  made.dirs.clear();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));
process.on('unhandledRejection', (e) => {
  console.error(e);
  process.exit(1);
});

export function sh(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A throwaway netns `cnits-bench-<run>-<label>-<random>` with lo up; removed at exit. */
export function netnsAdd(label) {
  const name = `cnits-bench-${RUN}-${label}-${randomBytes(2).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  made.netns.add(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** `count` bare netns (no lo up) made with one `ip -batch`; names returned, removed at exit. */
export function netnsAddMany(label, count) {
  const names = Array.from({ length: count }, (_, i) => `cnits-bench-${RUN}-${label}${i}-${randomBytes(2).toString('hex')}`);
  names.forEach((x) => made.netns.add(x));
  sh('ip', ['-batch', '-'], names.map((x) => `netns add ${x}\n`).join(''));
  return names;
}

export function netnsDel(name) {
  spawnSync('ip', ['netns', 'del', name]);
  made.netns.delete(name);
}

export function tempDir(label) {
  const d = mkdtempSync(join(tmpdir(), `cnits-bench-${label}-`));
  made.dirs.add(d);
  return d;
}

/**
 * A throwaway "host" netns with a runtime process (_runtime.mjs) inside it. `call(fn, arg)` runs one of the runtime's
 * functions there (exec, chain, burst, rss) and resolves its value.
 */
export class HostNetns {
  constructor(label) {
    this.name = netnsAdd(label);
    this.child = spawn('ip', ['netns', 'exec', this.name, process.execPath, join(import.meta.dirname, '_runtime.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
    made.children.add(this.child);
    this.pending = new Map();
    this.seq = 0;
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const { id, value, error } = JSON.parse(line);
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (error) p.reject(new Error(error));
      else p.resolve(value);
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`bench runtime in ${this.name} exited (${code})`));
      this.pending.clear();
    });
  }

  /** `ip -n <this> …` (setup, not timed). */
  ip(...args) {
    return sh('ip', ['-n', this.name, ...args]);
  }

  call(fn, arg) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ id, fn, arg }) + '\n');
    });
  }

  /** Time one plugin exec here: resolves wall ms (throws when the plugin fails). */
  async time(inv) {
    return (await this.call('exec', inv)).ms;
  }

  close() {
    this.child.stdin.end();
    made.children.delete(this.child);
    netnsDel(this.name);
  }
}

// ---- statistics, rounds, output -------------------------------------------------------------------------------------
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** { median, min, max, n } of samples. */
export const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

/**
 * `n` timed rounds after `warmup` untimed ones; each round calls `fn(side, round)` for every side, the order of the sides
 * alternating round by round. `fn` resolves a number or an object of numbers; returns { side: samples } (arrays, or
 * objects of arrays, in the shape `fn` resolves).
 */
export async function interleave(n, sides, fn, warmup = WARMUP) {
  const out = Object.fromEntries(sides.map((s) => [s, undefined]));
  for (let i = 0; i < n + warmup; i++) {
    for (const side of i % 2 ? [...sides].reverse() : sides) {
      const v = await fn(side, i);
      if (i < warmup) continue;
      if (typeof v === 'number') (out[side] ??= []).push(v);
      else for (const [k, x] of Object.entries(v)) ((out[side] ??= {})[k] ??= []).push(x);
    }
  }
  return out;
}

/**
 * ADD then DEL of one plugin per side and round; { ours: { ADD, DEL, 'ADD+DEL' }, go: … } samples.
 * `invOf(side)`: the exec (plugin, path, conf, netns…); `after(side)`: untimed cleanup after each DEL (e.g. state the
 * plugin leaves to another plugin's DEL).
 */
export function addDelRounds({ n, hosts, invOf, id, after }) {
  return interleave(n, Object.keys(hosts), async (side, i) => {
    const inv = { ...invOf(side), containerId: `${id}r${i}${side}` };
    const add = await hosts[side].time({ ...inv, command: 'ADD' });
    const del = await hosts[side].time({ ...inv, command: 'DEL' });
    await after?.(side);
    return { ADD: add, DEL: del, 'ADD+DEL': add + del };
  });
}

/**
 * Programs one exec runs (strace -f execve; the IPAM plugin and what it runs included), not counting `ip netns exec`
 * and the plugin itself. `inv` as for HostNetns.time, run in `host`.
 */
export function execCount(host, inv) {
  return execList(host, inv).length;
}

/** The programs (base names, in order) one exec runs, as execCount counts them. */
export function execList(host, inv) {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: inv.command, CNI_CONTAINERID: inv.containerId, CNI_NETNS: inv.netns ?? '/run/netns/none', CNI_IFNAME: inv.ifname ?? 'eth0', CNI_PATH: inv.path };
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', 'ip', 'netns', 'exec', host.name, inv.plugin], { env, input: JSON.stringify(inv.conf), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${inv.plugin} ${inv.command} under strace failed: ${r.stdout}${r.stderr}`);
  const progs = r.stderr.split('\n').filter((l) => /execve\(/.test(l) && !/= -1 /.test(l)).map((l) => /execve\("([^"]+)"/.exec(l)?.[1]?.split('/').pop() ?? '?');
  return progs.slice(2); // ip (netns exec) and the plugin itself
}

/** ADD then DEL exec counts of both sides, { label, ours: { ADD, DEL }, go: { ADD, DEL } }; `after` as addDelRounds. */
export async function execCounts({ label, hosts, invOf, containerId, after }) {
  const out = { label };
  for (const side of Object.keys(hosts)) {
    const inv = { ...invOf(side), containerId };
    out[side] = { ADD: execCount(hosts[side], { ...inv, command: 'ADD' }), DEL: execCount(hosts[side], { ...inv, command: 'DEL' }) };
    await after?.(side);
  }
  return out;
}

/** Print exec counts (from execCounts). */
export function printExecCounts(rows) {
  console.log('programs executed per invocation (strace execve; the IPAM plugin and what it runs included)');
  console.log('  ' + ['case'.padEnd(34), 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL'].join('  '));
  for (const e of rows) console.log('  ' + [e.label.padEnd(34), String(e.ours.ADD).padStart(8), String(e.go.ADD).padStart(6), String(e.ours.DEL).padStart(8), String(e.go.DEL).padStart(6)].join('  '));
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
/** "12.3 (11.0–15.2)" */
export const cell = (s, unit = '') => `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})`;
export const ratio = (a, b) => (b ? a.median / b.median : NaN);

/**
 * Print a table of rows { label, ours, go } (stats objects; go optional) with medians, min–max and ratio ours/Go.
 * Returns the rows (for the report).
 */
export function printTable(title, rows, unit = 'ms') {
  console.log(title);
  const w = Math.max(34, ...rows.map((r) => r.label.length));
  console.log('  ' + ['case'.padEnd(w), `cni-ts ${unit} (min–max)`.padStart(24), `Go ${unit} (min–max)`.padStart(24), 'ours/Go'.padStart(8)].join(' '));
  for (const r of rows) {
    const q = r.go ? ratio(r.ours, r.go).toFixed(2) + 'x' : '-';
    console.log('  ' + [r.label.padEnd(w), cell(r.ours).padStart(24), (r.go ? cell(r.go) : '-').padStart(24), q.padStart(8)].join(' '));
  }
  return rows;
}

/** Rows { label, ours, go } (stats) from interleave()'d samples with keys `keys` ('ADD', 'DEL', …). */
export function rowsOf(label, samples, keys) {
  return keys.map((k) => ({ label: `${label} ${k}`, key: k, ours: stats(samples.ours[k]), go: stats(samples.go[k]) }));
}

/** Write this benchmark's results (JSON) where scripts/bench.mjs collects them for the report (env BENCH_OUT). */
export function saveResults(value) {
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(value, null, 1));
}

// ---- the pod network used by the chain, burst, RSS and phase benchmarks -----------------------------------------------
/**
 * The conflist of a typical pod network: bridge (isGateway, ipMasq, hairpinMode) with host-local IPAM, then portmap
 * with the portMappings capability. Same JSON for both sides (each default backend applies).
 */
export const podList = (dataDir) => ({
  cniVersion: '1.0.0',
  name: 'benchpod',
  plugins: [
    { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.89.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }] } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
});

/** One pod attachment: its container netns and one port mapping (runtimeConfig.portMappings, as libcni passes it). */
export const pod = (containerId, netns, hostPort) => ({
  containerId,
  netns: `/run/netns/${netns}`,
  ifname: 'eth0',
  capabilityArgs: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] },
});

/** The stdin bridge gets as the first plugin of podList (ADD, no prevResult). */
export const podBridgeConf = (dataDir) => ({ ...podList(dataDir).plugins[0], name: 'benchpod', cniVersion: '1.0.0' });

/** Whether `host`'s nftables ruleset or iptables nat table mentions `port` (a sanity check that a mapping exists). */
export function hostPortRuled(host, port) {
  const text = sh('ip', ['netns', 'exec', host.name, 'nft', 'list', 'ruleset']) + sh('ip', ['netns', 'exec', host.name, 'iptables-save', '-t', 'nat']);
  return new RegExp(`\\b${port}\\b`).test(text);
}

// ---- CNI_TS_TRACE: where the time of one exec of ours goes --------------------------------------------------------------
/** The events of a CNI_TS_TRACE file (removed afterwards), one list per process in order of appearance. */
export function traceProcesses(file) {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  rmSync(file);
  const byPid = new Map();
  for (const e of lines.map((l) => JSON.parse(l))) {
    if (!byPid.has(e.pid)) byPid.set(e.pid, []);
    byPid.get(e.pid).push({ ...e, start: e.t - e.ms, end: e.t });
  }
  return [...byPid.values()];
}

/** "exec ip -n cnits-bench-… -batch -" -> "exec ip -n <ctr> -batch": netns names hidden, at most 6 words. */
const execLabel = (what) =>
  'exec ' +
  what
    .slice(5)
    .replace(/cnits-bench-\S+/g, '<ctr>')
    .split(' ')
    .slice(0, 6)
    .join(' ')
    .replace(/ (-|dev)$/, '');

/**
 * Phases (ms) of one traced process whose wall time measured by the runtime was `wall`: runtime start → first event,
 * each kind of program exec, in-process work (nested events taken out), other in-process, exec + exit (outside).
 */
export function phasesOf(evs, wall) {
  const exit = evs.find((e) => / exit \d+( \(peak RSS \d+ KB\))?$/.test(e.what));
  const ops = evs.filter((e) => e !== exit);
  if (!exit) throw new Error(`trace without an exit event: ${JSON.stringify(evs)}`);
  const eps = 0.01;
  const inside = (a, b) => a !== b && a.start >= b.start - eps && a.end <= b.end + eps && a.ms <= b.ms;
  const parent = (e) => ops.filter((p) => inside(e, p)).sort((x, y) => x.ms - y.ms)[0];
  const p = {};
  const add = (k, v) => (p[k] = (p[k] ?? 0) + v);
  const first = ops.length ? Math.min(...ops.map((e) => e.start)) : exit.t;
  add('runtime start → first event', first);
  let top = 0;
  for (const e of ops) {
    const own = e.ms - ops.filter((c) => parent(c) === e).reduce((s, c) => s + c.ms, 0);
    if (!parent(e)) top += e.ms;
    add(e.what.startsWith('exec ') ? execLabel(e.what) : e.what.startsWith('in-process') ? `${e.what} (own work)` : e.what, own);
  }
  add('other in-process', exit.t - first - top);
  add('exec + exit (outside)', wall - exit.t);
  return p;
}

/** [{ phase, median, min, max, n }] over runs of phasesOf (a phase missing in a run counts 0), in a readable order. */
export function phaseStats(runs) {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const last = ['other in-process', 'exec + exit (outside)'];
  return [...names.filter((k) => !last.includes(k)), ...last].map((k) => ({ phase: k, ...stats(runs.map((r) => r[k] ?? 0)) }));
}
