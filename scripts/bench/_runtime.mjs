// The benchmarks' "container runtime": a long-lived Node process started INSIDE one throwaway host netns
// (`ip netns exec <host> node _runtime.mjs`, by HostNetns in _lib.mjs). It execs plugins directly, as containerd,
// CRI-O or podman do from the host's netns, and times each exec, so no `ip netns exec` is inside any measurement.
// Protocol: one JSON request per stdin line `{id, fn, arg}`, one JSON reply per stdout line `{id, value}` or `{id, error}`.
// Chains follow libcni: ADD in order, each plugin gets the previous plugin's result as prevResult and, in
// runtimeConfig, the capability args it declares; DEL in reverse order with the cached final result as prevResult.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Environment of one plugin exec: only what a runtime sets (plus `inv.env`, e.g. CNI_TS_TRACE). */
function envOf(inv) {
  const env = { PATH, CNI_COMMAND: inv.command, CNI_CONTAINERID: inv.containerId ?? 'bench', CNI_NETNS: inv.netns ?? '/run/netns/none', CNI_IFNAME: inv.ifname ?? 'eth0', CNI_PATH: inv.path ?? '' };
  if (inv.args) env.CNI_ARGS = inv.args;
  return { ...env, ...inv.env };
}

function failure(inv, r) {
  return new Error(`${inv.plugin} ${inv.command} (${inv.containerId}) exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}`);
}

/** One plugin exec, synchronous (nothing else runs meanwhile): { ms, stdout }. */
function execSync(inv, argv0 = inv.plugin, argv = []) {
  const t0 = now();
  const r = spawnSync(argv0, argv, { env: envOf(inv), input: JSON.stringify(inv.conf ?? {}), encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = now() - t0;
  if (r.status !== 0) throw failure(inv, r);
  return { ms, stdout: r.stdout };
}

/** One plugin exec, asynchronous (for concurrent pods): resolves { ms, stdout }. */
function execAsync(inv) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(inv.plugin, [], { env: envOf(inv), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status, signal) => (status === 0 ? resolve({ ms: now() - t0, stdout }) : reject(failure(inv, { status, signal, stdout, stderr }))));
    child.stdin.end(JSON.stringify(inv.conf));
  });
}

/** The stdin of plugin `i` of a conflist, as libcni builds it. */
function pluginConf(list, i, capabilityArgs, prevResult) {
  const p = list.plugins[i];
  const conf = { ...p, name: list.name, cniVersion: list.cniVersion };
  const rc = {};
  for (const [k, on] of Object.entries(p.capabilities ?? {})) if (on && k in capabilityArgs) rc[k] = capabilityArgs[k];
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

/**
 * Run a conflist's ADD or DEL for one attachment `pod` = { containerId, netns, ifname, capabilityArgs, result (DEL) }
 * with plugins from `bin` and CNI_PATH `path` (+ `env` for every exec). Returns { ms (wall of the execs in sequence), result, execs }.
 */
async function chain({ list, bin, path, command, pod, env, async = false }) {
  const order = list.plugins.map((_, i) => i);
  if (command === 'DEL') order.reverse();
  let prev = command === 'DEL' ? pod.result : undefined;
  const execs = [];
  const t0 = now();
  for (const i of order) {
    const type = list.plugins[i].type;
    const inv = { plugin: join(bin, type), command, conf: pluginConf(list, i, pod.capabilityArgs ?? {}, prev), containerId: pod.containerId, netns: pod.netns, ifname: pod.ifname, path, env };
    const r = async ? await execAsync(inv) : execSync(inv);
    execs.push({ type, ms: r.ms });
    if (command === 'ADD') prev = JSON.parse(r.stdout);
  }
  return { ms: now() - t0, result: command === 'ADD' ? prev : undefined, execs };
}

/** Run `fn(item, index)` over `items`, at most `concurrency` at a time; results in item order. */
async function pool(items, concurrency, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

/** host-local's leases of `list` (first plugin's ipam.dataDir): { ip: containerId }. */
function leases(list) {
  const dir = join(list.plugins[0].ipam.dataDir, list.name);
  const out = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (f === 'lock' || f.startsWith('last_reserved_ip') || f.startsWith('.')) continue;
    out[f] = readFileSync(join(dir, f), 'utf8').split(/\r?\n/)[0];
  }
  return out;
}

const fns = {
  /** One plugin exec: { ms, stdout }. */
  exec: (inv) => execSync(inv),

  /** One conflist ADD or DEL (sequential execs). */
  chain: (arg) => chain(arg),

  /**
   * `pods` ADD chains at `concurrency` (each pod its own container netns), then host-local's leases, then every DEL
   * chain at the same concurrency. { addMs, delMs, results (final ADD results), leases, leasesAfterDel, addExecs, delExecs }.
   */
  async burst({ list, bin, path, pods, concurrency }) {
    let t0 = now();
    const added = await pool(pods, concurrency, (pod) => chain({ list, bin, path, command: 'ADD', pod, async: true }));
    const addMs = now() - t0;
    const held = leases(list);
    t0 = now();
    const deleted = await pool(pods, concurrency, (pod, k) => chain({ list, bin, path, command: 'DEL', pod: { ...pod, result: added[k].result }, async: true }));
    const delMs = now() - t0;
    return { addMs, delMs, results: added.map((a) => a.result), leases: held, leasesAfterDel: Object.keys(leases(list)).length, addExecs: added.map((a) => a.execs), delExecs: deleted.map((d) => d.execs) };
  },

  /** Peak RSS (kB) of one exec under GNU time: the max over the process and the children it waited for. */
  rss(inv) {
    const dir = mkdtempSync(join(tmpdir(), 'cnits-bench-rss-'));
    try {
      const out = join(dir, 'time');
      execSync(inv, '/usr/bin/time', ['-f', '%M', '-o', out, inv.plugin]);
      return Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const { id, fn, arg } = JSON.parse(line);
  let reply;
  try {
    reply = { id, value: await fns[fn](arg) };
  } catch (e) {
    reply = { id, error: String(e?.stack ?? e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
rl.on('close', () => process.exit(0));
