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
import type { Underlay } from './underlay.js';

export { detectUnderlay, type Underlay } from './underlay.js';

/** Routing protocol number marking the agent's routes (`ip route … proto 177`). */
export const ROUTE_PROTO = 177;

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
  /** The peer it is for (errors are reported per peer). */
  node?: string;
}

export interface Wanted {
  routes: WantedRoute[];
  /** vxlan only */
  neighs: Array<{ dst: string; lladdr: string; node?: string }>;
  fdb: Array<{ mac: string; dst: string; node?: string }>;
  /** Peers that cannot be reached, with the reason (logged). */
  skipped: string[];
}

/** Is `ip` inside one of the networks (CIDR strings)? */
const onLink = (networks: readonly string[], ip: string): boolean => withinAny(networks, ip);

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
      w.fdb.push({ mac: p.vtepMAC, dst, node: p.node });
      for (const s of subnets) {
        const gw = subnetNetworkAddress(s);
        w.neighs.push({ dst: gw, lladdr: p.vtepMAC, node: p.node });
        w.routes.push({ dst: s, via: gw, dev: o.device, onlink: true, node: p.node });
      }
    } else {
      for (const s of subnets) {
        const fam = familyOfIP(s.split('/')[0]!);
        const via = p.publicIPs.find((ip) => familyOfIP(ip) === fam);
        if (!via) {
          w.skipped.push(`${p.node}: no IPv${fam} underlay address to route ${s} via`);
          continue;
        }
        // host-gw routes via the peer itself: it must be on this node's L2 segment (kindnet skips such peers too).
        if (o.underlay.onLink && !onLink(o.underlay.onLink, via)) {
          w.skipped.push(`${p.node}: ${via} is not on the local L2 segment of ${o.underlay.iface} (${o.underlay.onLink.join(', ') || 'no network'}); host-gw needs all nodes on one L2 network (use the vxlan backend otherwise)`);
          continue;
        }
        w.routes.push({ dst: s, via, dev: o.underlay.iface, onlink: false, node: p.node });
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
  /** The peer each ip / bridge line is for (undefined: removal of a stale entry), to report failures per peer. */
  ipNodes?: Array<string | undefined>;
  bridgeNodes?: Array<string | undefined>;
}

const routeLine = (verb: 'replace' | 'del', r: WantedRoute): string => `route ${verb} ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto ${ROUTE_PROTO}`;

/** Compare the wanted state with the current one; only the agent's own routes/entries are ever removed. */
export function diffState(want: Wanted, cur: CurrentState, o: { clusterCIDRs: readonly string[]; device: string }): Changes {
  const ch: Changes = { ip: [], bridge: [], described: [], ipNodes: [], bridgeNodes: [] };
  const ip = (line: string, node?: string): void => {
    ch.ip.push(line);
    ch.ipNodes!.push(node);
  };
  const br = (line: string, node?: string): void => {
    ch.bridge.push(line);
    ch.bridgeNodes!.push(node);
  };
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
      ip(`route del ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''} proto ${ROUTE_PROTO}`);
      ch.described.push(`remove route ${r.dst} via ${r.gateway ?? '?'} dev ${r.dev ?? '?'}`);
    }
  }
  for (const w of want.routes) {
    const c = ours.find((r) => key(r.dst) === key(w.dst));
    const same = c && sameIP(c.gateway, w.via) && c.dev === w.dev && (!w.onlink || (c.flags ?? []).includes('onlink'));
    if (!same) {
      ip(routeLine('replace', w), w.node);
      ch.described.push(`${c ? 'update' : 'add'} route ${w.dst} via ${w.via} dev ${w.dev}`);
    }
  }
  // Neighbours on our device: permanent entries are ours.
  const curNeigh = cur.neighs.filter((n) => (n.state ?? []).includes('PERMANENT'));
  for (const n of curNeigh) {
    if (!want.neighs.some((w) => sameIP(w.dst, n.dst))) {
      ip(`neigh del ${n.dst} dev ${o.device}`);
      ch.described.push(`remove neighbour ${n.dst} (${n.lladdr ?? '?'})`);
    }
  }
  for (const w of want.neighs) {
    const c = curNeigh.find((n) => sameIP(n.dst, w.dst));
    if (!c || c.lladdr?.toLowerCase() !== w.lladdr.toLowerCase()) {
      ip(`neigh replace ${w.dst} lladdr ${w.lladdr} dev ${o.device} nud permanent`, w.node);
      ch.described.push(`${c ? 'update' : 'add'} neighbour ${w.dst} → ${w.lladdr}`);
    }
  }
  // FDB entries on our device that point at a remote VTEP.
  const curFdb = cur.fdb.filter((f) => f.dst && (f.flags ?? []).includes('self'));
  for (const f of curFdb) {
    if (!want.fdb.some((w) => w.mac.toLowerCase() === f.mac.toLowerCase() && sameIP(w.dst, f.dst))) {
      br(`fdb del ${f.mac} dev ${o.device} dst ${f.dst} self`);
      ch.described.push(`remove fdb ${f.mac} → ${f.dst}`);
    }
  }
  for (const w of want.fdb) {
    if (!curFdb.some((f) => f.mac.toLowerCase() === w.mac.toLowerCase() && sameIP(w.dst, f.dst))) {
      br(`fdb append ${w.mac} dev ${o.device} dst ${w.dst} self permanent`, w.node);
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
  // iproute2 prints an IPv4 local address as "local" and an IPv6 one as "local6".
  const local = String(d.local ?? d.local6 ?? '');
  if (!sameIP(local, want.local)) diffs.push(`local ${local || 'none'}`);
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

/**
 * Forwarding sysctls (pure, from the current values; keys in slash form). IPv6: turning `all/forwarding` on makes
 * every interface with accept_ra=1 ignore router advertisements — a host whose uplink is configured by RA would lose
 * its default route — so the uplink's accept_ra goes from 1 to 2 (accept RAs even when forwarding) first.
 */
export function forwardingSysctls(clusterCIDRs: readonly string[], uplink: string, cur: ReadonlyMap<string, string>): { set: Record<string, string>; described: string[] } {
  const set: Record<string, string> = {};
  const described: string[] = [];
  if (clusterCIDRs.some((c) => !c.includes(':')) && cur.get('net/ipv4/ip_forward') !== '1') {
    set['net/ipv4/ip_forward'] = '1';
    described.push('turn IPv4 forwarding on');
  }
  if (clusterCIDRs.some((c) => c.includes(':')) && cur.get('net/ipv6/conf/all/forwarding') !== '1') {
    const ra = `net/ipv6/conf/${uplink}/accept_ra`;
    if (cur.get(ra) === '1') {
      set[ra] = '2';
      described.push(`set ${uplink} accept_ra=2 (keep accepting router advertisements once forwarding is on)`);
    }
    set['net/ipv6/conf/all/forwarding'] = '1';
    described.push('turn IPv6 forwarding on');
  }
  return { set, described };
}

/** br_netfilter: a bridge CNI needs bridged pod traffic to pass iptables (Service hairpin through kube-proxy). */
export function brNetfilterWarning(cur: ReadonlyMap<string, string>, v6: boolean): string | undefined {
  const v4 = cur.get('net/bridge/bridge-nf-call-iptables');
  if (v4 === undefined) return 'br_netfilter is not loaded (no /proc/sys/net/bridge): traffic between pods on one bridge bypasses iptables, so Services reached by a pod on the same node (kube-proxy hairpin) fail; run `modprobe br_netfilter` and add it to /etc/modules-load.d';
  const off = [v4 !== '1' ? 'net.bridge.bridge-nf-call-iptables' : '', v6 && cur.get('net/bridge/bridge-nf-call-ip6tables') !== '1' ? 'net.bridge.bridge-nf-call-ip6tables' : ''].filter(Boolean);
  if (off.length) return `${off.join(' and ')} ${off.length > 1 ? 'are' : 'is'} 0: bridged pod traffic bypasses iptables (kube-proxy Services to pods on the same node fail); set ${off.map((k) => `${k}=1`).join(' ')}`;
  return undefined;
}

/** The 1-based lines of a `-force -batch` run that failed (each failure prints "Command failed -:N"). */
export const failedBatchLines = (stderr: string): number[] => [...stderr.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1]));

/** The failures of a forced batch attributed to peers (by the line's owner); failures of lines with no owner are returned apart. */
export function attributeFailures(stderr: string, owners: ReadonlyArray<string | undefined>, lines: readonly string[], tool: string): { perPeer: Map<string, string>; other: string[] } {
  const perPeer = new Map<string, string>();
  const other: string[] = [];
  const msgs = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Command failed'));
  const failed = failedBatchLines(stderr);
  failed.forEach((n, i) => {
    const what = `${msgs[i]?.trim() ?? 'failed'} (${tool} ${lines[n - 1] ?? `line ${n}`})`;
    const node = owners[n - 1];
    if (node) perPeer.set(node, perPeer.has(node) ? `${perPeer.get(node)}; ${what}` : what);
    else other.push(what);
  });
  if (failed.length === 0 && stderr.trim()) other.push(`${tool}: ${stderr.trim()}`);
  return { perPeer, other };
}

// ---------- effects ----------

const host = Netns.host();

function ipJson<T>(args: string[]): T | undefined {
  const r = host.ip(['-j', ...args]);
  if (r.status !== 0) return undefined;
  const t = r.stdout.trim();
  return (t ? JSON.parse(t) : []) as T;
}

export interface ApplyReport {
  described: string[];
  errors: string[];
  /** Conditions the admin should fix; not errors of the agent (logged when they change, in status.json). */
  warnings?: string[];
}

/** The data path of this node (runs ip and bridge in the agent's own network namespace). */
export class DataPath {
  readonly device: string;

  constructor(
    readonly backend: Backend,
    /** Replaced when a resync finds another address or MTU (setUnderlay). */
    public underlay: Underlay,
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

  /** Forwarding on (IPv6: the uplink keeps accepting RAs), br_netfilter checked, and (vxlan) the device created or fixed. */
  setupDevice(): ApplyReport {
    const errors: string[] = [];
    const warnings: string[] = [];
    const v6 = this.clusterCIDRs.some((c) => c.includes(':'));
    const uplink = this.underlay.iface;
    const keys = ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', `net/ipv6/conf/${uplink}/accept_ra`, 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables'];
    const cur = host.sysctlRead(keys);
    const fwd = forwardingSysctls(this.clusterCIDRs, uplink, cur);
    const described = [...fwd.described];
    try {
      host.sysctlSet(fwd.set);
    } catch (e) {
      // An unprivileged container has /proc/sys read-only: say so, the node's admin has to turn forwarding on.
      errors.push(`IP forwarding is off and cannot be turned on here (${(e as Error).message}): pods cannot reach other nodes until it is on (set ${Object.keys(fwd.set).map((k) => `${k.replaceAll('/', '.')}=${fwd.set[k]}`).join(' ')})`);
    }
    const brnf = brNetfilterWarning(cur, v6);
    if (brnf) warnings.push(brnf);
    if (this.backend !== 'vxlan') return { described, errors, warnings };
    const dev = deviceLines(this.link(), this.spec());
    const r = host.ipBatch(dev.lines);
    if (r.status !== 0) throw new Error(`creating ${this.device} failed: ${r.stderr.trim()}`);
    return { described: [...described, ...dev.described], errors, warnings };
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

  /**
   * Bring routes, neighbours and FDB in line with the peers. A change that fails for one peer is reported for that
   * peer (`peerErrors`) and does not stop the others; `errors` are failures that belong to no peer.
   */
  reconcile(peers: Iterable<NodeRecord>): ApplyReport & { skipped: string[]; peerErrors: Map<string, string> } {
    const want = wantedState({ backend: this.backend, device: this.device, underlay: this.underlay, clusterCIDRs: this.clusterCIDRs, self: this.self, peers });
    const ch = diffState(want, this.readState(), { clusterCIDRs: this.clusterCIDRs, device: this.device });
    const errors: string[] = [];
    const peerErrors = new Map<string, string>();
    const collect = (stderr: string, owners: ReadonlyArray<string | undefined>, lines: readonly string[], tool: string): void => {
      const f = attributeFailures(stderr, owners, lines, tool);
      for (const [n, e] of f.perPeer) peerErrors.set(n, peerErrors.has(n) ? `${peerErrors.get(n)}; ${e}` : e);
      errors.push(...f.other);
    };
    // FDB before neighbours and routes: the first packet out already has its underlay destination.
    if (ch.bridge.length) {
      const r = run('bridge', ['-force', '-batch', '-'], { input: ch.bridge.join('\n') + '\n' });
      if (r.status !== 0) collect(r.stderr, ch.bridgeNodes ?? [], ch.bridge, 'bridge');
    }
    const r = host.ipBatch(ch.ip, true);
    if (r.status !== 0) collect(r.stderr, ch.ipNodes ?? [], ch.ip, 'ip');
    return { described: ch.described, errors, skipped: want.skipped, peerErrors };
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
