// cni-ts-agent at cluster scale (issue 16): simulated peers written into etcd in the agent's own key layout, the built
// agent (dist/bin/cni-ts-agent, vxlan backend: FDB entries need no reachable next hop) installing them. Measures the
// time from the agent's start until N peers are installed (routes + FDB + neighbours, checked in the kernel) for
// N = 100, 300, 1000, 3000; the time from an etcd write to one added / removed peer being applied while 1000 exist;
// the agent's peak RSS; and the CPU (the agent and the ip/bridge/nft it runs) of a periodic resync with nothing to
// change. Everything runs in two throwaway netns: "etcd" (its own etcd on 192.168.250.1, its own data dir) and "node"
// (the agent and the measuring driver, _agent-scale-driver.mjs), joined by a veth pair; all removed at the end.
// Env: BENCH_AGENT_SIZES (default 100,300,1000,3000), BENCH_AGENT_ROUNDS (3), BENCH_AGENT_CHANGES (15),
// BENCH_AGENT_WINDOW (seconds of no-op resyncs measured, 20), BENCH_AGENT_WARMUP (seconds of resyncs before, 10).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, median, netnsAdd, saveResults, sh, stats, tempDir } from './_lib.mjs';

if (spawnSync('etcd', ['--version']).status !== 0) {
  console.log('agent-scale: etcd missing (Debian etcd-server); skipped');
  process.exit(0);
}
const agent = process.env.BENCH_AGENT_BIN ?? join(DIST, 'cni-ts-agent'); // BENCH_AGENT_BIN: another build or a wrapper (profiling)
if (!existsSync(agent)) throw new Error(`${agent} missing: npm run build`);

const sizes = (process.env.BENCH_AGENT_SIZES ?? '100,300,1000,3000').split(',').map(Number);
const rounds = Number(process.env.BENCH_AGENT_ROUNDS ?? 3);
const changeRounds = Number(process.env.BENCH_AGENT_CHANGES ?? 15);
const resyncWindowS = Number(process.env.BENCH_AGENT_WINDOW ?? 20);
const resyncWarmupS = Number(process.env.BENCH_AGENT_WARMUP ?? 10);
const changeBase = 1000;
const ETCD_IP = '192.168.250.1';
const NODE_IP = '192.168.250.2';

const etcdNs = netnsAdd('asetcd');
const nodeNs = netnsAdd('asnode');
sh('ip', ['-n', etcdNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nodeNs]);
sh('ip', ['-n', etcdNs, '-batch', '-'], `addr add ${ETCD_IP}/24 dev eth0\nlink set eth0 up\n`);
sh('ip', ['-n', nodeNs, '-batch', '-'], `addr add ${NODE_IP}/24 dev eth0\nlink set eth0 up\nroute add default via ${ETCD_IP}\n`);

const dir = tempDir('agent-scale');
const etcdDir = join(dir, 'etcd');
mkdirSync(etcdDir);
const url = `http://${ETCD_IP}:2379`;
// etcd and the driver are killed with everything else in these netns at exit (_lib.mjs), also on a failure.
const etcd = spawn('ip', ['netns', 'exec', etcdNs, 'etcd', '--name', 'bench', '--data-dir', etcdDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'bench=http://127.0.0.1:2380', '--log-level', 'error'], { stdio: 'ignore' });
for (let i = 0; ; i++) {
  if (spawnSync('ip', ['netns', 'exec', nodeNs, 'curl', '-sf', '--max-time', '1', '-X', 'POST', `${url}/v3/kv/range`, '-d', '{"key":"AA=="}']).status === 0) break;
  if (i > 100 || etcd.exitCode !== null) throw new Error('etcd did not start');
  await new Promise((r) => setTimeout(r, 200));
}

const arg = JSON.stringify({ etcd: url, agent, dir: join(dir, 'node'), publicIP: NODE_IP, sizes, rounds, changeRounds, changeBase, resyncWindowS, resyncWarmupS });
const driver = spawn('ip', ['netns', 'exec', nodeNs, process.execPath, join(import.meta.dirname, '_agent-scale-driver.mjs'), arg], { stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
driver.stdout.on('data', (d) => (stdout += d));
const status = await new Promise((r) => driver.on('close', r));
if (status !== 0) throw new Error(`agent-scale driver failed (exit ${status})`);
const R = JSON.parse(stdout.trim().split('\n').pop());

const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const cellOf = (s) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
const install = sizes.map((n) => ({ peers: n, start: stats(R.install[n]), reconcile: stats(R.reconcile[n]), rssMB: R.rss[n] }));
console.log(`cni-ts-agent, vxlan, simulated peers in etcd; ms, median of ${rounds} (min–max)`);
console.log('  ' + ['peers'.padStart(6), 'start → all installed'.padStart(24), 'first reconcile'.padStart(20), 'peak RSS MB'.padStart(12)].join('  '));
for (const r of install) console.log('  ' + [String(r.peers).padStart(6), cellOf(r.start).padStart(24), cellOf(r.reconcile).padStart(20), f(r.rssMB).padStart(12)].join('  '));
const add = stats(R.change.add);
const remove = stats(R.change.remove);
console.log(`  one peer added with ${changeBase} present: ${cellOf(add)} ms; removed: ${cellOf(remove)} ms (etcd write → applied in the kernel, ${changeRounds} each)`);
console.log(`  no-op periodic resync with ${changeBase} peers: ${R.resync.cpuMsPerResync.toFixed(1)} ms CPU each (${f(R.resync.cpuMs)} ms over ${R.resync.resyncs} resyncs in ${resyncWindowS} s; agent + its ip/bridge/nft children)`);
const peakRss = Math.max(...Object.values(R.rss));
// The goal is for a cluster of changeBase (1000) peers: every run with that many (install, changes, resyncs).
const rssAtBase = Math.max(...Object.entries(R.rss).filter(([k]) => k.startsWith(String(changeBase))).map(([, v]) => v));
const at = install.find((r) => r.peers === changeBase);
const goals = [
  { name: `${changeBase} peers installed (agent start → routes + FDB + neighbours in the kernel)`, goal: '≤ 5 s', value: at ? `${f(at.start.median)} ms` : '–', met: at ? at.start.median <= 5000 : undefined },
  { name: `one peer added / removed with ${changeBase} present (etcd write → applied)`, goal: '≤ 200 ms', value: `${f(add.median)} / ${f(remove.median)} ms`, met: Math.max(add.median, remove.median) <= 200 },
  { name: `agent peak RSS with ${changeBase} peers (installing, changes, resyncs; ${f(peakRss)} MB at most with up to ${Math.max(...sizes)})`, goal: '≤ 100 MB', value: `${f(rssAtBase)} MB`, met: rssAtBase <= 100 },
  { name: `periodic resync with nothing to change, ${changeBase} peers (CPU)`, goal: '≤ 50 ms', value: `${R.resync.cpuMsPerResync.toFixed(1)} ms`, met: R.resync.cpuMsPerResync <= 50 },
];
for (const g of goals) console.log(`  ${g.met ? '✓' : '✗'} ${g.name}: ${g.value} (goal ${g.goal})`);
saveResults({ rounds, sizes, changeBase, changeRounds, install, add, remove, resync: R.resync, rss: R.rss, peakRss, rssAtBase, goals, medianInstall1000: at ? median(R.install[changeBase]) : undefined });
process.exit(0); // etcd is still a child: everything in the netns is killed at exit (_lib.mjs)
