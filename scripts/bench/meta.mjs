// The chained "meta" plugins, ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni 1.1.1), medians over N
// interleaved rounds, one throwaway host netns per side. Each plugin gets what it is chained after: prevResult naming
// a veth pair (host end vh0 on bridge cnibr0 in the side's host netns, eth0 in its container netns), as bridge leaves it.
//   tuning:    MAC + MTU + promisc + one IFNAME sysctl (DEL restores them from the backup file)
//   firewall:  the podman conflist's firewall (iptables, CNI-FORWARD); also with ingressPolicy same-bridge
//   bandwidth: ingress + egress limits (Go 1.1.1 installs tbf, cni-ts the current reference's htb); the veth's
//              qdiscs are removed between rounds (untimed: normally the veth goes with the interface plugin's DEL)
// `BENCH_ROUNDS` (default 15).
import { spawnSync } from 'node:child_process';
import { HostNetns, SIDES, addDelRounds, netnsAdd, printTable, rounds, rowsOf, saveResults, sh, tempDir } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('meh'), go: new HostNetns('meh') };
const ctrs = { ours: netnsAdd('mec'), go: netnsAdd('mec') };
const dirs = { ours: tempDir('me'), go: tempDir('me') };
try {
  for (const side of ['ours', 'go']) {
    hosts[side].ip('link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctrs[side]);
    hosts[side].ip('link', 'add', 'cnibr0', 'type', 'bridge');
    hosts[side].ip('link', 'set', 'vh0', 'master', 'cnibr0', 'up');
    hosts[side].ip('link', 'set', 'cnibr0', 'up');
    sh('ip', ['-n', ctrs[side], 'link', 'set', 'eth0', 'up']);
  }
  const base = (side) => ({
    cniVersion: '1.0.0',
    name: 'metabench',
    prevResult: {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cnibr0' }, { name: 'vh0' }, { name: 'eth0', sandbox: `/run/netns/${ctrs[side]}` }],
      ips: [{ interface: 2, address: '10.88.0.2/16', gateway: '10.88.0.1' }],
    },
  });
  const cases = [
    ['tuning: mac, mtu, promisc, sysctl', 'tuning', (side) => ({ ...base(side), type: 'tuning', dataDir: dirs[side], mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, sysctl: { 'net.ipv4.conf.eth0.arp_filter': '1' } })],
    ['firewall (podman conflist)', 'firewall', (side) => ({ ...base(side), type: 'firewall', backend: '' })],
    ['firewall, same-bridge', 'firewall', (side) => ({ ...base(side), type: 'firewall', ingressPolicy: 'same-bridge' })],
    ['bandwidth: ingress + egress', 'bandwidth', (side) => ({ ...base(side), type: 'bandwidth', ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 })],
  ];
  const unshape = (side) => {
    for (const q of ['root', 'ingress']) spawnSync('ip', ['netns', 'exec', hosts[side].name, 'tc', 'qdisc', 'del', 'dev', 'vh0', q]);
  };
  const rows = [];
  for (const [label, type, confOf] of cases) {
    const invOf = (side) => ({ plugin: `${SIDES[side].bin}/${type}`, path: SIDES[side].path, conf: confOf(side), netns: `/run/netns/${ctrs[side]}` });
    const t = await addDelRounds({ n, hosts, invOf, id: type[0], after: type === 'bandwidth' ? unshape : undefined });
    rows.push(...rowsOf(label, t, ['ADD', 'DEL']));
  }
  printTable(`tuning, firewall, bandwidth, median of ${n} (min–max)`, rows);
  saveResults({ rounds: n, rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
