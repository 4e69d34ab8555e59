// Where the time of ours goes, exec by exec, in the pod chain (chain.mjs: bridge ADD, portmap ADD; portmap DEL,
// bridge DEL), from CNI_TS_TRACE (lib/trace.ts: one JSON line per exec / in-process phase, t = ms since the process
// started, by the runtime's own clock) and the wall time the runtime measures from outside:
//   runtime start → first event   the runtime's start-up, the plugin's modules, stdin and config, until the first
//                                 traced event (for scale: where VERSION, the same executable doing nothing, exits)
//   exec <program>                each program exec'd (ip, iptables-restore, nft, …)
//   in-process …                  host-local run in-process (its own work: nested events out), flock(2), setns+sysctl
//   other in-process              the rest between the first event and the exit event (planning, results, JSON)
//   exec + exit (outside)         wall − the exit event's t: fork/exec of the executable, loading before the
//                                 runtime's clock starts, exit
// Median of BENCH_ROUNDS (15) per phase; ours untraced and Go's chain interleaved as the reference.
import { join } from 'node:path';
import { HostNetns, SIDES, WARMUP, interleave, median, netnsAdd, phaseStats, phasesOf, pod, podList, rounds, saveResults, stats, tempDir, traceProcesses } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('phh'), go: new HostNetns('phh') };
const ctrs = { ours: netnsAdd('phc'), go: netnsAdd('phc') };
const lists = { ours: podList(tempDir('ph')), go: podList(tempDir('ph')) };
const traceDir = tempDir('phtrace');
const EXECS = ['bridge ADD', 'portmap ADD', 'portmap DEL', 'bridge DEL'];

try {
  // for scale: where VERSION's exit event lands (median)
  const versionT = [];
  for (let i = 0; i < n + WARMUP; i++) {
    const trace = join(traceDir, `v${i}`);
    await hosts.ours.time({ plugin: `${SIDES.ours.bin}/bridge`, command: 'VERSION', env: { CNI_TS_TRACE: trace } });
    const t = traceProcesses(trace)[0][0].t;
    if (i >= WARMUP) versionT.push(t);
  }
  const versionStart = median(versionT);

  const runs = Object.fromEntries(EXECS.map((x) => [x, []]));
  const t = await interleave(n, ['ours traced', 'ours', 'go'], async (which, i) => {
    const side = which === 'go' ? 'go' : 'ours';
    const base = { list: lists[side], bin: SIDES[side].bin, path: SIDES[side].path };
    const p = pod(`ph${i}`, ctrs[side], 8080);
    const out = {};
    let result;
    for (const command of ['ADD', 'DEL']) {
      const trace = join(traceDir, `${command}${i}`);
      const env = which === 'ours traced' ? { CNI_TS_TRACE: trace } : undefined;
      const r = await hosts[side].call('chain', { ...base, command, pod: { ...p, result }, env });
      result = r.result ?? result;
      for (const e of r.execs) out[`${e.type} ${command}`] = e.ms;
      if (!env) continue;
      const procs = traceProcesses(trace);
      if (procs.length !== r.execs.length) throw new Error(`${command}: ${procs.length} traced processes for ${r.execs.length} execs`);
      if (i >= WARMUP) r.execs.forEach((e, k) => runs[`${e.type} ${command}`].push(phasesOf(procs[k], e.ms)));
    }
    return out;
  });
  const results = {};
  for (const x of EXECS) {
    const phases = phaseStats(runs[x]);
    results[x] = { phases, totals: { ours: stats(t.ours[x]), oursTraced: stats(t['ours traced'][x]), go: stats(t.go[x]) } };
    console.log(`${x} of ours in the pod chain, per phase, ms: median of ${n} (min–max)`);
    for (const ph of phases) console.log(`  ${ph.phase.padEnd(44)} ${ph.median.toFixed(2).padStart(7)} (${ph.min.toFixed(2)}–${ph.max.toFixed(2)})`);
    const tt = results[x].totals;
    console.log(`  ${'sum of the phase medians'.padEnd(44)} ${phases.reduce((s, p) => s + p.median, 0).toFixed(2).padStart(7)}`);
    console.log(`  wall: ours traced ${tt.oursTraced.median.toFixed(1)}, ours untraced ${tt.ours.median.toFixed(1)}, Go ${tt.go.median.toFixed(1)} ms (medians)\n`);
  }
  console.log(`(VERSION's exit event at ${versionStart.toFixed(2)} ms of the runtime's clock)`);
  saveResults({ rounds: n, versionStart, execs: results });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
