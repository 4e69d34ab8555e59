// Programs executed per invocation, every single-plugin case of the report, cni-ts vs the Go reference: each ADD and
// DEL run once under strace (execve; the IPAM plugin and what it runs included, `ip netns exec` and the plugin itself
// not counted), one throwaway host netns per side. Also which programs ours ran, so the report can tell whether
// anything but iptables-restore/-save (the iptables backend, which has no library interface) was exec'd.
import { existsSync } from 'node:fs';
import { HostNetns, SIDES, execList, netnsAdd, saveResults, sh, tempDir } from './_lib.mjs';

const hosts = { ours: new HostNetns('exh'), go: new HostNetns('exh') };
const ctrs = { ours: netnsAdd('exc'), go: netnsAdd('exc') };
/** Container netns for the chained plugins (a veth vh0/eth0 stands for the interface plugin's result). */
const metaCtrs = { ours: netnsAdd('exm'), go: netnsAdd('exm') };
const dirs = { ours: tempDir('ex'), go: tempDir('ex') };

/** [plugin, label, conf(side), { ifname, prevResult? }] */
function cases(side) {
  const hl = (subnet, extra = {}) => ({ type: 'host-local', dataDir: dirs[side], ranges: [[{ subnet }]], ...extra });
  const prev = (ctr) => ({
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cnibr0' }, { name: 'vh0' }, { name: 'eth0', sandbox: `/run/netns/${ctr}` }],
    ips: [{ interface: 2, address: '10.88.0.2/16', gateway: '10.88.0.1' }],
  });
  const c = metaCtrs[side];
  const br = { cniVersion: '1.0.0', name: 'exbr', type: 'bridge', bridge: 'eb0', isGateway: true, ipMasq: true, ipam: hl('10.86.0.0/24') };
  return [
    ['host-local', 'host-local', { cniVersion: '1.0.0', name: 'exhl', ipam: hl('10.85.0.0/24') }],
    ['loopback', 'loopback', { cniVersion: '1.0.0', name: 'lo', type: 'loopback' }, { ifname: 'lo' }],
    ['bridge', 'bridge: isGateway+ipMasq (iptables)', br],
    ['bridge', 'bridge: isGateway+ipMasq nftables*', { ...br, ipMasqBackend: 'nftables' }],
    ['bridge', 'bridge: L2 (no ipam)', { cniVersion: '1.0.0', name: 'exbr2', type: 'bridge', bridge: 'eb1' }],
    ['bridge', 'bridge: pod chain (iptables masq)', { ...br, name: 'expod', bridge: 'eb2', hairpinMode: true, ipam: hl('10.87.0.0/24', { routes: [{ dst: '0.0.0.0/0' }] }) }],
    ['ptp', 'ptp: kind (v4, no ipMasq)', { cniVersion: '0.3.1', name: 'exptp', type: 'ptp', ipMasq: false, mtu: 1500, ipam: hl('10.244.0.0/24', { routes: [{ dst: '0.0.0.0/0' }] }) }],
    ['ptp', 'ptp: v4 + ipMasq (iptables)', { cniVersion: '1.0.0', name: 'exptp2', type: 'ptp', ipMasq: true, ipam: hl('10.245.0.0/24') }],
    ['macvlan', 'macvlan: L2 (no ipam)', { cniVersion: '1.0.0', name: 'exmv', type: 'macvlan', master: 'm0' }],
    ['macvlan', 'macvlan: host-local ipam', { cniVersion: '1.0.0', name: 'exmv2', type: 'macvlan', master: 'm0', ipam: hl('10.99.0.0/24', { gateway: '10.99.0.1' }) }],
    ['tuning', 'tuning: mac, mtu, promisc, sysctl', { cniVersion: '1.0.0', name: 'extu', type: 'tuning', dataDir: dirs[side], mac: 'c2:11:22:33:44:55', mtu: 1400, promisc: true, sysctl: { 'net.ipv4.conf.eth0.arp_filter': '1' }, prevResult: prev(c) }],
    ['portmap', 'portmap (nftables)', { cniVersion: '1.0.0', name: 'expm', type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }, prevResult: prev(c) }],
    ['portmap', 'portmap (iptables)', { cniVersion: '1.0.0', name: 'expm2', type: 'portmap', backend: 'iptables', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] }, prevResult: prev(c) }],
    ['firewall', 'firewall (podman conflist)', { cniVersion: '1.0.0', name: 'exfw', type: 'firewall', backend: '', prevResult: prev(c) }],
    ['host-device', 'host-device + static', { cniVersion: '1.0.0', name: 'exhd', type: 'host-device', device: 'hd0', ipam: { type: 'static', addresses: [{ address: '10.98.0.2/24', gateway: '10.98.0.1' }], routes: [{ dst: '0.0.0.0/0' }] } }, { ifname: 'net1' }],
    ['static', 'static', { cniVersion: '1.0.0', name: 'exst', ipam: { type: 'static', addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }, { address: 'fd10::5/64', gateway: 'fd10::1' }], routes: [{ dst: '0.0.0.0/0' }] } }],
    ['sbr', 'sbr', { cniVersion: '1.0.0', name: 'exsbr', type: 'sbr', prevResult: prev(c) }],
    ['tap', 'tap: owner/group, MAC, MTU, host-local', { cniVersion: '1.0.0', name: 'extap', type: 'tap', mac: '02:00:00:00:0e:01', mtu: 1400, owner: 0, group: 0, ipam: hl('10.84.0.0/24') }],
    ['bandwidth', 'bandwidth: ingress + egress', { cniVersion: '1.0.0', name: 'exbw', type: 'bandwidth', ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000, prevResult: prev(c) }],
  ];
}

try {
  for (const side of ['ours', 'go']) {
    const h = hosts[side];
    h.ip('link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm0p');
    h.ip('link', 'set', 'm0', 'up');
    h.ip('link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', metaCtrs[side]);
    h.ip('link', 'set', 'vh0', 'up');
    h.ip('addr', 'add', '10.88.0.1/16', 'dev', 'vh0'); // the host routes to the chained plugins' container, as after bridge
    sh('ip', ['-n', metaCtrs[side], '-batch', '-'], 'addr add 10.88.0.2/16 dev eth0\nlink set eth0 up\n'); // and the container's end as bridge leaves it (sbr's gateway reachable)
    h.ip('link', 'add', 'hd0', 'type', 'veth', 'peer', 'name', 'hd0p'); // host-device's link
    h.ip('link', 'set', 'hd0p', 'up');
  }
  const rows = [];
  const version = {};
  for (const side of ['ours', 'go']) version[side] = execList(hosts[side], { plugin: `${SIDES[side].bin}/bridge`, path: SIDES[side].path, command: 'VERSION', conf: {} });
  rows.push({ label: 'VERSION', ours: { ADD: version.ours.length }, go: { ADD: version.go.length }, progs: { ADD: version.ours } });
  const n = cases('ours').length;
  for (let k = 0; k < n; k++) {
    const row = { label: cases('ours')[k][1], ours: {}, go: {}, progs: {} };
    for (const side of ['ours', 'go']) {
      const [plugin, , conf, o = {}] = cases(side)[k];
      if (!existsSync(`${SIDES[side].bin}/${plugin}`)) continue; // Go 1.1.1 has no tap
      const chained = conf.prevResult !== undefined;
      const inv = { plugin: `${SIDES[side].bin}/${plugin}`, path: SIDES[side].path, conf, netns: `/run/netns/${(chained ? metaCtrs : ctrs)[side]}`, containerId: `ex${k}`, ifname: o.ifname };
      for (const command of ['ADD', 'DEL']) {
        const progs = execList(hosts[side], { ...inv, command });
        row[side][command] = progs.length;
        if (side === 'ours') row.progs[command] = progs;
      }
    }
    rows.push(row);
  }
  console.log('programs executed per invocation (strace execve; the IPAM plugin and what it runs included)');
  console.log('  ' + ['case'.padEnd(40), 'ours ADD', 'Go ADD', 'ours DEL', 'Go DEL', "  ours' programs"].join('  '));
  for (const r of rows) {
    const progs = [...new Set([...(r.progs.ADD ?? []), ...(r.progs.DEL ?? [])])].join(', ');
    console.log('  ' + [r.label.padEnd(40), String(r.ours.ADD).padStart(8), String(r.go.ADD ?? '–').padStart(6), String(r.ours.DEL ?? '–').padStart(8), String(r.go.DEL ?? '–').padStart(6), `  ${progs}`].join('  '));
  }
  saveResults({ rows });
} finally {
  for (const h of Object.values(hosts)) h.close();
}
