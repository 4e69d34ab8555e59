// bridge ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/bridge 1.1.1), medians over N interleaved rounds,
// in throwaway netns; plus the programs each invocation executes (strace -f execve, the IPAM plugin included).
// Each side uses its own host-local. `BENCH_ROUNDS` (default 15). NODE_EXTRA_CA_CERTS must be unset (scripts/bench.mjs does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIST, GO, addDelMedians, netnsAdd, netnsDel, printTable } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
delete process.env.NODE_EXTRA_CA_CERTS;

const host = netnsAdd('brh');
const ctr = netnsAdd('brc');
const dirs = { ours: mkdtempSync(join(tmpdir(), 'cnits-bench-br-')), go: mkdtempSync(join(tmpdir(), 'cnits-bench-br-')) };
const sides = {
  ours: { plugin: join(DIST, 'bridge'), path: `${DIST}:${GO}` },
  go: { plugin: join(GO, 'bridge'), path: GO },
};

const confs = (side) => {
  const ipam = { type: 'host-local', dataDir: dirs[side], subnet: '10.88.0.0/24' };
  const l3 = { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: `bb${side}0`, isGateway: true, ipMasq: true, ipam };
  return [
    ['isGateway+ipMasq (iptables)', l3],
    ['isGateway+ipMasq nftables*', { ...l3, ipMasqBackend: 'nftables' }],
    ['dual-stack, default gw, ipMasq', { ...l3, isDefaultGateway: true, ipam: { ...ipam, subnet: undefined, ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]] } }],
    ['L2 (no ipam)', { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: `bb${side}0` }],
  ];
};

/** Programs executed by one invocation (not counting `ip netns exec`, the plugin itself, and the `node` a script's shebang runs). */
function execCount(side, conf, command, containerId) {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${ctr}`, CNI_IFNAME: 'eth0', CNI_PATH: sides[side].path };
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', 'ip', 'netns', 'exec', host, sides[side].plugin], { env, input: JSON.stringify(conf), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${side} ${command} under strace failed: ${r.stdout}${r.stderr}`);
  const argv0 = r.stderr
    .split('\n')
    .filter((l) => /execve\(/.test(l) && !/= -1 /.test(l))
    .map((l) => /execve\("[^"]*", \["([^"]*)"/.exec(l)?.[1] ?? '?');
  return argv0.slice(2).filter((a) => a !== 'node').length;
}

try {
  const rows = [];
  const execs = [];
  for (let c = 0; c < confs('ours').length; c++) {
    const [label] = confs('ours')[c];
    const t = addDelMedians({ rounds: ROUNDS, sides, confOf: (side) => confs(side)[c][1], netns: `/run/netns/${ctr}`, hostNetns: host, id: `b${c}` });
    for (const cmd of ['ADD', 'DEL']) rows.push([`${label} ${cmd}`, t.ours[cmd], t.go[cmd]]);
    const e = {};
    for (const side of ['ours', 'go']) {
      const conf = confs(side)[c][1];
      e[side] = { ADD: execCount(side, conf, 'ADD', `x${c}`), DEL: execCount(side, conf, 'DEL', `x${c}`) };
    }
    execs.push([label, e]);
  }
  printTable(`bridge, median of ${ROUNDS} (2 warm-up rounds; includes ~1 ms of 'ip netns exec'; *Go 1.1.1 has no nftables backend: it uses iptables)`, rows);
  console.log('programs executed per invocation (strace execve; the IPAM plugin and what it runs included)');
  console.log('  ' + ['case'.padEnd(34), 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL'].join('  '));
  for (const [label, e] of execs) {
    console.log('  ' + [label.padEnd(34), String(e.ours.ADD).padStart(8), String(e.go.ADD).padStart(6), String(e.ours.DEL).padStart(8), String(e.go.DEL).padStart(6)].join('  '));
  }
} finally {
  netnsDel(ctr);
  netnsDel(host);
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}
