// A benchmark, not a test: vlan (ours vs Debian's Go 1.1.1) and dummy (ours; 1.1.1 has none) ADD/DEL wall times inside
// the VM, for `npm run bench` (scripts/bench/vlan-dummy-tap.mjs runs it with VMTEST_BENCH=1 and reads the BENCHJSON
// line). Under software emulation every number is many times the host's: compare the two sides, not with the host.
// Plugins run in the VM's root netns (throwaway), as a runtime execs them, without `ip netns exec` in the timing.
import { test, skipFile, bin, goBin, runPlugin, ip, sh, GO_PLUGINS, DIST } from './lib.mjs';

if (process.env.VMTEST_BENCH !== '1') skipFile('a benchmark: npm run bench -- vlan-dummy-tap runs it (VMTEST_BENCH=1)');
const N = Number(process.env.VMTEST_BENCH_ROUNDS ?? 7);

function timed(inv) {
  const r = runPlugin({ ifname: 'eth0', ...inv });
  if (r.status !== 0) throw new Error(`${inv.plugin} ${inv.command} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.ms;
}

test(`vlan ours vs Go, dummy ours, VERSION: ${N} rounds after one warm-up, sides alternating`, (t) => {
  ip(['link', 'add', 'bm0', 'type', 'veth', 'peer', 'name', 'bm0p']);
  ip(['link', 'set', 'bm0', 'up']);
  ip(['link', 'set', 'bm0p', 'up']);
  t.defer(() => sh('ip', ['link', 'del', 'bm0']));
  const c = t.netns('c');
  const dataDir = t.tempDir();
  const ipam = (net) => ({ type: 'host-local', dataDir, ranges: [[{ subnet: '10.90.0.0/24' }]] });
  const sides = { ours: { plugin: bin, path: DIST }, go: { plugin: goBin, path: GO_PLUGINS } };
  const out = { rounds: N, vlan: { ours: { ADD: [], DEL: [] }, go: { ADD: [], DEL: [] } }, dummy: { ours: { ADD: [], DEL: [] } }, version: { ours: [], go: [] } };
  for (let i = 0; i <= N; i++) {
    for (const side of i % 2 ? ['go', 'ours'] : ['ours', 'go']) {
      const s = sides[side];
      const inv = { plugin: s.plugin('vlan'), path: s.path, conf: { cniVersion: '1.0.0', name: `bv${side}`, type: 'vlan', master: 'bm0', vlanId: 10, ipam: ipam() }, netns: c.path, containerId: `b${i}${side}` };
      const add = timed({ ...inv, command: 'ADD' });
      const del = timed({ ...inv, command: 'DEL' });
      const ver = timed({ plugin: s.plugin('vlan'), command: 'VERSION', conf: { cniVersion: '1.0.0' } });
      if (i === 0) continue; // warm-up
      out.vlan[side].ADD.push(add);
      out.vlan[side].DEL.push(del);
      out.version[side].push(ver);
    }
    const d = { plugin: bin('dummy'), path: DIST, conf: { cniVersion: '1.0.0', name: 'bd', type: 'dummy', ipam: ipam() }, netns: c.path, containerId: `d${i}` };
    const add = timed({ ...d, command: 'ADD' });
    const del = timed({ ...d, command: 'DEL' });
    if (i > 0) {
      out.dummy.ours.ADD.push(add);
      out.dummy.ours.DEL.push(del);
    }
  }
  console.log(`BENCHJSON ${JSON.stringify(out)}`);
});
