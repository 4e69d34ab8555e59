// host-device (+ static IPAM), static alone and sbr: ADD/DEL wall time, cni-ts vs the Go reference (/usr/lib/cni
// 1.1.1), medians over N interleaved rounds, one throwaway host netns per side.
//   host-device: a veth end `hd0` in the side's host netns moves into its container and back (static IPAM: one
//                address, a default route; ours runs static in-process)
//   static:      the IPAM plugin alone (dual-stack addresses, routes, DNS)
//   sbr:         chained after a dual-stack veth with a default route per family; between rounds (untimed) the
//                interface's addresses and routes are put back and the tables flushed, as a new pod would have them
// vrf cannot run here (the host kernel has no VRF driver): see test/vm/vrf*.vm.mjs for its behaviour.
// `BENCH_ROUNDS` (default 15).
import { spawnSync } from 'node:child_process';
import { HostNetns, SIDES, addDelRounds, interleave, netnsAdd, printTable, rounds, rowsOf, saveResults, sh } from './_lib.mjs';

const n = rounds(15);
const hosts = { ours: new HostNetns('drh'), go: new HostNetns('drh') };
const ctrs = { ours: netnsAdd('drc'), go: netnsAdd('drc') };
try {
  const rows = [];

  // host-device + static
  for (const h of Object.values(hosts)) {
    h.ip('link', 'add', 'hd0', 'type', 'veth', 'peer', 'name', 'hd0p');
    h.ip('link', 'set', 'hd0p', 'up');
  }
  const hd = {
    cniVersion: '1.0.0',
    name: 'hdbench',
    type: 'host-device',
    device: 'hd0',
    ipam: { type: 'static', addresses: [{ address: '10.98.0.2/24', gateway: '10.98.0.1' }], routes: [{ dst: '0.0.0.0/0' }] },
  };
  const hdInv = (side) => ({ plugin: `${SIDES[side].bin}/host-device`, path: SIDES[side].path, conf: hd, netns: `/run/netns/${ctrs[side]}` });
  rows.push(...rowsOf('host-device + static', await addDelRounds({ n, hosts, invOf: hdInv, id: 'hd' }), ['ADD', 'DEL', 'ADD+DEL']));

  // static alone
  const st = {
    cniVersion: '1.0.0',
    name: 'stbench',
    ipam: {
      type: 'static',
      addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: 'fd10::5/64', gateway: 'fd10::1' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dns: { nameservers: ['10.10.0.53'] },
    },
  };
  const stInv = (side) => ({ plugin: `${SIDES[side].bin}/static`, path: SIDES[side].path, conf: st });
  rows.push(...rowsOf('static (IPAM alone)', await addDelRounds({ n, hosts, invOf: stInv, id: 'st' }), ['ADD', 'DEL']));

  // sbr after a dual-stack veth
  const resetSbr = (side) => {
    const c = ctrs[side];
    const ipn = (...a) => sh('ip', ['-n', c, ...a]);
    for (const t of ['100', '101']) for (const f of ['-4', '-6']) spawnSync('ip', ['-n', c, f, 'route', 'flush', 'table', t]); // may not exist yet
    ipn('addr', 'flush', 'dev', 'eth0', 'scope', 'global');
    ipn('addr', 'add', '10.97.0.2/24', 'dev', 'eth0');
    ipn('addr', 'add', 'fd97::2/64', 'dev', 'eth0', 'nodad');
    ipn('route', 'replace', 'default', 'via', '10.97.0.1', 'dev', 'eth0');
    ipn('-6', 'route', 'replace', 'default', 'via', 'fd97::1', 'dev', 'eth0');
  };
  for (const side of ['ours', 'go']) {
    hosts[side].ip('link', 'add', 'vs0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctrs[side]);
    hosts[side].ip('link', 'set', 'vs0', 'up');
    sh('ip', ['-n', ctrs[side], 'link', 'set', 'eth0', 'up']);
    resetSbr(side);
  }
  const sbr = (side) => ({
    cniVersion: '1.0.0',
    name: 'sbrbench',
    type: 'sbr',
    prevResult: {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'vs0' }, { name: 'eth0', sandbox: `/run/netns/${ctrs[side]}` }],
      ips: [{ interface: 1, address: '10.97.0.2/24', gateway: '10.97.0.1' }, { interface: 1, address: 'fd97::2/64', gateway: 'fd97::1' }],
    },
  });
  const sbrInv = (side) => ({ plugin: `${SIDES[side].bin}/sbr`, path: SIDES[side].path, conf: sbr(side), netns: `/run/netns/${ctrs[side]}` });
  rows.push(...rowsOf('sbr (dual-stack)', await addDelRounds({ n, hosts, invOf: sbrInv, id: 'sb', after: resetSbr }), ['ADD', 'DEL', 'ADD+DEL']));

  // VERSION of the same plugins: the floor every row above stands on
  const ver = await interleave(n, ['ours', 'go'], async (side) => ({ VERSION: await hosts[side].time({ plugin: `${SIDES[side].bin}/sbr`, path: SIDES[side].path, command: 'VERSION', conf: {} }) }));
  rows.push(...rowsOf('sbr', ver, ['VERSION']));

  printTable(`host-device, static, sbr, median of ${n} (min–max)`, rows);
  saveResults({ rounds: n, rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
