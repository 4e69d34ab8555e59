/**
 * The data path between nodes, flannel-style, and its reconciliation.
 *
 * vxlan:   one device `cni-ts.<vni>` (nolearning) holding this node's subnet network address (/32, /128), and per peer
 *          an FDB entry (its VTEP MAC → its underlay IP), a permanent neighbour (its subnet's network address → its
 *          VTEP MAC) and a route (its subnet via that address, onlink).
 * host-gw: per peer a route to its subnet via its underlay IP.
 *
 * Ownership: the device is ours by name and kind; routes are ours when they carry protocol ROUTE_PROTO and their
 * destination lies inside a cluster CIDR. Reconcile reads the current state, compares it with the wanted state and
 * changes only the difference (one `ip -batch` and one `bridge -batch`), so a restart or a missed event heals and
 * nothing else on the node is touched. Planning is pure; the Node-facing class below runs ip/bridge.
 */
import { sha256Hex } from '../lib/hash.js';
import { randomMac } from '../lib/veth.js';
import { ipEqual, parseCIDR, parseIP } from '../lib/ip.js';
import type { IpLink, IpRoute } from '../lib/iface.js';
import { Netns } from '../lib/netns.js';
import { run } from '../lib/exec.js';
import { vxlanDevice, type Backend } from './config.js';
import type { NodeRecord } from './store/types.js';
import { subnetNetworkAddress, withinAny } from './subnets.js';

/** Routing protocol number marking the agent's routes (`ip route … proto 177`). */
export const ROUTE_PROTO = 177;

export interface Underlay {
  iface: string;
  /** The underlay address used for VXLAN and published to peers (first of publicIPs). */
  publicIPs: string[];
  mtu: number;
}

export interface VxlanSpec {
  name: string;
  vni: number;
  port: number;
  local: string;
  iface: string;
  mac: string;
  mtu: number;
}

export interface Neigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}

export interface Fdb {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

export interface CurrentState {
  link?: IpLink;
  routes: IpRoute[];
  neighs: Neigh[];
  fdb: Fdb[];
}

/** VXLAN overhead: outer IPv4 20 (IPv6 40) + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const vxlanMTU = (underlayMTU: number, underlayFamily: 4 | 6): number => underlayMTU - (underlayFamily === 4 ? 50 : 70);

/** A stable, locally administered unicast MAC for this node's VTEP (so a re-created device keeps its MAC). */
export function vtepMAC(nodeName: string, vni: number): string {
  return randomMac(Buffer.from(sha256Hex(`cni-ts vtep ${nodeName} ${vni}`), 'hex'));
}

const familyOfIP = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);
const inCluster = withinAny;
const hostLen = (ip: string): number => (familyOfIP(ip) === 4 ? 32 : 128);
const sameIP = (a: string | undefined, b: string | undefined): boolean => {
  const x = a ? parseIP(a) : undefined;
  const y = b ? parseIP(b) : undefined;
  return !!x && !!y && ipEqual(x, y);
};

// ---------- wanted state (pure) ----------

export interface WantedRoute {
  dst: string;
  via: string;
  dev: string;
  onlink: boolean;
}

export interface Wanted {
  routes: WantedRoute[];
  /** vxlan only */
  neighs: Array<{ dst: string; lladdr: string }>;
  fdb: Array<{ mac: string; dst: string }>;
  /** Peers that cannot be reached, with the reason (logged). */
  skipped: string[];
}

export function wantedState(o: { backend: Backend; device: string; underlay: Underlay; clusterCIDRs: readonly string[]; self: string; peers: Iterable<NodeRecord> }): Wanted {
  const w: Wanted = { routes: [], neighs: [], fdb: [], skipped: [] };
  const localFamily = familyOfIP(o.underlay.publicIPs[0] ?? '0.0.0.0');
  for (const p of o.peers) {
    if (p.node === o.self) continue;
    const subnets = p.subnets.filter((s) => inCluster(o.clusterCIDRs, s));
    if (subnets.length === 0) {
      w.skipped.push(`${p.node}: no subnet inside the cluster CIDR (${p.subnets.join(', ') || 'none'})`);
      continue;
    }
    if (o.backend === 'vxlan') {
      const dst = p.publicIPs.find((ip) => familyOfIP(ip) === localFamily);
      if (!p.vtepMAC || !dst) {
        w.skipped.push(`${p.node}: ${!p.vtepMAC ? 'no VTEP MAC published' : `no IPv${localFamily} underlay address`}`);
        continue;
      }
      w.fdb.push({ mac: p.vtepMAC, dst });
      for (const s of subnets) {
        const gw = subnetNetworkAddress(s);
        w.neighs.push({ dst: gw, lladdr: p.vtepMAC });
        w.routes.push({ dst: s, via: gw, dev: o.device, onlink: true });
      }
    } else {
      for (const s of subnets) {
        const fam = familyOfIP(s.split('/')[0]!);
        const via = p.publicIPs.find((ip) => familyOfIP(ip) === fam);
        if (!via) {
          w.skipped.push(`${p.node}: no IPv${fam} underlay address to route ${s} via`);
          continue;
        }
        w.routes.push({ dst: s, via, dev: o.underlay.iface, onlink: false });
      }
    }
  }
  return w;
}

// ---------- diff (pure) ----------

export interface Changes {
  ip: string[];
  bridge: string[];
  /** What changes, for the log. */
  described: string[];
}

const routeLine = (verb: 'replace' | 'del', r: WantedRoute): string => `route ${verb} ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto ${ROUTE_PROTO}`;

/** Compare the wanted state with the current one; only the agent's own routes/entries are ever removed. */
export function diffState(want: Wanted, cur: CurrentState, o: { clusterCIDRs: readonly string[]; device: string }): Changes {
  const ch: Changes = { ip: [], bridge: [], described: [] };
  // Routes: ours = proto ROUTE_PROTO (the reads are filtered by it) with a destination inside the cluster CIDR.
  const ours = cur.routes.filter((r) => inCluster(o.clusterCIDRs, r.dst));
  const key = (dst: string): string => {
    const c = parseCIDR(dst.includes('/') ? dst : `${dst}/${hostLen(dst)}`)!;
    return `${c.ip.family}:${c.ip.value}/${c.prefix}`;
  };
  const wantByDst = new Map(want.routes.map((r) => [key(r.dst), r]));
  for (const r of ours) {
    const w = wantByDst.get(key(r.dst));
    if (!w) {
      ch.ip.push(`route del ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''} proto ${ROUTE_PROTO}`);
      ch.described.push(`remove route ${r.dst} via ${r.gateway ?? '?'} dev ${r.dev ?? '?'}`);
    }
  }
  for (const w of want.routes) {
    const c = ours.find((r) => key(r.dst) === key(w.dst));
    const same = c && sameIP(c.gateway, w.via) && c.dev === w.dev && (!w.onlink || (c.flags ?? []).includes('onlink'));
    if (!same) {
      ch.ip.push(routeLine('replace', w));
      ch.described.push(`${c ? 'update' : 'add'} route ${w.dst} via ${w.via} dev ${w.dev}`);
    }
  }
  // Neighbours on our device: permanent entries are ours.
  const curNeigh = cur.neighs.filter((n) => (n.state ?? []).includes('PERMANENT'));
  for (const n of curNeigh) {
    if (!want.neighs.some((w) => sameIP(w.dst, n.dst))) {
      ch.ip.push(`neigh del ${n.dst} dev ${o.device}`);
      ch.described.push(`remove neighbour ${n.dst} (${n.lladdr ?? '?'})`);
    }
  }
  for (const w of want.neighs) {
    const c = curNeigh.find((n) => sameIP(n.dst, w.dst));
    if (!c || c.lladdr?.toLowerCase() !== w.lladdr.toLowerCase()) {
      ch.ip.push(`neigh replace ${w.dst} lladdr ${w.lladdr} dev ${o.device} nud permanent`);
      ch.described.push(`${c ? 'update' : 'add'} neighbour ${w.dst} → ${w.lladdr}`);
    }
  }
  // FDB entries on our device that point at a remote VTEP.
  const curFdb = cur.fdb.filter((f) => f.dst && (f.flags ?? []).includes('self'));
  for (const f of curFdb) {
    if (!want.fdb.some((w) => w.mac.toLowerCase() === f.mac.toLowerCase() && sameIP(w.dst, f.dst))) {
      ch.bridge.push(`fdb del ${f.mac} dev ${o.device} dst ${f.dst} self`);
      ch.described.push(`remove fdb ${f.mac} → ${f.dst}`);
    }
  }
  for (const w of want.fdb) {
    if (!curFdb.some((f) => f.mac.toLowerCase() === w.mac.toLowerCase() && sameIP(w.dst, f.dst))) {
      ch.bridge.push(`fdb append ${w.mac} dev ${o.device} dst ${w.dst} self permanent`);
      ch.described.push(`add fdb ${w.mac} → ${w.dst}`);
    }
  }
  return ch;
}

/**
 * The VXLAN device: lines to create it, or to re-create it when it differs (VNI, port, local address, underlay
 * device, MAC), or nothing. Throws when a link of that name exists and is not a VXLAN device (not ours).
 */
export function deviceLines(cur: IpLink | undefined, want: VxlanSpec): { lines: string[]; described: string[] } {
  const add = [
    `link add ${want.name} address ${want.mac} mtu ${want.mtu} type vxlan id ${want.vni} local ${want.local} dev ${want.iface} dstport ${want.port} nolearning`,
    `link set ${want.name} up`,
  ];
  if (!cur) return { lines: add, described: [`create VXLAN device ${want.name} (VNI ${want.vni}, port ${want.port}, local ${want.local} on ${want.iface}, MAC ${want.mac})`] };
  const kind = cur.linkinfo?.info_kind;
  if (kind !== 'vxlan') throw new Error(`a link named ${want.name} exists and is ${kind ? `a ${kind} device` : 'not a VXLAN device'}: not touching it (choose another --vxlan-vni or remove it)`);
  const d = (cur.linkinfo?.info_data ?? {}) as Record<string, unknown>;
  const diffs: string[] = [];
  if (Number(d.id) !== want.vni) diffs.push(`VNI ${d.id}`);
  if (Number(d.port) !== want.port) diffs.push(`port ${d.port}`);
  if (!sameIP(String(d.local ?? ''), want.local)) diffs.push(`local ${d.local}`);
  if (d.link !== want.iface) diffs.push(`underlay ${d.link}`);
  if (cur.address?.toLowerCase() !== want.mac.toLowerCase()) diffs.push(`MAC ${cur.address}`);
  if (diffs.length) return { lines: [`link del ${want.name}`, ...add], described: [`re-create VXLAN device ${want.name} (had ${diffs.join(', ')})`] };
  const lines: string[] = [];
  const described: string[] = [];
  if (cur.mtu !== want.mtu) {
    lines.push(`link set ${want.name} mtu ${want.mtu}`);
    described.push(`set ${want.name} MTU ${want.mtu}`);
  }
  if (!(cur.flags ?? []).includes('UP')) {
    lines.push(`link set ${want.name} up`);
    described.push(`set ${want.name} up`);
  }
  return { lines, described };
}

/** Addresses of the VXLAN device: this node's subnets' network addresses as host routes (/32, /128). */
export function deviceAddressLines(cur: IpLink | undefined, device: string, subnets: readonly string[]): { lines: string[]; described: string[] } {
  const want = subnets.map((s) => subnetNetworkAddress(s));
  const have = (cur?.addr_info ?? []).filter((a) => a.scope !== 'link');
  const lines: string[] = [];
  const described: string[] = [];
  for (const a of have) {
    if (!want.some((w) => sameIP(w, a.local) && a.prefixlen === hostLen(w))) {
      lines.push(`addr del ${a.local}/${a.prefixlen} dev ${device}`);
      described.push(`remove address ${a.local}/${a.prefixlen} from ${device}`);
    }
  }
  for (const w of want) {
    if (!have.some((a) => sameIP(w, a.local) && a.prefixlen === hostLen(w))) {
      lines.push(`addr replace ${w}/${hostLen(w)} dev ${device}${familyOfIP(w) === 6 ? ' nodad' : ''}`);
      described.push(`add address ${w}/${hostLen(w)} to ${device}`);
    }
  }
  return { lines, described };
}

// ---------- effects ----------

const host = Netns.host();

function ipJson<T>(args: string[]): T | undefined {
  const r = host.ip(['-j', ...args]);
  if (r.status !== 0) return undefined;
  const t = r.stdout.trim();
  return (t ? JSON.parse(t) : []) as T;
}

/** The default route's interface and the node's address on it (or on the interface/address given). */
export function detectUnderlay(publicIPs: readonly string[], iface: string): Underlay {
  const addrs = ipJson<IpLink[]>(['addr', 'show']) ?? [];
  let dev = iface;
  if (!dev && publicIPs.length) dev = addrs.find((l) => (l.addr_info ?? []).some((a) => sameIP(a.local, publicIPs[0])))?.ifname ?? '';
  if (!dev) {
    const routes = [...(ipJson<IpRoute[]>(['route', 'show', 'default']) ?? []), ...(ipJson<IpRoute[]>(['-6', 'route', 'show', 'default']) ?? [])];
    dev = routes.find((r) => r.dev)?.dev ?? '';
  }
  if (!dev) throw new Error('cannot find the underlay interface: no default route; give --iface or --public-ip');
  const link = addrs.find((l) => l.ifname === dev);
  if (!link) throw new Error(`underlay interface ${dev} does not exist`);
  let ips = [...publicIPs];
  if (ips.length === 0) {
    const global = (link.addr_info ?? []).filter((a) => a.scope === 'global' && !a.tentative);
    const v4 = global.find((a) => a.family === 'inet');
    const v6 = global.find((a) => a.family === 'inet6');
    ips = [v4?.local, v6?.local].filter((x): x is string => !!x);
    if (ips.length === 0) throw new Error(`underlay interface ${dev} has no global address; give --public-ip`);
  } else {
    for (const ip of ips) {
      if (!(link.addr_info ?? []).some((a) => sameIP(a.local, ip))) throw new Error(`--public-ip ${ip} is not an address of ${dev}`);
    }
  }
  return { iface: dev, publicIPs: ips, mtu: link.mtu ?? 1500 };
}

export interface ApplyReport {
  described: string[];
  errors: string[];
}

/** The data path of this node (runs ip and bridge in the agent's own network namespace). */
export class DataPath {
  readonly device: string;

  constructor(
    readonly backend: Backend,
    readonly underlay: Underlay,
    readonly clusterCIDRs: readonly string[],
    readonly vxlan: { vni: number; port: number; mac: string },
    readonly self: string,
  ) {
    this.device = vxlanDevice(vxlan.vni);
  }

  /** MTU the pods get: the underlay's, less the VXLAN overhead. */
  get podMTU(): number {
    return this.backend === 'vxlan' ? vxlanMTU(this.underlay.mtu, familyOfIP(this.underlay.publicIPs[0]!)) : this.underlay.mtu;
  }

  private spec(): VxlanSpec {
    return { name: this.device, vni: this.vxlan.vni, port: this.vxlan.port, local: this.underlay.publicIPs[0]!, iface: this.underlay.iface, mac: this.vxlan.mac, mtu: this.podMTU };
  }

  private link(): IpLink | undefined {
    return ipJson<IpLink[]>(['-d', 'addr', 'show', 'dev', this.device])?.[0];
  }

  /** Forwarding on, and (vxlan) the device created or fixed. */
  setupDevice(): ApplyReport {
    const sysctls: Record<string, string> = {};
    if (this.clusterCIDRs.some((c) => !c.includes(':'))) sysctls['net/ipv4/ip_forward'] = '1';
    if (this.clusterCIDRs.some((c) => c.includes(':'))) sysctls['net/ipv6/conf/all/forwarding'] = '1';
    const errors: string[] = [];
    try {
      host.sysctlSet(sysctls); // writes only what differs
    } catch (e) {
      // An unprivileged container has /proc/sys read-only: say so, the node's admin has to turn forwarding on.
      errors.push(`IP forwarding is off and cannot be turned on here (${(e as Error).message}): pods cannot reach other nodes until it is on`);
    }
    if (this.backend !== 'vxlan') return { described: [], errors };
    const { lines, described } = deviceLines(this.link(), this.spec());
    const r = host.ipBatch(lines);
    if (r.status !== 0) throw new Error(`creating ${this.device} failed: ${r.stderr.trim()}`);
    return { described, errors };
  }

  /** (vxlan) this node's subnets' network addresses on the device. */
  setLocalSubnets(subnets: readonly string[]): ApplyReport {
    if (this.backend !== 'vxlan') return { described: [], errors: [] };
    const { lines, described } = deviceAddressLines(this.link(), this.device, subnets);
    const r = host.ipBatch(lines, true);
    return { described, errors: r.status === 0 ? [] : [r.stderr.trim()] };
  }

  readState(): CurrentState {
    const routes = [
      ...(ipJson<IpRoute[]>(['route', 'show', 'proto', String(ROUTE_PROTO)]) ?? []),
      ...(this.clusterCIDRs.some((c) => c.includes(':')) ? (ipJson<IpRoute[]>(['-6', 'route', 'show', 'proto', String(ROUTE_PROTO)]) ?? []) : []),
    ];
    if (this.backend !== 'vxlan') return { routes, neighs: [], fdb: [] };
    const link = this.link();
    const neighs = link ? (ipJson<Neigh[]>(['neigh', 'show', 'dev', this.device]) ?? []) : [];
    let fdb: Fdb[] = [];
    if (link) {
      const r = run('bridge', ['-j', 'fdb', 'show', 'dev', this.device]);
      if (r.status === 0 && r.stdout.trim()) fdb = JSON.parse(r.stdout);
    }
    return { link, routes, neighs, fdb };
  }

  /** Bring routes, neighbours and FDB in line with the peers. */
  reconcile(peers: Iterable<NodeRecord>): ApplyReport & { skipped: string[] } {
    const want = wantedState({ backend: this.backend, device: this.device, underlay: this.underlay, clusterCIDRs: this.clusterCIDRs, self: this.self, peers });
    const ch = diffState(want, this.readState(), { clusterCIDRs: this.clusterCIDRs, device: this.device });
    const errors: string[] = [];
    // FDB before neighbours and routes: the first packet out already has its underlay destination.
    if (ch.bridge.length) {
      const r = run('bridge', ['-force', '-batch', '-'], { input: ch.bridge.join('\n') + '\n' });
      if (r.status !== 0) errors.push(`bridge: ${r.stderr.trim()}`);
    }
    const r = host.ipBatch(ch.ip, true);
    if (r.status !== 0) errors.push(`ip: ${r.stderr.trim()}`);
    return { described: ch.described, errors, skipped: want.skipped };
  }

  /** --cleanup: the VXLAN device (with its neighbours and FDB) and every route of ours inside the cluster CIDR. */
  teardown(): ApplyReport {
    const described: string[] = [];
    const errors: string[] = [];
    const cur = this.readState();
    const ch = diffState({ routes: [], neighs: [], fdb: [], skipped: [] }, { ...cur, neighs: [], fdb: [] }, { clusterCIDRs: this.clusterCIDRs, device: this.device });
    const link = this.link();
    const lines = [...ch.ip];
    described.push(...ch.described);
    if (link?.linkinfo?.info_kind === 'vxlan') {
      lines.push(`link del ${this.device}`);
      described.push(`remove VXLAN device ${this.device}`);
    }
    const r = host.ipBatch(lines, true);
    if (r.status !== 0) errors.push(r.stderr.trim());
    return { described, errors };
  }
}
