/**
 * test/vm/lib.mjs — helpers for tests that run INSIDE the cni-ts test VM (scripts/vm/run-tests.sh).
 *
 * CONTRACT
 * - Every file test/vm/<name>.vm.mjs is a Node ESM program; the runner boots a QEMU (TCG) VM with the Debian
 *   cloud kernel (ipvlan, 8021q, dummy, vrf, macvlan, bridge, veth, nf_tables... all available) and runs each
 *   file with `node <name>.vm.mjs` from /cni-ts/test/vm, as root, one file after the other, in one fresh VM.
 * - Environment: DIST=<dir of our built plugins (dist/bin)>, GO_PLUGINS=<dir of the Go reference plugins
 *   (/usr/lib/cni)>, CNITS_VM=1. Tools: node, iproute2 ip/bridge, nft, iptables(-nft/-legacy), nsenter, flock,
 *   sysctl, busybox (ping, sh, ...). No network device to the outside: the VM is offline. Host variables named
 *   VMTEST_* are passed through (e.g. VMTEST_BRIDGE=go in bridge-vlan.vm.mjs).
 * - Import what you need from './lib.mjs'; declare tests with `test(name, async (t) => { ... })`. They run in
 *   order after the module body; each prints exactly one line `PASS <file>: <name> (<ms> ms)`,
 *   `FAIL <file>: <name>: <error>` or `SKIP <file>: <name>: <reason>`. A file exits 0 when nothing failed.
 *   `skipFile(reason)` (e.g. via `requirePlugins('macvlan')`) prints one SKIP line and exits 0.
 *   Any other output is shown by the runner as context; a file that exits non-zero without a FAIL line counts
 *   as one failure, a file that exits 0 without any PASS/FAIL/SKIP line as one pass.
 * - Resources: make network namespaces with `t.netns()` (named cnits-*, deleted after the test, even when it
 *   fails) and register other cleanup with `t.defer(fn)`. The VM is thrown away afterwards, but files share it,
 *   so clean up anyway. Put plugin state (IPAM dataDir) under `t.tempDir()`.
 * - Running plugins: `runPlugin({ plugin: bin('bridge') | goBin('bridge'), command, conf, containerId, netns,
 *   ifname, ... })` runs the executable with CNI_* env and the JSON config on stdin, exactly as a runtime does,
 *   and returns { status, stdout, stderr, json }. `cniAdd` / `cniDel` / `cniCheck` do the same and throw on a
 *   non-zero exit. CNI_PATH defaults to DIST (our IPAM plugins) for bin(...) and to GO_PLUGINS for goBin(...).
 *
 * Example:
 *   import { test, requirePlugins, bin, cniAdd, ping, assert } from './lib.mjs';
 *   requirePlugins('macvlan', 'host-local');
 *   test('two containers', async (t) => { const a = t.netns('a'); ... assert.ok(ping(a.name, '10.1.0.3')); });
 *
 * Run: `npm run test:vm` (all) or `bash scripts/vm/run-tests.sh macvlan` (files whose name contains "macvlan").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';

export { assert };
export const DIST = process.env.DIST ?? '/cni-ts/dist/bin';
export const GO_PLUGINS = process.env.GO_PLUGINS ?? '/usr/lib/cni';
export const FILE = basename(process.argv[1] ?? 'unknown.vm.mjs');
export const PREFIX = 'cnits-';
const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

if (process.env.CNITS_VM !== '1' && process.env.CNITS_VM_ALLOW_HOST !== '1') {
  // These tests create links in the root namespace of the machine they run on: only inside the VM.
  console.log(`SKIP ${FILE}: not inside the cni-ts test VM (run: bash scripts/vm/run-tests.sh; CNITS_VM_ALLOW_HOST=1 to force)`);
  process.exit(0);
}

export const uniq = () => randomBytes(3).toString('hex');
export const bin = (type) => join(DIST, type);
export const goBin = (type) => join(GO_PLUGINS, type);
/** Is our plugin `type` built into DIST? */
export const havePlugin = (type) => existsSync(bin(type));

// ------------------------------------------------------------------ commands

/** Run a program (argv array, no shell). opts: { input, netns (name: run inside it), env }. Never throws. */
export function sh(cmd, args = [], opts = {}) {
  const argv = opts.netns ? ['netns', 'exec', opts.netns, cmd, ...args] : args;
  const r = spawnSync(opts.netns ? 'ip' : cmd, argv, {
    input: opts.input,
    env: opts.env ?? { ...process.env, PATH: process.env.PATH || SYS_PATH },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) return { status: 127, stdout: '', stderr: String(r.error.message) };
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like sh() but throws (with stderr) on a non-zero exit; returns stdout. */
export function shOk(cmd, args = [], opts = {}) {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}${opts.netns ? ` (in ${opts.netns})` : ''} failed (${r.status}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** `ip [-n netns] args...` → stdout (throws on failure). */
export const ip = (args, netns) => shOk('ip', netns ? ['-n', netns, ...args] : args);

/** `ip -j [-n netns] args...` parsed (throws on failure; [] for empty output). */
export function ipJson(args, netns) {
  const out = shOk('ip', [...(netns ? ['-n', netns] : []), '-j', ...args]).trim();
  return out ? JSON.parse(out) : [];
}

/** Does link `ifname` exist (in netns, or the VM's root namespace)? */
export const linkExists = (ifname, netns) => sh('ip', [...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', ifname]).status === 0;

/** `ip -d -j link show dev ifname` object, or undefined. */
export function linkInfo(ifname, netns) {
  const r = sh('ip', [...(netns ? ['-n', netns] : []), '-d', '-j', 'link', 'show', 'dev', ifname]);
  return r.status === 0 ? JSON.parse(r.stdout)[0] : undefined;
}

/** Addresses (CIDR strings, global scope) on an interface. */
export function addrs(ifname, netns) {
  const r = sh('ip', [...(netns ? ['-n', netns] : []), '-j', 'addr', 'show', 'dev', ifname]);
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout || '[]')[0]?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

/** ping from inside a netns; true when at least one reply came back (busybox ping; -W = seconds). */
export function ping(fromNetns, dst, { count = 1, timeout = 2 } = {}) {
  const six = dst.includes(':');
  return sh('ping', [...(six ? ['-6'] : []), '-c', String(count), '-W', String(timeout), dst], { netns: fromNetns }).status === 0;
}

/** Create a network namespace (lo up). Prefer t.netns(), which also deletes it. */
export function createNetns(name) {
  shOk('ip', ['netns', 'add', name]);
  shOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}` };
}

export function deleteNetns(name) {
  sh('ip', ['netns', 'del', name]);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ plugins

/**
 * Run a CNI plugin like a runtime does. inv: { plugin (path), command, conf (object or string), containerId,
 * netns (path, e.g. ns.path), ifname, args (CNI_ARGS), path (CNI_PATH), env, hostNetns (name: run the plugin
 * inside that netns, e.g. where its master link lives) }. Returns { status, stdout, stderr, json, ms }.
 */
export function runPlugin(inv) {
  const env = {
    PATH: SYS_PATH,
    CNI_COMMAND: inv.command,
    CNI_PATH: inv.path ?? (inv.plugin.startsWith(GO_PLUGINS + '/') ? GO_PLUGINS : DIST),
  };
  const opt = { CNI_CONTAINERID: inv.containerId, CNI_NETNS: inv.netns, CNI_IFNAME: inv.ifname, CNI_ARGS: inv.args, ...inv.env };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) env[k] = v;
  const input = typeof inv.conf === 'string' ? inv.conf : JSON.stringify(inv.conf);
  const t0 = process.hrtime.bigint();
  const r = inv.hostNetns
    ? spawnSync('ip', ['netns', 'exec', inv.hostNetns, inv.plugin], { env, input, encoding: 'utf8' })
    : spawnSync(inv.plugin, [], { env, input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? ''), json, ms };
}

function runOk(command, plugin, conf, opts) {
  const r = runPlugin({ ifname: 'eth0', containerId: `cnits-${uniq()}`, ...opts, plugin, command, conf });
  if (r.status !== 0) throw new Error(`${command} ${basename(plugin)} exited ${r.status}: ${(r.stdout + r.stderr).trim()}`);
  return r.json;
}
/** ADD; opts = { netns, containerId, ifname='eth0', hostNetns, args, path, env }. Throws on failure, returns the result. */
export const cniAdd = (plugin, conf, opts = {}) => runOk('ADD', plugin, conf, opts);
export const cniDel = (plugin, conf, opts = {}) => runOk('DEL', plugin, conf, opts);
export const cniCheck = (plugin, conf, opts = {}) => runOk('CHECK', plugin, conf, opts);

// ------------------------------------------------------------------ test runner

const tests = [];
let failed = 0;
let scheduled = false;

/** Print one SKIP line for the whole file and exit 0 (call at top level, before or instead of tests). */
export function skipFile(reason) {
  console.log(`SKIP ${FILE}: ${reason}`);
  process.exit(0);
}

/** skipFile() unless every named plugin is built in DIST. */
export function requirePlugins(...types) {
  const missing = types.filter((t) => !havePlugin(t));
  if (missing.length) skipFile(`dist/bin/${missing.join(', dist/bin/')} not built yet`);
}

/**
 * Declare a test. fn(t) may be async; t = { netns(suffix) → {name, path}, defer(fn), tempDir(), skip(reason), log(...) }.
 * Cleanups run in reverse order after the test, whatever happened. opts.skip: a reason to skip.
 */
export function test(name, fn, opts = {}) {
  tests.push({ name, fn, opts });
  if (!scheduled) {
    scheduled = true;
    setImmediate(runAll);
  }
}

class Skip extends Error {}

async function runOne({ name, fn, opts }) {
  const label = `${FILE}: ${name}`;
  if (opts.skip) {
    console.log(`SKIP ${label}: ${opts.skip}`);
    return;
  }
  const id = uniq();
  const cleanups = [];
  let n = 0;
  const t = {
    id,
    netns(suffix = 'n') {
      const ns = createNetns(`${PREFIX}${id}-${n++}-${suffix}`);
      cleanups.push(() => deleteNetns(ns.name));
      return ns;
    },
    defer(f) {
      cleanups.push(f);
    },
    tempDir() {
      const d = mkdtempSync(`/tmp/${PREFIX}${id}-`);
      cleanups.push(() => rmSync(d, { recursive: true, force: true }));
      return d;
    },
    skip(reason) {
      throw new Skip(reason);
    },
    log: (...a) => console.log('   ', ...a),
  };
  const t0 = Date.now();
  let err;
  try {
    await fn(t);
  } catch (e) {
    err = e;
  }
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      console.log(`    cleanup error: ${e?.message ?? e}`);
    }
  }
  const ms = Date.now() - t0;
  if (err instanceof Skip) console.log(`SKIP ${label}: ${err.message}`);
  else if (err) {
    failed++;
    const msg = String(err?.message ?? err).split('\n').map((l) => l.trimEnd()).filter(Boolean).join(' | ');
    console.log(`FAIL ${label}: ${msg} (${ms} ms)`);
    if (err?.stack) console.log(err.stack.split('\n').slice(1, 4).map((l) => `    ${l.trim()}`).join('\n'));
  } else console.log(`PASS ${label} (${ms} ms)`);
}

async function runAll() {
  for (const tc of tests) await runOne(tc);
  process.exitCode = failed ? 1 : 0;
}
