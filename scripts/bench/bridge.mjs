// bridge ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni/bridge 1.1.1), medians over N interleaved rounds,
// one throwaway host netns per side; plus the programs each invocation executes (strace -f execve, the IPAM plugin
// included). Each side uses its own host-local. `BENCH_ROUNDS` (default 15).
import { spawnSync } from 'node:child_process';
import { HostNetns, SIDES, addDelRounds, netnsAdd, printTable, rounds, rowsOf, saveResults, tempDir } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('brh'), go: new HostNetns('brh') };
const ctrs = { ours: netnsAdd('brc'), go: netnsAdd('brc') };
const dirs = { ours: tempDir('br'), go: tempDir('br') };

const confs = (side) => {
  const ipam = { type: 'host-local', dataDir: dirs[side], subnet: '10.88.0.0/24' };
  const l3 = { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: 'bb0', isGateway: true, ipMasq: true, ipam };
  return [
    ['isGateway+ipMasq (iptables)', l3],
    ['isGateway+ipMasq nftables*', { ...l3, ipMasqBackend: 'nftables' }],
    ['dual-stack, default gw, ipMasq', { ...l3, isDefaultGateway: true, ipam: { ...ipam, subnet: undefined, ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]] } }],
    ['L2 (no ipam)', { cniVersion: '1.0.0', name: 'brbench', type: 'bridge', bridge: 'bb0' }],
  ];
};
const invOf = (c) => (side) => ({ plugin: `${SIDES[side].bin}/bridge`, path: SIDES[side].path, conf: confs(side)[c][1], netns: `/run/netns/${ctrs[side]}` });

/** Programs executed by one invocation (not counting `ip netns exec` and the plugin itself). */
function execCount(side, conf, command, containerId) {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${ctrs[side]}`, CNI_IFNAME: 'eth0', CNI_PATH: SIDES[side].path };
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', 'ip', 'netns', 'exec', hosts[side].name, `${SIDES[side].bin}/bridge`], { env, input: JSON.stringify(conf), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${side} ${command} under strace failed: ${r.stdout}${r.stderr}`);
  const argv0 = r.stderr
    .split('\n')
    .filter((l) => /execve\(/.test(l) && !/= -1 /.test(l))
    .map((l) => /execve\("[^"]*", \["([^"]*)"/.exec(l)?.[1] ?? '?');
  return argv0.slice(2).length;
}

try {
  const rows = [];
  const execs = [];
  for (let c = 0; c < confs('ours').length; c++) {
    const [label] = confs('ours')[c];
    const t = await addDelRounds({ n, hosts, invOf: invOf(c), id: `b${c}` });
    rows.push(...rowsOf(label, t, ['ADD', 'DEL']));
    const e = { label };
    for (const side of ['ours', 'go']) {
      const conf = confs(side)[c][1];
      e[side] = { ADD: execCount(side, conf, 'ADD', `x${c}`), DEL: execCount(side, conf, 'DEL', `x${c}`) };
    }
    execs.push(e);
  }
  printTable(`bridge, median of ${n} (min–max) (*Go 1.1.1 has no nftables backend: it uses iptables)`, rows);
  console.log('programs executed per invocation (strace execve; the IPAM plugin and what it runs included)');
  console.log('  ' + ['case'.padEnd(34), 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL'].join('  '));
  for (const e of execs) {
    console.log('  ' + [e.label.padEnd(34), String(e.ours.ADD).padStart(8), String(e.go.ADD).padStart(6), String(e.ours.DEL).padStart(8), String(e.go.DEL).padStart(6)].join('  '));
  }
  saveResults({ rounds: n, rows, execs });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
