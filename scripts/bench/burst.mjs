// A burst of pods: BENCH_BURST_PODS (100) pods at concurrency BENCH_BURST_CONCURRENCY (10), each in its own
// pre-created container netns, each the full pod ADD chain (bridge + host-local + portmap, one mapping each, as
// chain.mjs); then every pod's DEL chain at the same concurrency. Wall time of all ADDs (and pods/s) and of all DELs,
// ours vs Go, BENCH_BURST_ROUNDS (3) rounds interleaved after one warm-up pod per side. After the ADDs, duplicate
// addresses are counted from the results and host-local's lease files (every pod's address leased to that pod only).
import { HostNetns, SIDES, interleave, median, netnsAddMany, pod, podList, printTable, saveResults, stats, tempDir } from './_lib.mjs';

const PODS = Number(process.env.BENCH_BURST_PODS ?? 100);
const CONC = Number(process.env.BENCH_BURST_CONCURRENCY ?? 10);
const n = Number(process.env.BENCH_BURST_ROUNDS ?? 3);

const hosts = { ours: new HostNetns('bsh'), go: new HostNetns('bsh') };
const ctrs = { ours: netnsAddMany('bso', PODS), go: netnsAddMany('bsg', PODS) };
const lists = { ours: podList(tempDir('bs')), go: podList(tempDir('bs')) };
const list0 = lists.ours;

/** Duplicate-address findings of one burst: results' own duplicates and disagreements with the lease files. */
function duplicates(pods, r) {
  const ips = r.results.map((res) => res.ips?.[0]?.address.split('/')[0]);
  const resultDups = ips.length - new Set(ips).size + ips.filter((x) => !x).length;
  const leaseMismatch = pods.filter((p, k) => r.leases[ips[k]] !== p.containerId).length;
  return { resultDups, leaseMismatch, leases: Object.keys(r.leases).length, leasesAfterDel: r.leasesAfterDel };
}

try {
  const base = (side) => ({ list: lists[side], bin: SIDES[side].bin, path: SIDES[side].path });
  for (const side of ['ours', 'go']) {
    const p = pod('warm', ctrs[side][0], 19999);
    const add = await hosts[side].call('chain', { ...base(side), command: 'ADD', pod: p });
    await hosts[side].call('chain', { ...base(side), command: 'DEL', pod: { ...p, result: add.result } });
  }
  const checks = { ours: [], go: [] };
  const t = await interleave(
    n,
    ['ours', 'go'],
    async (side, i) => {
      const pods = ctrs[side].map((ns, k) => pod(`burst${i}-${k}`, ns, 20000 + k));
      const r = await hosts[side].call('burst', { ...base(side), pods, concurrency: CONC });
      checks[side].push(duplicates(pods, r));
      const perExec = (runs, command) => Object.fromEntries(list0.plugins.map(({ type }) => [`${type} ${command}`, median(runs.flat().filter((e) => e.type === type).map((e) => e.ms))]));
      return { ADD: r.addMs, DEL: r.delMs, 'pods/s': (PODS * 1000) / r.addMs, ...perExec(r.addExecs, 'ADD'), ...perExec(r.delExecs, 'DEL') };
    },
    0,
  );
  const row = (label, k) => ({ label, key: k, ours: stats(t.ours[k]), go: stats(t.go[k]) });
  const rows = printTable(`burst of ${PODS} pods at concurrency ${CONC} (full ADD chain per pod), wall ms, median of ${n} (min–max)`, [
    row(`${PODS} pod ADD chains`, 'ADD'),
    row(`${PODS} pod DEL chains`, 'DEL'),
  ]);
  const execRows = list0.plugins.flatMap(({ type }) => ['ADD', 'DEL'].map((c) => row(`  one ${type} ${c} exec (median in the burst)`, `${type} ${c}`)));
  printTable('  each exec under the burst\'s concurrency: median over all pods of a round, then median of the rounds', execRows);
  const pps = { ours: stats(t.ours['pods/s']), go: stats(t.go['pods/s']) };
  console.log(`  pods/s (ADD): ours ${pps.ours.median.toFixed(1)}, Go ${pps.go.median.toFixed(1)}`);
  for (const side of ['ours', 'go']) {
    const c = checks[side];
    const sum = (k) => c.reduce((a, x) => a + x[k], 0);
    console.log(`  ${side}: duplicate IPs in results ${sum('resultDups')}, pods whose IP is not leased to them ${sum('leaseMismatch')}, leases after ADD ${c.map((x) => x.leases).join('/')}, after DEL ${c.map((x) => x.leasesAfterDel).join('/')}`);
  }
  saveResults({ pods: PODS, concurrency: CONC, rounds: n, rows, execRows, pps, checks });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
