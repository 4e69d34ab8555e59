/**
 * What the fuzzer runs: one declarative entry per plugin and per command. Pure data.
 *
 * ADDING A PLUGIN is one entry in PLUGINS:
 *
 *   { name: 'vlan',                               // the executable's name (dist/bin/vlan, /usr/lib/cni/vlan)
 *     versions: V03_ON,                           // cniVersions the valid configs are written in
 *     setup: MASTER,                              // optional shell run on the sandbox's host first (links it needs)
 *     delegates: true,                            // it delegates IPAM: also try ipam.type = interface plugins
 *     chained: false,                             // true: gets CHAINED's prevResult (and CHAINED_SETUP's links)
 *     configs: [(v) => ({ cniVersion: v, name: NET, type: 'vlan', master: 'fzm0', vlanId: 42, ipam: hostLocal(v) })] }
 *
 * Each config is a VALID configuration: mutations start from it (case 0 of every target runs it unmutated, which
 * must work). The sandbox has one container netns, CONTAINER (CNI_NETNS = NETNS), and CNI_IFNAME eth0; a chained
 * plugin finds eth0 there already (veth fzveth0 on bridge fzbr0, 10.88.0.2/24 and fd88::2/64) and gets CHAINED's
 * prevResult. Kernel features the machine lacks (ipvlan here) are fine: the error paths are fuzzed all the same.
 *
 * COMMANDS (cnictl, cni-ts-agent) generate argv from a small grammar with hostile values (see generate.ts).
 */
import type { Json } from './values.js';

export const CONTAINER = 'fuzz-c0';
export const NETNS = `/run/netns/${CONTAINER}`;
export const NET = 'fuzznet';
/** host-local's dataDir inside the sandbox (its files are part of every snapshot). */
export const DATA_DIR = '/var/lib/cni/fuzz';

export const V01_ON = ['0.1.0', '0.2.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export const V03_ON = ['0.3.1', '0.4.0', '1.0.0'] as const;
export const V04_ON = ['0.4.0', '1.0.0'] as const;

/** A veth pair on the host whose end fzm0 (192.0.2.10/24, the default route) is a macvlan/ipvlan master. */
export const MASTER = [
  'ip link add fzm0 type veth peer name fzm1',
  'ip link set fzm0 up',
  'ip link set fzm1 up',
  'ip addr add 192.0.2.10/24 dev fzm0',
  'ip route add default via 192.0.2.1 dev fzm0',
].join(' && ');

/** What an interface plugin would have made for a chained plugin: eth0 in the container on bridge fzbr0. */
export const CHAINED_SETUP = [
  'ip link add fzbr0 type bridge',
  'ip addr add 10.88.0.1/24 dev fzbr0',
  'ip link set fzbr0 up',
  `ip link add fzveth0 master fzbr0 type veth peer name eth0 netns ${CONTAINER}`,
  'ip link set fzveth0 up',
  `ip -n ${CONTAINER} addr add 10.88.0.2/24 dev eth0`,
  `ip -n ${CONTAINER} addr add fd88::2/64 dev eth0 nodad`,
  `ip -n ${CONTAINER} link set eth0 up`,
].join(' && ');

/** The prevResult of CHAINED_SETUP, in spec version `v`. */
export function chainedPrevResult(v: string): Json {
  const ver = (n: string): Record<string, Json> => (v === '0.3.1' || v === '0.4.0' ? { version: n } : {});
  return {
    cniVersion: v,
    interfaces: [{ name: 'fzbr0' }, { name: 'fzveth0' }, { name: 'eth0', sandbox: NETNS }],
    ips: [
      { ...ver('4'), address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 2 },
      { ...ver('6'), address: 'fd88::2/64', gateway: 'fd88::1', interface: 2 },
    ],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: { nameservers: ['10.88.0.1'] },
  };
}

export const hostLocal = (subnets: string[] = ['10.89.0.0/24'], extra: Record<string, Json> = {}): Json => ({
  type: 'host-local',
  dataDir: DATA_DIR,
  ranges: subnets.map((subnet) => [{ subnet }]),
  routes: [{ dst: '0.0.0.0/0' }],
  ...extra,
});

export interface PluginTarget {
  kind: 'plugin';
  name: string;
  versions: readonly string[];
  setup?: string;
  delegates?: boolean;
  chained?: boolean;
  configs: ReadonlyArray<(v: string) => Record<string, Json>>;
}

export interface CommandTarget {
  kind: 'command';
  name: 'cnictl' | 'cni-ts-agent';
  setup?: string;
  /** Valid commands run before the fuzzed one (state for it to act on). */
  prepare?: string[][];
}

export type Target = PluginTarget | CommandTarget;

const base = (v: string, type: string): Record<string, Json> => ({ cniVersion: v, name: NET, type });

export const PLUGINS: readonly PluginTarget[] = [
  {
    kind: 'plugin',
    name: 'bridge',
    versions: V03_ON,
    delegates: true,
    configs: [
      (v) => ({ ...base(v, 'bridge'), bridge: 'fzbr1', isGateway: true, ipMasq: true, ipam: hostLocal() }),
      (v) => ({ ...base(v, 'bridge'), bridge: 'fzbr1', isDefaultGateway: true, hairpinMode: true, macspoofchk: true, mtu: 1400, ipam: hostLocal(['10.89.0.0/24', 'fd89::/64']) }),
      (v) => ({ ...base(v, 'bridge'), bridge: 'fzbr1', vlan: 7, preserveDefaultVlan: false, ipMasq: true, ipMasqBackend: 'nftables', ipam: hostLocal() }),
      (v) => ({ ...base(v, 'bridge'), bridge: 'fzbr1', ipam: {} }),
    ],
  },
  {
    kind: 'plugin',
    name: 'ptp',
    versions: V03_ON,
    delegates: true,
    configs: [
      (v) => ({ ...base(v, 'ptp'), ipMasq: true, mtu: 1400, ipam: hostLocal() }),
      (v) => ({ ...base(v, 'ptp'), ipMasq: true, dns: { nameservers: ['10.89.0.1'] }, ipam: hostLocal(['10.89.0.0/24', 'fd89::/64']) }),
    ],
  },
  {
    kind: 'plugin',
    name: 'macvlan',
    versions: V03_ON,
    setup: MASTER,
    delegates: true,
    configs: [
      (v) => ({ ...base(v, 'macvlan'), master: 'fzm0', mode: 'bridge', ipam: hostLocal() }),
      (v) => ({ ...base(v, 'macvlan'), mode: 'private', mtu: 1400, ipam: hostLocal() }),
      (v) => ({ ...base(v, 'macvlan'), master: 'fzm0' }),
    ],
  },
  {
    kind: 'plugin',
    name: 'ipvlan',
    versions: V03_ON,
    setup: MASTER,
    delegates: true,
    configs: [(v) => ({ ...base(v, 'ipvlan'), master: 'fzm0', mode: 'l2', ipam: hostLocal() })],
  },
  {
    kind: 'plugin',
    name: 'host-local',
    versions: V03_ON,
    configs: [
      (v) => ({ ...base(v, 'bridge'), ipam: hostLocal() }),
      (v) => ({ ...base(v, 'bridge'), ipam: { type: 'host-local', dataDir: DATA_DIR, ranges: [[{ subnet: '10.89.0.0/24', rangeStart: '10.89.0.10', rangeEnd: '10.89.0.20', gateway: '10.89.0.1' }], [{ subnet: 'fd89::/64' }]] } }),
      (v) => ({ ...base(v, 'bridge'), ipam: { type: 'host-local', dataDir: DATA_DIR, subnet: '10.89.0.0/24' } }),
    ],
  },
  {
    kind: 'plugin',
    name: 'portmap',
    versions: V03_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [
      (v) => ({ ...base(v, 'portmap'), capabilities: { portMappings: true }, snat: true, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] } }),
      (v) => ({ ...base(v, 'portmap'), capabilities: { portMappings: true }, backend: 'iptables', runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.10' }] } }),
    ],
  },
  {
    kind: 'plugin',
    name: 'loopback',
    versions: V01_ON,
    configs: [(v) => base(v, 'loopback')],
  },
  {
    kind: 'plugin',
    name: 'tuning',
    versions: V03_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [
      (v) => ({ ...base(v, 'tuning'), sysctl: { 'net.ipv4.conf.eth0.rp_filter': '1' }, mtu: 1400, mac: '02:00:00:00:00:42', promisc: true }),
      (v) => ({ ...base(v, 'tuning'), allmulti: true, txQLen: 2000, sysctl: { 'net.ipv6.conf.eth0.accept_ra': '0' } }),
    ],
  },
  {
    kind: 'plugin',
    name: 'firewall',
    versions: V04_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [(v) => ({ ...base(v, 'firewall'), ingressPolicy: 'same-bridge' }), (v) => ({ ...base(v, 'firewall'), backend: 'iptables', iptablesAdminChainName: 'FZ-ADMIN' })],
  },
  {
    kind: 'plugin',
    name: 'bandwidth',
    versions: V03_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [
      (v) => ({ ...base(v, 'bandwidth'), ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 }),
      (v) => ({ ...base(v, 'bandwidth'), capabilities: { bandwidth: true }, runtimeConfig: { bandwidth: { ingressRate: 1_000_000, ingressBurst: 10_000, egressRate: 1_000_000, egressBurst: 10_000 } } }),
    ],
  },
  {
    kind: 'plugin',
    name: 'host-device',
    versions: V03_ON,
    setup: MASTER,
    delegates: true,
    configs: [(v) => ({ ...base(v, 'host-device'), device: 'fzm1', ipam: hostLocal() }), (v) => ({ ...base(v, 'host-device'), device: 'fzm1' })],
  },
  {
    kind: 'plugin',
    name: 'vlan',
    versions: V03_ON,
    setup: MASTER,
    delegates: true,
    configs: [(v) => ({ ...base(v, 'vlan'), master: 'fzm0', vlanId: 42, mtu: 1400, ipam: hostLocal() })],
  },
  {
    kind: 'plugin',
    name: 'dummy',
    versions: V03_ON,
    delegates: true,
    configs: [(v) => ({ ...base(v, 'dummy'), ipam: hostLocal() })],
  },
  {
    kind: 'plugin',
    name: 'tap',
    versions: V03_ON,
    delegates: true,
    configs: [(v) => ({ ...base(v, 'tap'), mtu: 1400, multiQueue: true, ipam: hostLocal() }), (v) => ({ ...base(v, 'tap'), mac: '02:00:00:00:00:43' })],
  },
  {
    kind: 'plugin',
    name: 'sbr',
    versions: V03_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [(v) => base(v, 'sbr'), (v) => ({ ...base(v, 'sbr'), table: 100, addSourceHints: true })],
  },
  {
    kind: 'plugin',
    name: 'vrf',
    versions: V03_ON,
    setup: CHAINED_SETUP,
    chained: true,
    configs: [(v) => ({ ...base(v, 'vrf'), vrfname: 'fzvrf', table: 1001 })],
  },
  {
    kind: 'plugin',
    name: 'static',
    versions: V03_ON,
    configs: [
      (v) => ({ ...base(v, 'bridge'), ipam: { type: 'static', addresses: [{ address: '10.89.0.5/24', gateway: '10.89.0.1' }, { address: 'fd89::5/64' }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.89.0.1'] } } }),
    ],
  },
  {
    kind: 'plugin',
    name: 'dhcp',
    versions: V03_ON,
    // no daemon in the sandbox: the error paths (the daemon's socket is missing) and the config checks
    configs: [(v) => ({ ...base(v, 'macvlan'), ipam: { type: 'dhcp' } })],
  },
];

export const COMMANDS: readonly CommandTarget[] = [
  { kind: 'command', name: 'cnictl', setup: MASTER, prepare: [['network', 'create', '--subnet', '10.90.0.0/24', 'fznet']] },
  { kind: 'command', name: 'cni-ts-agent', setup: MASTER },
];

export const TARGETS: readonly Target[] = [...PLUGINS, ...COMMANDS];

/** Types a plugin may be asked to delegate IPAM to by mistake: every interface plugin, and meta plugins. */
export const MAIN_TYPES = ['bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device', 'vlan', 'dummy', 'tap', 'loopback', 'portmap', 'tuning', 'firewall', 'bandwidth', 'sbr', 'vrf'];
