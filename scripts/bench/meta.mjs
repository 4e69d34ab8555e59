// The chained "meta" plugins, ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni 1.1.1), medians over N
// interleaved rounds, in throwaway netns. Each plugin gets what it is chained after: prevResult naming a veth pair
// (host end in the "host" netns, eth0 in the container).
//   tuning:    MAC + MTU + promisc + one IFNAME sysctl (DEL restores them from the backup file)
//   firewall:  the podman conflist's firewall (iptables, CNI-FORWARD); also with ingressPolicy same-bridge
//   bandwidth: ingress + egress limits (Go 1.1.1 installs tbf, cni-ts the current reference's htb); the veth's
//              qdiscs are removed between rounds (untimed: normally the veth goes with the interface plugin's DEL)
// `BENCH_ROUNDS` (default 15). NODE_EXTRA_CA_CERTS must be unset (scripts/bench.mjs does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIST, GO, addDelMedians, netnsAdd, netnsDel, printTable } from './_lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
delete process.env.NODE_EXTRA_CA_CERTS;

const host = netnsAdd('meh');
const ctr = netnsAdd('mec');
const dirs = { ours: mkdtempSync(join(tmpdir(), 'cnits-bench-me-')), go: mkdtempSync(join(tmpdir(), 'cnits-bench-me-')) };
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
};
try {
  sh('ip', ['-n', host, 'link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctr]);
  sh('ip', ['-n', host, 'link', 'set', 'vh0', 'up']);
  sh('ip', ['-n', ctr, 'link', 'set', 'eth0', 'up']);
  const netns = `/run/netns/${ctr}`;
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cnibr0' }, { name: 'vh0' }, { name: 'eth0', sandbox: netns }],
    ips: [{ interface: 2, address: '10.88.0.2/16', gateway: '10.88.0.1' }],
  };
  const base = { cniVersion: '1.0.0', name: 'metabench', prevResult };
  const cases = [
    ['tuning: mac, mtu, promisc, sysctl', 'tuning', (side) => ({ ...base, type: 'tuning', dataDir: dirs[side], mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, sysctl: { 'net.ipv4.conf.eth0.arp_filter': '1' } })],
    ['firewall (podman conflist)', 'firewall', () => ({ ...base, type: 'firewall', backend: '' })],
    ['firewall, same-bridge', 'firewall', () => ({ ...base, type: 'firewall', ingressPolicy: 'same-bridge' })],
    ['bandwidth: ingress + egress', 'bandwidth', () => ({ ...base, type: 'bandwidth', ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 })],
  ];
  const unshape = () => {
    spawnSync('ip', ['netns', 'exec', host, 'tc', 'qdisc', 'del', 'dev', 'vh0', 'root']);
    spawnSync('ip', ['netns', 'exec', host, 'tc', 'qdisc', 'del', 'dev', 'vh0', 'ingress']);
  };
  const rows = [];
  for (const [label, type, confOf] of cases) {
    const sides = { ours: { plugin: join(DIST, type), path: DIST }, go: { plugin: join(GO, type), path: GO } };
    const t = addDelMedians({ rounds: ROUNDS, sides, confOf, netns, hostNetns: host, id: type[0], after: type === 'bandwidth' ? unshape : undefined });
    for (const cmd of ['ADD', 'DEL']) rows.push([`${label} ${cmd}`, t.ours[cmd], t.go[cmd]]);
  }
  printTable(`tuning, firewall, bandwidth, median of ${ROUNDS} (2 warm-up rounds; includes ~1 ms of 'ip netns exec')`, rows);
} finally {
  netnsDel(ctr);
  netnsDel(host);
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}
