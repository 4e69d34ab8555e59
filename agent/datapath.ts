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
import { formatIP, ipEqual, networkOf, parseCIDR, parseIP, type CIDR } from '../lib/ip.js';
import type { IpLink, IpRoute } from '../lib/iface.js';
import { Netns } from '../lib/netns.js';
import { run } from '../lib/exec.js';
import { vxlanDevice, type Backend } from './config.js';
import { kernelReader, type Fdb, type KernelReader, type Neigh } from './kernel-state.js';

export type { Fdb, Neigh } from './kernel-state.js';
import type { NodeRecord } from './store/types.js';
import { subnetNetworkAddress } from './subnets.js';
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

export function wantedState(o: { backend: Backend; device: string; underlay: Underlay; clusterCIDRs: readonly string[]; self: string; peers: Iterable<NodeRecord> }): Wanted {
  const w: Wanted = { routes: [], neighs: [], fdb: [], skipped: [] };
  const inCluster = insideAny(o.clusterCIDRs);
  const localFamily = familyOfIP(o.underlay.publicIPs[0] ?? '0.0.0.0');
  const onLink = o.underlay.onLink ? insideAny(o.underlay.onLink) : undefined;
  for (const p of o.peers) {
    if (p.node === o.self) continue;
    const subnets = p.subnets.filter((s) => inCluster(s));
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
        const gw = gatewayOf(s);
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
        if (onLink && !onLink(via)) {
          w.skipped.push(`${p.node}: ${via} is not on the local L2 segment of ${o.underlay.iface} (${o.underlay.onLink!.join(', ') || 'no network'}); host-gw needs all nodes on one L2 network (use the vxlan backend otherwise)`);
          continue;
        }
        w.routes.push({ dst: s, via, dev: o.underlay.iface, onlink: false, node: p.node });
      }
    }
  }
  return w;
}

// ---------- diff (pure) ----------

/**
 * One kernel change, structured, and its ip/bridge batch line (opLine): the line is what runs — in-process as part of
 * one batch of netlink messages (lib/rtnetlink), or by the programs. `node`: the peer it is for (a failure is
 * reported for that peer); none for the removal of a stale entry.
 */
export type Op = (
  | { kind: 'route'; verb: 'replace' | 'del'; dst: string; via?: string; dev?: string; onlink?: boolean }
  | { kind: 'neigh'; verb: 'replace' | 'del'; dst: string; lladdr?: string; dev: string }
  | { kind: 'fdb'; verb: 'append' | 'del'; mac: string; dst: string; dev: string }
) & { node?: string };

/** The `ip -batch` / `bridge -batch` line of a change. */
export function opLine(op: Op): string {
  switch (op.kind) {
    case 'route':
      return `route ${op.verb} ${op.dst}${op.via ? ` via ${op.via}` : ''}${op.dev ? ` dev ${op.dev}` : ''}${op.onlink ? ' onlink' : ''} proto ${ROUTE_PROTO}`;
    case 'neigh':
      return op.verb === 'replace' ? `neigh replace ${op.dst} lladdr ${op.lladdr} dev ${op.dev} nud permanent` : `neigh del ${op.dst} dev ${op.dev}`;
    case 'fdb':
      return op.verb === 'append' ? `fdb append ${op.mac} dev ${op.dev} dst ${op.dst} self permanent` : `fdb del ${op.mac} dev ${op.dev} dst ${op.dst} self`;
  }
}

export interface Changes {
  ip: string[];
  bridge: string[];
  /** What changes, for the log. */
  described: string[];
  /** The changes of `ip` then `bridge`, structured, in the same order. */
  ipOps?: Op[];
  bridgeOps?: Op[];
}

/** Record a change: its batch line, its structured form (not enumerable: plans compare as plain lines), the log text. */
function push(ch: Changes, op: Op, described: string): void {
  const tool = op.kind === 'fdb' ? 'bridge' : 'ip';
  ch[tool].push(opLine(op));
  const key = tool === 'ip' ? 'ipOps' : 'bridgeOps';
  if (!ch[key]) Object.defineProperty(ch, key, { value: [], enumerable: false, writable: true });
  ch[key]!.push(op);
  ch.described.push(described);
}

const V4_CANONICAL = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

const ipKeyOf = memo((s: string): string => {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : s;
});

/** An address in one canonical text form (IPv4 as written when already canonical; IPv6 compressed), for map keys. */
export function ipKey(s: string | undefined): string {
  if (!s) return '';
  return V4_CANONICAL.test(s) ? s : ipKeyOf(s);
}

/** A destination ("10.1.2.0/24", or "10.1.2.3" for a host route) in canonical "addr/len" form, for map keys. */
export function cidrKey(dst: string): string {
  const slash = dst.indexOf('/');
  const addr = slash < 0 ? dst : dst.slice(0, slash);
  if (slash >= 0 && V4_CANONICAL.test(addr)) return dst;
  const c = parseCIDR(slash < 0 ? `${dst}/${hostLen(dst)}` : dst);
  return c ? `${formatIP(c.ip)}/${c.prefix}` : dst;
}

/**
 * Remember the results of a pure function of a string (parsing with BigInt costs microseconds; a reconcile asks the
 * same questions about the same thousands of subnets every time). Forgets everything past `max` entries.
 */
function memo<T>(f: (s: string) => T, max = 100_000): (s: string) => T {
  const cache = new Map<string, T>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined && !cache.has(s)) {
      if (cache.size >= max) cache.clear();
      v = f(s);
      cache.set(s, v);
    }
    return v as T;
  };
}

const insideTests = new Map<string, (dst: string) => boolean>();

/** A test for "inside one of these CIDRs", with the CIDRs parsed once and the answers remembered. */
export function insideAny(cidrs: readonly string[]): (dst: string) => boolean {
  const key = cidrs.join(',');
  let test = insideTests.get(key);
  if (!test) {
    const nets: CIDR[] = cidrs.map((c) => parseCIDR(c)).filter((c): c is CIDR => !!c).map(networkOf);
    test = memo((dst) => {
      const c = parseCIDR(dst.includes('/') ? dst : `${dst}/${hostLen(dst)}`);
      return !!c && nets.some((n) => n.ip.family === c.ip.family && c.prefix >= n.prefix && networkOf({ ip: c.ip, prefix: n.prefix }).ip.value === n.ip.value);
    });
    insideTests.set(key, test);
  }
  return test;
}

/** A subnet's network address (the VXLAN gateway of a peer), remembered. */
const gatewayOf = memo(subnetNetworkAddress);

const fdbKey = (mac: string, dst: string | undefined): string => `${mac.toLowerCase()} ${ipKey(dst)}`;

interface WantIndex {
  wantByDst: Map<string, WantedRoute>;
  wantNeigh: Map<string, { dst: string; lladdr: string; node?: string }>;
  wantFdb: Set<string>;
}
const wantIndexes = new WeakMap<Wanted, WantIndex>();

/** The wanted state keyed for the diff, built once per wanted state (which is reused while the peers stay the same). */
function wantIndex(want: Wanted): WantIndex {
  let x = wantIndexes.get(want);
  if (!x) {
    x = {
      wantByDst: new Map(want.routes.map((r) => [cidrKey(r.dst), r])),
      wantNeigh: new Map(want.neighs.map((w) => [ipKey(w.dst), w])),
      wantFdb: new Set(want.fdb.map((w) => fdbKey(w.mac, w.dst))),
    };
    wantIndexes.set(want, x);
  }
  return x;
}

/**
 * Compare the wanted state with the current one; only the agent's own routes/entries are ever removed. Linear in the
 * number of peers (maps keyed by canonical addresses), so a reconcile with thousands of peers stays cheap.
 */
export function diffState(want: Wanted, cur: CurrentState, o: { clusterCIDRs: readonly string[]; device: string }): Changes {
  const ch: Changes = { ip: [], bridge: [], described: [] };
  // Routes: ours = proto ROUTE_PROTO (the reads are filtered by it) with a destination inside the cluster CIDR.
  const inCluster = insideAny(o.clusterCIDRs);
  const ours = cur.routes.filter((r) => inCluster(r.dst));
  const { wantByDst, wantNeigh, wantFdb } = wantIndex(want);
  const curByDst = new Map(ours.map((r) => [cidrKey(r.dst), r]));
  for (const r of ours) {
    if (!wantByDst.has(cidrKey(r.dst))) push(ch, { kind: 'route', verb: 'del', dst: r.dst, via: r.gateway, dev: r.dev }, `remove route ${r.dst} via ${r.gateway ?? '?'} dev ${r.dev ?? '?'}`);
  }
  for (const [k, w] of wantByDst) {
    const c = curByDst.get(k);
    const same = c && ipKey(c.gateway) === ipKey(w.via) && c.dev === w.dev && (!w.onlink || (c.flags ?? []).includes('onlink'));
    if (!same) push(ch, { kind: 'route', verb: 'replace', dst: w.dst, via: w.via, dev: w.dev, onlink: w.onlink, node: w.node }, `${c ? 'update' : 'add'} route ${w.dst} via ${w.via} dev ${w.dev}`);
  }
  // Neighbours on our device: permanent entries are ours.
  const curNeigh = new Map(cur.neighs.filter((n) => (n.state ?? []).includes('PERMANENT')).map((n) => [ipKey(n.dst), n]));
  for (const [k, n] of curNeigh) {
    if (!wantNeigh.has(k)) push(ch, { kind: 'neigh', verb: 'del', dst: n.dst, dev: o.device }, `remove neighbour ${n.dst} (${n.lladdr ?? '?'})`);
  }
  for (const [k, w] of wantNeigh) {
    const c = curNeigh.get(k);
    if (!c || c.lladdr?.toLowerCase() !== w.lladdr.toLowerCase()) push(ch, { kind: 'neigh', verb: 'replace', dst: w.dst, lladdr: w.lladdr, dev: o.device, node: w.node }, `${c ? 'update' : 'add'} neighbour ${w.dst} → ${w.lladdr}`);
  }
  // FDB entries on our device that point at a remote VTEP.
  const curFdb = cur.fdb.filter((f) => f.dst && (f.flags ?? []).includes('self'));
  const haveFdb = new Set(curFdb.map((f) => fdbKey(f.mac, f.dst)));
  for (const f of curFdb) {
    if (!wantFdb.has(fdbKey(f.mac, f.dst))) push(ch, { kind: 'fdb', verb: 'del', mac: f.mac, dst: f.dst!, dev: o.device }, `remove fdb ${f.mac} → ${f.dst}`);
  }
  for (const w of want.fdb) {
    if (!haveFdb.has(fdbKey(w.mac, w.dst))) push(ch, { kind: 'fdb', verb: 'append', mac: w.mac, dst: w.dst, dev: o.device, node: w.node }, `add fdb ${w.mac} → ${w.dst}`);
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

export interface ApplyReport {
  described: string[];
  errors: string[];
  /** Conditions the admin should fix; not errors of the agent (logged when they change, in status.json). */
  warnings?: string[];
}

/** What a reconcile did: failures of changes for one peer are reported for that peer (`peerErrors`), apart from `errors`. */
export interface ReconcileReport extends ApplyReport {
  skipped: string[];
  peerErrors: Map<string, string>;
}

/** The data path of this node (runs ip and bridge in the agent's own network namespace). */
export class DataPath {
  readonly device: string;

  constructor(
    readonly backend: Backend,
    /** Replaced when a resync finds another interface, address, MTU or on-link network (setUnderlay). */
    public underlay: Underlay,
    readonly clusterCIDRs: readonly string[],
    readonly vxlan: { vni: number; port: number; mac: string },
    readonly self: string,
    /** --mtu: the pods' (and the VXLAN device's) MTU; 0 = from the underlay. */
    readonly mtuOverride = 0,
    /** How the kernel state is read (in-process netlink dumps in the shipped executable, else ip/bridge). */
    readonly reader: KernelReader = kernelReader(),
  ) {
    this.device = vxlanDevice(vxlan.vni);
  }

  /** The device as read in this turn of the event loop (setupDevice, setLocalSubnets and reconcile share one read). */
  private linkCache: { link: IpLink | undefined } | undefined;

  /**
   * The underlay as detected again (every resync): taken when anything the data path uses differs (the wanted state
   * of the peers is computed again then). Returns whether it changed.
   */
  setUnderlay(u: Underlay): boolean {
    const a = this.underlay;
    const same = a.iface === u.iface && a.mtu === u.mtu && a.publicIPs.join(',') === u.publicIPs.join(',') && (a.onLink ?? []).join(',') === (u.onLink ?? []).join(',') && !a.onLink === !u.onLink;
    if (same) return false;
    this.underlay = u;
    this.lastWant = undefined;
    return true;
  }

  /** The largest pod MTU the underlay carries: its MTU, less the VXLAN overhead. */
  get maxPodMTU(): number {
    return this.backend === 'vxlan' ? vxlanMTU(this.underlay.mtu, familyOfIP(this.underlay.publicIPs[0]!)) : this.underlay.mtu;
  }

  /** MTU the pods get: --mtu, else the largest the underlay carries. */
  get podMTU(): number {
    return this.mtuOverride || this.maxPodMTU;
  }

  /** Why --mtu cannot work on this underlay (packets that large would be dropped), or undefined. */
  mtuProblem(): string | undefined {
    if (!this.mtuOverride || this.mtuOverride <= this.maxPodMTU) return undefined;
    const how = this.backend === 'vxlan' ? ` with the VXLAN overhead (${this.underlay.mtu - this.maxPodMTU} bytes)` : '';
    return `--mtu ${this.mtuOverride} is larger than the underlay ${this.underlay.iface} (MTU ${this.underlay.mtu}) carries${how}: at most ${this.maxPodMTU}`;
  }

  private spec(): VxlanSpec {
    return { name: this.device, vni: this.vxlan.vni, port: this.vxlan.port, local: this.underlay.publicIPs[0]!, iface: this.underlay.iface, mac: this.vxlan.mac, mtu: this.podMTU };
  }

  private link(): IpLink | undefined {
    if (!this.linkCache) {
      this.linkCache = { link: this.reader.link(this.device) };
      queueMicrotask(() => (this.linkCache = undefined));
    }
    return this.linkCache.link;
  }

  /** Forget the device as read: after changing it. */
  private changed(): void {
    this.linkCache = undefined;
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
    if (dev.lines.length) this.changed();
    const r = host.ipBatch(dev.lines);
    if (r.status !== 0) throw new Error(`creating ${this.device} failed: ${r.stderr.trim()}`);
    return { described: [...described, ...dev.described], errors, warnings };
  }

  /** (vxlan) this node's subnets' network addresses on the device. */
  setLocalSubnets(subnets: readonly string[]): ApplyReport {
    if (this.backend !== 'vxlan') return { described: [], errors: [] };
    const { lines, described } = deviceAddressLines(this.link(), this.device, subnets);
    if (lines.length) this.changed();
    const r = host.ipBatch(lines, true);
    return { described, errors: r.status === 0 ? [] : [r.stderr.trim()] };
  }

  /** Routes of ours, and (vxlan) the device's neighbours and FDB: each dumped once per reconcile. */
  readState(): CurrentState {
    const v6 = this.clusterCIDRs.some((c) => c.includes(':'));
    const routes = this.reader.routes(ROUTE_PROTO, v6);
    if (this.backend !== 'vxlan') return { routes, neighs: [], fdb: [] };
    const link = this.link();
    const neighs = link ? this.reader.neighs(this.device) : [];
    const fdb = link ? this.reader.fdb(this.device) : [];
    return { link, routes, neighs, fdb };
  }

  /** The wanted state of the last peers seen (a map of peers is replaced, never changed, when the peers change). */
  private lastWant: { peers: unknown; want: Wanted } | undefined;

  /**
   * Bring routes, neighbours and FDB in line with the peers. A change that fails for one peer is reported for that
   * peer (`peerErrors`) and does not stop the others; `errors` are failures that belong to no peer.
   */
  reconcile(peers: Iterable<NodeRecord> | ReadonlyMap<string, NodeRecord>): ReconcileReport {
    const isMap = peers instanceof Map;
    let want = isMap && this.lastWant?.peers === peers ? this.lastWant.want : undefined;
    if (!want) {
      want = wantedState({ backend: this.backend, device: this.device, underlay: this.underlay, clusterCIDRs: this.clusterCIDRs, self: this.self, peers: isMap ? (peers as ReadonlyMap<string, NodeRecord>).values() : (peers as Iterable<NodeRecord>) });
      if (isMap) this.lastWant = { peers, want };
    }
    const ch = diffState(want, this.readState(), { clusterCIDRs: this.clusterCIDRs, device: this.device });
    if (ch.ip.length || ch.bridge.length) this.changed();
    const { errors, peerErrors } = this.apply(ch);
    return { described: ch.described, errors, skipped: want.skipped, peerErrors };
  }

  /**
   * Make the changes: FDB entries first (the first packet out already has its underlay destination), then routes and
   * neighbours. In the shipped executable the lines go in-process as one batch of netlink messages (lib/rtnetlink, with
   * ip's error texts; no exec: under load an exec of ip takes tens of milliseconds of wall time); else one
   * `bridge -batch` and one `ip -batch`. Every change is tried; the failures
   * are returned, those of a change for a peer by peer.
   */
  private apply(ch: Changes): { errors: string[]; peerErrors: Map<string, string> } {
    const errors: string[] = [];
    const peerErrors = new Map<string, string>();
    const forPeer = (node: string | undefined, e: string): void => {
      if (!node) errors.push(e);
      else peerErrors.set(node, peerErrors.has(node) ? `${peerErrors.get(node)}; ${e}` : e);
    };
    const ops = [...(ch.bridgeOps ?? []), ...(ch.ipOps ?? [])];
    if (this.reader.kind === 'netlink' && ops.length === ch.bridge.length + ch.ip.length && ops.length) {
      // Every line in one batch of netlink messages (lib/rtnetlink, as the plugins' lines): undefined when some line
      // cannot be taken over or the socket is not available, then the programs run below.
      const lines = ops.map((op) => ({ tool: op.kind === 'fdb' ? ('bridge' as const) : ('ip' as const), line: opLine(op) }));
      try {
        const done = host.netlinkBatch(lines);
        if (done) {
          // what ip/bridge would have printed for the line (the kernel's explanation, else "RTNETLINK answers: …")
          done.forEach((err, i) => err && forPeer(ops[i]!.node, `${err.trim()} (${lines[i]!.tool} ${lines[i]!.line})`));
          return { errors, peerErrors };
        }
      } catch (e) {
        this.onNetlinkFailure?.(`changing the data path over netlink failed (${(e as Error).message}): using ip/bridge instead`);
      }
    }
    const collect = (stderr: string, ops: readonly Op[] | undefined, lines: readonly string[], tool: string): void => {
      const f = attributeFailures(stderr, (ops ?? []).map((o) => o.node), lines, tool);
      for (const [n, e] of f.perPeer) forPeer(n, e);
      errors.push(...f.other);
    };
    if (ch.bridge.length) {
      const r = run('bridge', ['-force', '-batch', '-'], { input: ch.bridge.join('\n') + '\n' });
      if (r.status !== 0) collect(r.stderr, ch.bridgeOps, ch.bridge, 'bridge');
    }
    const r = host.ipBatch(ch.ip, true);
    if (r.status !== 0) collect(r.stderr, ch.ipOps, ch.ip, 'ip');
    return { errors, peerErrors };
  }

  /** Told once when the netlink path fails and the ip/bridge execs take over (the daemon logs it). */
  onNetlinkFailure?: (msg: string) => void;

  /** --cleanup: the VXLAN device (with its neighbours and FDB) and every route of ours inside the cluster CIDR. */
  teardown(): ApplyReport {
    const described: string[] = [];
    const errors: string[] = [];
    const cur = this.readState();
    const ch = diffState({ routes: [], neighs: [], fdb: [], skipped: [] }, { ...cur, neighs: [], fdb: [] }, { clusterCIDRs: this.clusterCIDRs, device: this.device });
    const link = this.link();
    const lines = [...ch.ip];
    described.push(...ch.described);
    this.changed();
    if (link?.linkinfo?.info_kind === 'vxlan') {
      lines.push(`link del ${this.device}`);
      described.push(`remove VXLAN device ${this.device}`);
    }
    const r = host.ipBatch(lines, true);
    if (r.status !== 0) errors.push(r.stderr.trim());
    return { described, errors };
  }
}
