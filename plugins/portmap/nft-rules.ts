/**
 * nftables layout and scripts for portmap. Pure: text in, text out.
 *
 * Table `cni_hostport` in families ip and ip6 with the reference's base chains (prerouting/output → hostip_hostports,
 * hostports; masquerading), so both implementations can share a host. Our mappings add no rules to shared chains:
 * persistent dispatch rules at the head of hostip_hostports look the packet up in maps.
 *
 * - "map" layout (the common case): DNAT data maps `hostIP . proto . port : addr . port` (cnits_dnat_hostip) and
 *   `proto . port : addr . port` for local destinations (cnits_dnat); each element commented `<network>/<containerID>`.
 *   Changing a data map costs the kernel the same whatever else is installed.
 * - "chain" layout (configs with conditionsV4/V6, which a map cannot express, or a comment over nft's 128 characters):
 *   verdict maps (cnits_hostip_ports, cnits_hostports) jumping to one chain per attachment (`cnits_dn_<hash(net+id)>`)
 *   holding its DNAT rules (commented with the container ID). Jumps make each change revalidate the table's chains.
 *
 * Every host-port key an attachment holds is also in cnits_port_owner (`addr . proto . port : tag`, addr 0.0.0.0/::
 * for "any local address", tag = 32 bits of sha512(<network>/<containerID>)): one owner per key across both layouts.
 * Re-adding an owner element with a different tag fails the transaction, which is how ADD notices a port taken and
 * DEL notices it was taken over since (a DNAT map element cannot tell: two attachments may forward to the same
 * address). Hairpin/localhost masquerade is a set of (saddr . daddr) pairs. ADD and DEL are each one transaction
 * whose size depends only on this container's mappings.
 */
import { hashWithPrefix, sha512Hex } from '../../lib/hash.js';
import type { Family } from '../../lib/ip.js';
import { appliesTo, type ContainerAddress, type PortMapConf, type PortMapping } from './config.js';

export const TABLE = 'cni_hostport';
export const DNAT_HOSTIP_MAP = 'cnits_dnat_hostip';
export const DNAT_MAP = 'cnits_dnat';
export const HOSTIP_VMAP = 'cnits_hostip_ports';
export const HOSTPORTS_VMAP = 'cnits_hostports';
export const OWNER_MAP = 'cnits_port_owner';
export const HAIRPIN_SET = 'cnits_hairpin';
export const MASQ_ALL_SET = 'cnits_masq_all';
export const CHAIN_PREFIX = 'cnits_dn_';
/** Maps that send a host-port key somewhere: DNAT data maps (map layout) and verdict maps (chain layout). */
export const PORT_MAPS = [DNAT_HOSTIP_MAP, DNAT_MAP, HOSTIP_VMAP, HOSTPORTS_VMAP] as const;
export const DNAT_MAPS: readonly string[] = [DNAT_HOSTIP_MAP, DNAT_MAP];
/** Comment on our shared (dispatch/masquerade) rules; contains spaces, so it never equals a container ID. */
export const SHARED_COMMENT = 'cni-ts portmap';
/** nft refuses longer comments; an attachment whose `<network>/<id>` is longer uses the chain layout. */
export const MAX_COMMENT = 128;
/** Chains where the reference nft portmap puts per-container rules commented with the container ID. */
export const REFERENCE_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'] as const;

export const nftFamily = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family): string => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
export const anyAddr = (f: Family): string => (f === 4 ? '0.0.0.0' : '::');
const localhost = (f: Family): string | undefined => (f === 4 ? '127.0.0.1' : undefined);
const hostPort = (f: Family, ip: string, port: number): string => (f === 4 ? `${ip}:${port}` : `[${ip}]:${port}`);

/** Per-attachment chain (chain layout): network name and container ID hashed, as the reference's CNI-DN-<hash> chain. */
export const containerChain = (netName: string, containerId: string): string => hashWithPrefix(CHAIN_PREFIX.length + 24, CHAIN_PREFIX, netName + containerId);

/** Who an attachment is in the table: its chain (chain layout), element comment (map layout) and owner tag. */
export interface Attachment {
  containerId: string;
  chain: string;
  comment: string;
  tag: string;
}

export function attachment(netName: string, containerId: string): Attachment {
  const comment = `${netName}/${containerId}`;
  return { containerId, chain: containerChain(netName, containerId), comment, tag: `0x${sha512Hex(comment).slice(0, 8)}` };
}

/** The shared rules, each known by the set or map it references: dispatch (in this order) and masquerade. */
export const DISPATCH_ORDER = [DNAT_HOSTIP_MAP, HOSTIP_VMAP, DNAT_MAP, HOSTPORTS_VMAP] as const;
const MASQ_REFS = [HAIRPIN_SET, MASQ_ALL_SET] as const;
export const SHARED_REFS: ReadonlyArray<{ chain: string; ref: string }> = [
  ...DISPATCH_ORDER.map((ref) => ({ chain: 'hostip_hostports', ref })),
  ...MASQ_REFS.map((ref) => ({ chain: 'masquerading', ref })),
];

function sharedRule(f: Family, ref: string): string {
  const fam = nftFamily(f);
  const local = 'fib daddr type local';
  const tail = `comment "${SHARED_COMMENT}"`;
  switch (ref) {
    case DNAT_HOSTIP_MAP: return `dnat ${fam} to ${fam} daddr . meta l4proto . th dport map @${ref} ${tail}`;
    case HOSTIP_VMAP: return `${fam} daddr . meta l4proto . th dport vmap @${ref} ${tail}`;
    case DNAT_MAP: return `${local} dnat ${fam} to meta l4proto . th dport map @${ref} ${tail}`;
    case HOSTPORTS_VMAP: return `${local} meta l4proto . th dport vmap @${ref} ${tail}`;
    case HAIRPIN_SET: return `ct status dnat ${fam} saddr . ${fam} daddr @${ref} masquerade ${tail}`;
    default: return `ct status dnat ${fam} daddr @${ref} masquerade ${tail}`;
  }
}

/**
 * Table, maps, sets, base chains and the shared rules. Our shared rules found in the table (`oldShared`, e.g. from an
 * older layout or an incomplete set) are deleted first and all are created again, the dispatch rules at the head of
 * hostip_hostports in DISPATCH_ORDER: hostIP-specific before any-local-address.
 */
export function setupScript(f: Family, oldShared: ReadonlyArray<{ chain: string; handle: number }> = []): string {
  const fam = nftFamily(f);
  const t = `${fam} ${TABLE}`;
  const T = addrType(f);
  return lines([
    `add table ${t} { comment "CNI portmap plugin" ; }`,
    `add chain ${t} hostports`,
    `add chain ${t} hostip_hostports`,
    `add chain ${t} prerouting { type nat hook prerouting priority -100 ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting jump hostip_hostports`,
    `add rule ${t} prerouting jump hostports`,
    `add chain ${t} output { type nat hook output priority -100 ; }`,
    `flush chain ${t} output`,
    `add rule ${t} output jump hostip_hostports`,
    `add rule ${t} output fib daddr type local jump hostports`,
    `add chain ${t} masquerading { type nat hook postrouting priority 100 ; }`,
    `add map ${t} ${DNAT_HOSTIP_MAP} { type ${T} . inet_proto . inet_service : ${T} . inet_service ; }`,
    `add map ${t} ${DNAT_MAP} { type inet_proto . inet_service : ${T} . inet_service ; }`,
    `add map ${t} ${HOSTIP_VMAP} { type ${T} . inet_proto . inet_service : verdict ; }`,
    `add map ${t} ${HOSTPORTS_VMAP} { type inet_proto . inet_service : verdict ; }`,
    `add map ${t} ${OWNER_MAP} { type ${T} . inet_proto . inet_service : mark ; }`,
    `add set ${t} ${HAIRPIN_SET} { type ${T} . ${T} ; }`,
    `add set ${t} ${MASQ_ALL_SET} { type ${T} ; }`,
    ...oldShared.map((r) => `delete rule ${t} ${r.chain} handle ${r.handle}`),
    ...[...DISPATCH_ORDER].reverse().map((ref) => `insert rule ${t} hostip_hostports ${sharedRule(f, ref)}`),
    ...MASQ_REFS.map((ref) => `add rule ${t} masquerading ${sharedRule(f, ref)}`),
  ]);
}

/** One element of a map or set: its key, and for maps the data (`10.0.0.2 . 80`, `jump <chain>`, an owner tag). */
export interface Elem {
  map: string;
  key: string;
  value?: string;
  comment?: string;
}

export interface ContainerObjects {
  family: Family;
  /** The container's address in this family. */
  addr: string;
  who: Attachment;
  /** Chain layout: the attachment's chain and its rules. Absent in the map layout. */
  chain?: string;
  rules: string[];
  /** One element per host-port key: in a DNAT map (map layout) or a verdict map (chain layout). */
  ports: Elem[];
  /** The owner-map element of each key in `ports`. */
  owners: Elem[];
  hairpin: string[];
  masqAll: string[];
}

/** The owner-map key of a port element: hostIP-specific keys as they are, local ones with the unspecified address. */
export const ownerKey = (f: Family, e: Pick<Elem, 'map' | 'key'>): string =>
  e.map === DNAT_HOSTIP_MAP || e.map === HOSTIP_VMAP ? e.key : `${anyAddr(f)} . ${e.key}`;

/** Protocol and host port of a port element's key (`[hostIP . ]proto . port`). */
export function keyPort(key: string): { proto: string; port: number } {
  const parts = key.split(' . ');
  return { proto: parts[parts.length - 2] ?? '', port: Number(parts[parts.length - 1]) };
}

/** Does this attachment use the chain layout in this family? */
export const usesChain = (conf: PortMapConf, who: Attachment, f: Family): boolean =>
  (f === 4 ? conf.conditionsV4 : conf.conditionsV6).length > 0 || who.comment.length > MAX_COMMENT;

/** Everything one attachment owns in one family's table. */
export function containerObjects(conf: PortMapConf, containerId: string, addr: ContainerAddress): ContainerObjects {
  const f = addr.family;
  const fam = nftFamily(f);
  const who = attachment(conf.name, containerId);
  const chain = usesChain(conf, who, f) ? who.chain : undefined;
  const conds = (f === 4 ? conf.conditionsV4 : conf.conditionsV6).join(' ');
  const rules: string[] = [];
  const ports = new Map<string, Elem>();
  for (const m of conf.mappings) {
    if (!appliesTo(m, f)) continue;
    const key = portKey(m);
    const hostip = m.hostIP !== undefined;
    const map = chain ? (hostip ? HOSTIP_VMAP : HOSTPORTS_VMAP) : hostip ? DNAT_HOSTIP_MAP : DNAT_MAP;
    if (ports.has(`${map} ${key}`)) continue; // the first mapping of a host port wins, as the first matching rule would
    if (chain) {
      ports.set(`${map} ${key}`, { map, key, value: `jump ${chain}` });
      const match = [conds, hostip ? `${fam} daddr ${m.hostIP}` : '', `meta l4proto ${m.protocol} th dport ${m.hostPort}`].filter(Boolean).join(' ');
      rules.push(`${match} dnat to ${hostPort(f, addr.ip, m.containerPort)} comment "${containerId}"`);
    } else {
      ports.set(`${map} ${key}`, { map, key, value: `${addr.ip} . ${m.containerPort}`, comment: who.comment });
    }
  }
  const any = ports.size > 0;
  const lo = localhost(f);
  return {
    family: f,
    addr: addr.ip,
    who,
    ...(chain ? { chain } : {}),
    rules,
    ports: [...ports.values()],
    owners: [...ports.values()].map((p) => ({ map: OWNER_MAP, key: ownerKey(f, p), value: who.tag })),
    hairpin: conf.snat && !conf.masqAll && any ? [`${addr.ip} . ${addr.ip}`, ...(lo ? [`${lo} . ${addr.ip}`] : [])] : [],
    masqAll: conf.snat && conf.masqAll && any ? [addr.ip] : [],
  };
}

const portKey = (m: Pick<PortMapping, 'hostIP' | 'protocol' | 'hostPort'>): string =>
  m.hostIP ? `${m.hostIP} . ${m.protocol} . ${m.hostPort}` : `${m.protocol} . ${m.hostPort}`;

const lines = (ls: string[]): string => ls.map((l) => l + '\n').join('');

const elemText = (e: Elem, withData: boolean): string =>
  withData ? `${e.key}${e.comment ? ` comment "${e.comment}"` : ''}${e.value !== undefined ? ` : ${e.value}` : ''}` : e.key;

/** `add`/`delete element` lines, one per map, maps in order of first appearance. */
function elements(t: string, verb: 'add' | 'delete', elems: readonly Elem[]): string[] {
  const byMap = new Map<string, string[]>();
  for (const e of elems) {
    const list = byMap.get(e.map) ?? [];
    list.push(elemText(e, verb === 'add'));
    byMap.set(e.map, list);
  }
  return [...byMap].map(([map, items]) => `${verb} element ${t} ${map} { ${items.join(', ')} }`);
}

const setElems = (map: string, keys: readonly string[]): Elem[] => keys.map((key) => ({ map, key }));

/**
 * ADD for one family: the owner elements, then the DNAT map elements (map layout) or the chain, its rules and the
 * verdict-map elements (chain layout). `replace` lists elements found in the way (another attachment's, or stale
 * ones of this attachment with other data): they are deleted first, so the newest container gets the host port (as
 * the reference's prepended iptables rules give it) instead of the ADD failing on a stale mapping.
 */
export function addScript(o: ContainerObjects, replace: readonly Elem[] = []): string {
  const t = `${nftFamily(o.family)} ${TABLE}`;
  return lines([
    ...elements(t, 'delete', replace),
    ...elements(t, 'add', o.owners),
    ...(o.chain ? [`add chain ${t} ${o.chain}`, `flush chain ${t} ${o.chain}`, ...o.rules.map((r) => `add rule ${t} ${o.chain} ${r}`)] : []),
    ...elements(t, 'add', [...o.ports, ...setElems(HAIRPIN_SET, o.hairpin), ...setElems(MASQ_ALL_SET, o.masqAll)]),
  ]);
}

/** What a DEL removes in one family (from the config, or found in the table). */
export interface Removal {
  family: Family;
  chain?: string;
  /** Added (with this attachment's data) before deleting: they clash, failing the transaction, if no longer ours. */
  guard: Elem[];
  /** Elements to delete (by key). */
  elems: Elem[];
  /** Handles of reference-style rules (comment == container ID) in the shared chains. */
  ruleHandles: Array<{ chain: string; handle: number }>;
}

/**
 * The removal of what ADD made. Guards: the owner elements, and in the chain layout the verdict-map elements too
 * (tables made by older versions have no owner elements). The DNAT elements are deleted unguarded: were one missing
 * (or made by an older layout) the deletion fails and the caller reads the table instead.
 */
export const removalOf = (o: ContainerObjects): Removal => ({
  family: o.family,
  ...(o.chain ? { chain: o.chain } : {}),
  guard: [...o.owners, ...(o.chain ? o.ports : [])],
  elems: [...o.owners, ...o.ports, ...setElems(HAIRPIN_SET, o.hairpin), ...setElems(MASQ_ALL_SET, o.masqAll)],
  ruleHandles: [],
});

/**
 * DEL for one family. Map elements are deleted by key only, so the guard elements are first re-added with this
 * attachment's data: if another container has taken a host port over since, that add clashes and the whole
 * transaction fails (the caller then reads the table), instead of deleting the other container's mapping.
 */
export function deleteScript(r: Removal): string {
  const t = `${nftFamily(r.family)} ${TABLE}`;
  return lines([
    ...elements(t, 'add', r.guard),
    ...elements(t, 'delete', r.elems),
    ...r.ruleHandles.map((h) => `delete rule ${t} ${h.chain} handle ${h.handle}`),
    ...(r.chain ? [`flush chain ${t} ${r.chain}`, `delete chain ${t} ${r.chain}`] : []),
  ]);
}

export const isEmptyRemoval = (r: Removal): boolean => !r.chain && !r.elems.length && !r.ruleHandles.length;
