// The pod ADD chain and DEL chain as a runtime runs them (libcni order, prevResult, runtimeConfig): bridge (+ its
// host-local, isGateway, ipMasq, hairpinMode) then portmap with one mapping; DEL portmap then bridge, each with the
// cached final result as prevResult. A chain's time is the wall time of its execs in sequence, as the runtime sees it.
// One host netns (+ container netns) per side; rounds interleaved. `BENCH_ROUNDS` (default 15).
import { HostNetns, hostPortRuled, SIDES, interleave, netnsAdd, pod, podList, printTable, rounds, saveResults, stats, tempDir } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('chh'), go: new HostNetns('chh') };
const ctrs = { ours: netnsAdd('chc'), go: netnsAdd('chc') };
const lists = { ours: podList(tempDir('ch')), go: podList(tempDir('ch')) };
try {
  const t = await interleave(n, ['ours', 'go'], async (side, i) => {
    const p = pod(`chain${i}`, ctrs[side], 8080);
    const base = { list: lists[side], bin: SIDES[side].bin, path: SIDES[side].path };
    const add = await hosts[side].call('chain', { ...base, command: 'ADD', pod: p });
    if (!add.result?.ips?.length) throw new Error(`${side}: ADD chain result has no IPs: ${JSON.stringify(add.result)}`);
    if (i === 0 && !hostPortRuled(hosts[side], 8080)) throw new Error(`${side}: no rule for host port 8080 after the ADD chain`);
    const del = await hosts[side].call('chain', { ...base, command: 'DEL', pod: { ...p, result: add.result } });
    const ms = (r, type) => r.execs.find((e) => e.type === type).ms;
    return { ADD: add.ms, DEL: del.ms, 'bridge ADD': ms(add, 'bridge'), 'portmap ADD': ms(add, 'portmap'), 'portmap DEL': ms(del, 'portmap'), 'bridge DEL': ms(del, 'bridge') };
  });
  const row = (label, k) => ({ label, key: k, ours: stats(t.ours[k]), go: stats(t.go[k]) });
  const rows = printTable(`pod chain bridge+host-local+portmap (1 mapping), cniVersion 1.0.0, median of ${n} (min–max)`, [
    row('pod ADD chain', 'ADD'),
    row('  bridge ADD (1st exec)', 'bridge ADD'),
    row('  portmap ADD (2nd exec)', 'portmap ADD'),
    row('pod DEL chain', 'DEL'),
    row('  portmap DEL (1st exec)', 'portmap DEL'),
    row('  bridge DEL (2nd exec)', 'bridge DEL'),
  ]);
  saveResults({ rounds: n, rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
