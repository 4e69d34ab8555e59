// host-local and loopback: ADD/DEL wall time per invocation, ours vs the Go plugins (median of N, interleaved).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, GO, median, netnsAdd, netnsDel, printTable, timePlugin } from './_lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 30);
const host = netnsAdd('hl');
const ctr = netnsAdd('hlc');
const dirs = [mkdtempSync(join(tmpdir(), 'cnits-bench-')), mkdtempSync(join(tmpdir(), 'cnits-bench-'))];
try {
  const conf = (dataDir) => ({ cniVersion: '1.0.0', name: 'bench', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: 'fd00:1::/64' }]] } });
  const impls = [
    { key: 'ours', bin: join(DIST, 'host-local'), lo: join(DIST, 'loopback'), conf: conf(dirs[0]) },
    { key: 'go', bin: join(GO, 'host-local'), lo: join(GO, 'loopback'), conf: conf(dirs[1]) },
  ];
  const t = { ours: { version: [], add: [], del: [], loAdd: [], loDel: [] }, go: { version: [], add: [], del: [], loAdd: [], loDel: [] } };
  // Pre-fill 200 leases so DEL walks a realistic store.
  for (const im of impls) for (let i = 0; i < 200; i++) timePlugin({ plugin: im.bin, command: 'ADD', conf: im.conf, containerId: `fill${i}`, hostNetns: host });
  for (let i = 0; i < N; i++) {
    for (const im of impls) {
      t[im.key].version.push(timePlugin({ plugin: im.bin, command: 'VERSION', conf: {}, hostNetns: host }));
      t[im.key].add.push(timePlugin({ plugin: im.bin, command: 'ADD', conf: im.conf, containerId: `b${i}`, hostNetns: host }));
      t[im.key].del.push(timePlugin({ plugin: im.bin, command: 'DEL', conf: im.conf, containerId: `b${i}`, hostNetns: host }));
      const lo = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
      t[im.key].loAdd.push(timePlugin({ plugin: im.lo, command: 'ADD', conf: lo, netns: `/run/netns/${ctr}`, ifname: 'lo', hostNetns: host }));
      t[im.key].loDel.push(timePlugin({ plugin: im.lo, command: 'DEL', conf: lo, netns: `/run/netns/${ctr}`, ifname: 'lo', hostNetns: host }));
    }
  }
  printTable(`host-local / loopback, median of ${N} (each includes ~1 ms of 'ip netns exec'; 200 leases in the store)`, [
    ['VERSION (process start floor)', median(t.ours.version), median(t.go.version)],
    ['host-local ADD (dual-stack)', median(t.ours.add), median(t.go.add)],
    ['host-local DEL', median(t.ours.del), median(t.go.del)],
    ['loopback ADD', median(t.ours.loAdd), median(t.go.loAdd)],
    ['loopback DEL', median(t.ours.loDel), median(t.go.loDel)],
  ]);
} finally {
  netnsDel(ctr);
  netnsDel(host);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
