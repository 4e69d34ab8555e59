/** rtnetlink numbers (linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h, fib_rules.h, if_bridge.h, net_namespace.h). */

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
  NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
  NEWRULE: 32, DELRULE: 33, GETRULE: 34,
  NEWNSID: 88, GETNSID: 90,
} as const;

export const IFF = { UP: 0x1, BROADCAST: 0x2, LOOPBACK: 0x8, POINTOPOINT: 0x10, NOARP: 0x80, PROMISC: 0x100, ALLMULTI: 0x200, MASTER: 0x400, SLAVE: 0x800, MULTICAST: 0x1000, LOWER_UP: 0x10000, DORMANT: 0x20000, ECHO: 0x40000 } as const;

export const IFLA = {
  ADDRESS: 1, BROADCAST: 2, IFNAME: 3, MTU: 4, LINK: 5, QDISC: 6, MASTER: 10, TXQLEN: 13, OPERSTATE: 16, LINKMODE: 17,
  LINKINFO: 18, IFALIAS: 20, AF_SPEC: 26, GROUP: 27, NET_NS_FD: 28, EXT_MASK: 29, PROMISCUITY: 30, NUM_TX_QUEUES: 31,
  NUM_RX_QUEUES: 32, CARRIER: 33, LINK_NETNSID: 37, MIN_MTU: 50, MAX_MTU: 51, PERM_ADDRESS: 54, ALLMULTI: 61,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_BR = { STP_STATE: 5, VLAN_FILTERING: 7, VLAN_PROTOCOL: 8, MCAST_SNOOPING: 23, VLAN_DEFAULT_PVID: 39 } as const;
export const IFLA_BRPORT = { STATE: 1, PRIORITY: 2, COST: 3, MODE: 4, LEARNING: 8, UNICAST_FLOOD: 9, ISOLATED: 33 } as const;
export const IFLA_MACVLAN = { MODE: 1, FLAGS: 2, BC_QUEUE_LEN: 7, BC_QUEUE_LEN_USED: 8 } as const;
export const MACVLAN_MODE: Record<string, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };
export const IFLA_IPVLAN = { MODE: 1, FLAGS: 2 } as const;
export const IPVLAN_MODE: Record<string, number> = { l2: 0, l3: 1, l3s: 2 };
export const IPVLAN_F = { PRIVATE: 1, VEPA: 2 } as const;
export const IFLA_VLAN = { ID: 1, FLAGS: 2, PROTOCOL: 5 } as const;
export const IFLA_VXLAN = {
  ID: 1, GROUP: 2, LINK: 3, LOCAL: 4, TTL: 5, TOS: 6, LEARNING: 7, AGEING: 8, LIMIT: 9, PORT_RANGE: 10, PROXY: 11, RSC: 12,
  L2MISS: 13, L3MISS: 14, PORT: 15, GROUP6: 16, LOCAL6: 17, UDP_CSUM: 18, UDP_ZERO_CSUM6_TX: 19, UDP_ZERO_CSUM6_RX: 20,
  TTL_INHERIT: 28, DF: 29,
} as const;
export const IFLA_VRF_TABLE = 1;
export const IFLA_TUN = { OWNER: 1, GROUP: 2, TYPE: 3, PI: 4, VNET_HDR: 5, PERSIST: 6, MULTI_QUEUE: 7, NUM_QUEUES: 8, NUM_DISABLED_QUEUES: 9 } as const;
export const IFLA_INET6_ADDR_GEN_MODE = 8;
export const ADDR_GEN_MODE: Record<string, number> = { eui64: 0, none: 1, stable_secret: 2, random: 3 };
export const RTEXT_FILTER = { VF: 1, BRVLAN: 2, SKIP_STATS: 8 } as const;

export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, ANYCAST: 5, CACHEINFO: 6, FLAGS: 8, RT_PRIORITY: 9, PROTO: 11 } as const;
export const IFA_F = {
  SECONDARY: 0x1, NODAD: 0x2, OPTIMISTIC: 0x4, DADFAILED: 0x8, HOMEADDRESS: 0x10, DEPRECATED: 0x20, TENTATIVE: 0x40,
  PERMANENT: 0x80, MANAGETEMPADDR: 0x100, NOPREFIXROUTE: 0x200, MCAUTOJOIN: 0x400, STABLE_PRIVACY: 0x800,
} as const;

export const RTA = {
  DST: 1, SRC: 2, IIF: 3, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, METRICS: 8, MULTIPATH: 9, FLOW: 11, CACHEINFO: 12,
  TABLE: 15, MARK: 16, VIA: 18, NEWDST: 19, PREF: 20, ENCAP_TYPE: 21, ENCAP: 22, EXPIRES: 23, UID: 25, NH_ID: 30,
} as const;
export const RTN = { UNSPEC: 0, UNICAST: 1, LOCAL: 2, BROADCAST: 3, ANYCAST: 4, MULTICAST: 5, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8, THROW: 9, NAT: 10 } as const;
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;
export const RT_TABLE = { UNSPEC: 0, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;
export const RTPROT = { UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
export const RTNH_F = { DEAD: 1, PERVASIVE: 2, ONLINK: 4, OFFLOAD: 8, LINKDOWN: 16, UNRESOLVED: 32, TRAP: 64 } as const;
export const RTM_F_CLONED = 0x200;

export const NDA = { DST: 1, LLADDR: 2, CACHEINFO: 3, PROBES: 4, VLAN: 5, PORT: 6, VNI: 7, IFINDEX: 8, MASTER: 9, LINK_NETNSID: 10, SRC_VNI: 11, PROTOCOL: 12 } as const;
export const NUD = { INCOMPLETE: 0x1, REACHABLE: 0x2, STALE: 0x4, DELAY: 0x8, PROBE: 0x10, FAILED: 0x20, NOARP: 0x40, PERMANENT: 0x80, NONE: 0 } as const;
export const NTF = { USE: 0x1, SELF: 0x2, MASTER: 0x4, PROXY: 0x8, EXT_LEARNED: 0x10, OFFLOADED: 0x20, STICKY: 0x40, ROUTER: 0x80 } as const;

export const FRA = {
  DST: 1, SRC: 2, IIFNAME: 3, GOTO: 4, PRIORITY: 6, FWMARK: 10, FLOW: 11, TUN_ID: 12, SUPPRESS_IFGROUP: 13,
  SUPPRESS_PREFIXLEN: 14, TABLE: 15, FWMASK: 16, OIFNAME: 17, L3MDEV: 19, UID_RANGE: 20, PROTOCOL: 21, IP_PROTO: 22,
  SPORT_RANGE: 23, DPORT_RANGE: 24,
} as const;
export const FR_ACT = { TO_TBL: 1, GOTO: 2, NOP: 3, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8 } as const;

export const IFLA_BRIDGE = { FLAGS: 0, MODE: 1, VLAN_INFO: 2 } as const;
export const BRIDGE_VLAN_INFO = { MASTER: 1, PVID: 2, UNTAGGED: 4 } as const;
export const BRIDGE_FLAGS = { MASTER: 1, SELF: 2 } as const;

export const NETNSA = { NSID: 1, PID: 2, FD: 3 } as const;

/** errno values the client reasons about. */
export const E = { ENOENT: 2, ESRCH: 3, EIO: 5, EBADF: 9, EEXIST: 17, ENODEV: 19, EINVAL: 22, EOPNOTSUPP: 95, EADDRNOTAVAIL: 99 } as const;
