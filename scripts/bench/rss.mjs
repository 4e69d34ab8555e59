// Peak RSS of one bridge ADD (the pod network's bridge config, host-local IPAM) under GNU time `-f %M` (Debian package
// `time`), ours vs Go, interleaved; each ADD is followed by an untimed DEL. %M is the kernel's ru_maxrss of the waited
// process, i.e. the LARGEST single process of the tree (the plugin and the children it waited for), not their sum:
// ours runs host-local in-process (so its IPAM is in the number) and execs ip/iptables; Go's bridge execs host-local
// and iptables, whose peaks count only when larger than bridge's. Go's host-local alone is measured too (what runs
// beside Go's bridge during ADD). Ours' ADD also runs traced (CNI_TS_TRACE): its exit event says how much of its
// resident memory is private (RssAnon); the rest is the executable's code mapped from the page cache, shared by every
// process running it. `BENCH_ROUNDS` (default 7 here).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostNetns, SIDES, interleave, netnsAdd, podBridgeConf, printTable, rounds, saveResults, stats, tempDir } from './_lib.mjs';

if (!existsSync('/usr/bin/time')) {
  console.log('rss: /usr/bin/time missing (apt-get install time); skipped');
  process.exit(0);
}
const n = rounds(7);

/** A traced ADD (then DEL) of ours: the private memory (MB) its exit event reports. */
async function privateMb(inv, i) {
  const file = join(dirs.ours, `trace-${i}.jsonl`);
  const traced = { ...inv, containerId: `${inv.containerId}t`, env: { CNI_TS_TRACE: file } };
  await hosts.ours.time({ ...traced, command: 'ADD' });
  await hosts.ours.time({ ...traced, command: 'DEL' });
  const exit = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => /^ADD exit/.test(e.what));
  return (exit?.anonKb ?? NaN) / 1024;
}
const hosts = { ours: new HostNetns('rsh'), go: new HostNetns('rsh') };
const ctrs = { ours: netnsAdd('rsc'), go: netnsAdd('rsc') };
const dirs = { ours: tempDir('rs'), go: tempDir('rs') };
try {
  const t = await interleave(n, ['ours', 'go'], async (side, i) => {
    const inv = { plugin: `${SIDES[side].bin}/bridge`, path: SIDES[side].path, conf: podBridgeConf(dirs[side]), containerId: `rss${i}`, netns: `/run/netns/${ctrs[side]}` };
    const bridge = (await hosts[side].call('rss', { ...inv, command: 'ADD' })) / 1024;
    await hosts[side].time({ ...inv, command: 'DEL' });
    const priv = side === 'ours' ? { 'bridge ADD private': await privateMb(inv, i) } : {};
    const hl = { plugin: `${SIDES[side].bin}/host-local`, path: SIDES[side].path, conf: podBridgeConf(dirs[side]), containerId: `rsshl${i}` };
    const ipam = (await hosts[side].call('rss', { ...hl, command: 'ADD' })) / 1024;
    await hosts[side].time({ ...hl, command: 'DEL' });
    const version = (await hosts[side].call('rss', { plugin: inv.plugin, command: 'VERSION' })) / 1024;
    return { 'bridge ADD': bridge, 'host-local ADD alone': ipam, VERSION: version, ...priv };
  });
  const row = (label, k) => ({ label, key: k, ours: stats(t.ours[k]), go: stats(t.go[k]) });
  const rows = printTable(`peak RSS (GNU time %M), MB, median of ${n} (min–max)`, [
    row('bridge ADD (largest process of its tree)', 'bridge ADD'),
    { label: '↳ of it private (RssAnon at exit; ours)', key: 'bridge ADD private', ours: stats(t.ours['bridge ADD private']) },
    row('host-local ADD alone', 'host-local ADD alone'),
    row('VERSION', 'VERSION'),
  ], 'MB');
  console.log('  ours: host-local runs in-process, so it is inside the bridge number; Go: host-local is a child process (counts only if larger)');
  saveResults({ rounds: n, rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
