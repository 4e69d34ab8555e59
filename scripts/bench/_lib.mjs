// Shared benchmark helpers (files starting with "_" are not benchmarks themselves).
// Plugins run exactly as a runtime runs them: executable + CNI_* env + config on stdin, inside a throwaway netns.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const DIST = join(ROOT, 'dist', 'bin');
export const GO = '/usr/lib/cni';

export function netnsAdd(label) {
  const name = `cnits-bench-${label}-${randomBytes(3).toString('hex')}`;
  spawnSync('ip', ['netns', 'add', name]);
  spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export const netnsDel = (name) => spawnSync('ip', ['netns', 'del', name]);

/** Run a plugin once in `hostNetns`; returns wall milliseconds and the exit status. */
export function timePlugin({ plugin, command, conf, containerId = 'bench', netns = '/run/netns/none', ifname = 'eth0', path = DIST, hostNetns, args }) {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: ifname, CNI_PATH: path };
  if (args) env.CNI_ARGS = args;
  const argv = hostNetns ? ['netns', 'exec', hostNetns, plugin] : [];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(hostNetns ? 'ip' : plugin, argv, { env, input: JSON.stringify(conf), encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${plugin} ${command} failed: ${r.stdout}${r.stderr}`);
  return ms;
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Print a table: rows of [label, ours ms, go ms]. */
export function printTable(title, rows) {
  console.log(title);
  console.log('  ' + ['case'.padEnd(34), 'cni-ts'.padStart(9), 'Go'.padStart(9), 'ratio'.padStart(7)].join(' '));
  for (const [label, ours, go] of rows) {
    const ratio = go ? (ours / go).toFixed(1) + 'x' : '-';
    console.log('  ' + [label.padEnd(34), `${ours.toFixed(1)}ms`.padStart(9), go ? `${go.toFixed(1)}ms`.padStart(9) : '-'.padStart(9), ratio.padStart(7)].join(' '));
  }
}

/**
 * ADD then DEL, ours and Go interleaved (the order alternating each round), `rounds` measured after 2 warm-up rounds.
 * `sides` = { ours: {plugin, path}, go: {plugin, path} }; `confOf(side)` the config each side gets.
 * `after(side)`: untimed cleanup after each DEL (e.g. state the plugin leaves to another plugin's DEL).
 * Returns median ms: { ours: { ADD, DEL }, go: { ADD, DEL } }.
 */
export function addDelMedians({ rounds, sides, confOf, netns, hostNetns, id, after }) {
  const t = { ours: { ADD: [], DEL: [] }, go: { ADD: [], DEL: [] } };
  for (let i = 0; i < rounds + 2; i++) {
    for (const side of i % 2 ? ['go', 'ours'] : ['ours', 'go']) {
      const inv = { ...sides[side], conf: confOf(side), containerId: `${id}r${i}${side}`, netns, hostNetns };
      const add = timePlugin({ ...inv, command: 'ADD' });
      const del = timePlugin({ ...inv, command: 'DEL' });
      after?.(side);
      if (i >= 2) {
        t[side].ADD.push(add);
        t[side].DEL.push(del);
      }
    }
  }
  const m = (side) => ({ ADD: median(t[side].ADD), DEL: median(t[side].DEL) });
  return { ours: m('ours'), go: m('go') };
}

/**
 * Programs one invocation executes (strace -f execve; the IPAM plugin and what it runs included), not counting
 * `ip netns exec`, the plugin itself and the `node` a script's shebang runs.
 */
export function execCount({ plugin, path, conf, command, containerId, netns, hostNetns }) {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: path };
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', 'ip', 'netns', 'exec', hostNetns, plugin], { env, input: JSON.stringify(conf), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${plugin} ${command} under strace failed: ${r.stdout}${r.stderr}`);
  const argv0 = r.stderr
    .split('\n')
    .filter((l) => /execve\(/.test(l) && !/= -1 /.test(l))
    .map((l) => /execve\("[^"]*", \["([^"]*)"/.exec(l)?.[1] ?? '?');
  return argv0.slice(2).filter((a) => a !== 'node').length;
}

/** ADD then DEL exec counts of both sides: { ours: { ADD, DEL }, go: { ADD, DEL } }; `confOf(side)` as addDelMedians. */
export function execCounts({ sides, confOf, containerId, netns, hostNetns }) {
  const out = {};
  for (const side of ['ours', 'go']) {
    const inv = { ...sides[side], conf: confOf(side), containerId, netns, hostNetns };
    out[side] = { ADD: execCount({ ...inv, command: 'ADD' }), DEL: execCount({ ...inv, command: 'DEL' }) };
  }
  return out;
}

/** Print the exec counts: rows of [label, { ours: { ADD, DEL }, go: { ADD, DEL } }]. */
export function printExecCounts(rows) {
  console.log('programs executed per invocation (strace execve; the IPAM plugin and what it runs included)');
  console.log('  ' + ['case'.padEnd(34), 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL'].join('  '));
  for (const [label, e] of rows) {
    console.log('  ' + [label.padEnd(34), String(e.ours.ADD).padStart(8), String(e.go.ADD).padStart(6), String(e.ours.DEL).padStart(8), String(e.go.DEL).padStart(6)].join('  '));
  }
}
