/**
 * nftables layout and scripts for portmap. Pure: text in, text out.
 *
 * Table `cni_hostport` in families ip and ip6 with the reference's base chains (prerouting/output → hostip_hostports,
 * hostports; masquerading), so both implementations can share a host. Our mappings do not add rules to shared
 * chains: two persistent dispatch rules at the head of hostip_hostports look the packet up in verdict maps
 * (hostIP . proto . port, and proto . port for local destinations) that jump to one chain per attachment
 * (`cnits_dn_<hash(net+id)>`) holding its DNAT rules. Hairpin/localhost masquerade is a set of (saddr . daddr)
 * pairs. ADD = add chain + rules + elements; DEL = delete elements + chain, each one transaction whose size
 * depends only on this container's mappings, never on how many others exist.
 */
import { sha512Hex } from '../../lib/hash.js';
import type { Family } from '../../lib/ip.js';
import { appliesTo, type ContainerAddress, type PortMapConf, type PortMapping, type Protocol } from './config.js';

export const TABLE = 'cni_hostport';
export const HOSTPORTS_MAP = 'cnits_hostports';
export const HOSTIP_MAP = 'cnits_hostip_ports';
export const HAIRPIN_SET = 'cnits_hairpin';
export const MASQ_ALL_SET = 'cnits_masq_all';
export const CHAIN_PREFIX = 'cnits_dn_';
/** Comment on our shared (dispatch/masquerade) rules; contains spaces, so it never equals a container ID. */
export const SHARED_COMMENT = 'cni-ts portmap';
/** Chains where the reference nft portmap puts per-container rules commented with the container ID. */
export const REFERENCE_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'] as const;

export const nftFamily = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family): string => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const localhost = (f: Family): string | undefined => (f === 4 ? '127.0.0.1' : undefined);
const hostPort = (f: Family, ip: string, port: number): string => (f === 4 ? `${ip}:${port}` : `[${ip}]:${port}`);

/** Per-attachment chain: network name and container ID hashed, as the reference's CNI-DN-<hash> chain. */
export const containerChain = (netName: string, containerId: string): string => `${CHAIN_PREFIX}${sha512Hex(netName + containerId).slice(0, 24)}`;

/** Table, maps, sets, base chains and the shared rules. Idempotent except for the dispatch rules (run once per table). */
export function setupScript(f: Family): string {
  const fam = nftFamily(f);
  const t = `${fam} ${TABLE}`;
  const T = addrType(f);
  return [
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
    `add map ${t} ${HOSTIP_MAP} { type ${T} . inet_proto . inet_service : verdict ; }`,
    `add map ${t} ${HOSTPORTS_MAP} { type inet_proto . inet_service : verdict ; }`,
    `add set ${t} ${HAIRPIN_SET} { type ${T} . ${T} ; }`,
    `add set ${t} ${MASQ_ALL_SET} { type ${T} ; }`,
    `insert rule ${t} hostip_hostports fib daddr type local meta l4proto . th dport vmap @${HOSTPORTS_MAP} comment "${SHARED_COMMENT}"`,
    `insert rule ${t} hostip_hostports ${fam} daddr . meta l4proto . th dport vmap @${HOSTIP_MAP} comment "${SHARED_COMMENT}"`,
    `add rule ${t} masquerading ct status dnat ${fam} saddr . ${fam} daddr @${HAIRPIN_SET} masquerade comment "${SHARED_COMMENT}"`,
    `add rule ${t} masquerading ct status dnat ${fam} daddr @${MASQ_ALL_SET} masquerade comment "${SHARED_COMMENT}"`,
  ]
    .map((l) => l + '\n')
    .join('');
}

/** A verdict-map key: which map and the key text. */
export interface MapKey {
  map: typeof HOSTPORTS_MAP | typeof HOSTIP_MAP;
  key: string;
}

export interface ContainerObjects {
  family: Family;
  chain: string;
  rules: string[];
  keys: MapKey[];
  hairpin: string[];
  masqAll: string[];
}

const mapKey = (m: Pick<PortMapping, 'hostIP' | 'protocol' | 'hostPort'>): MapKey =>
  m.hostIP ? { map: HOSTIP_MAP, key: `${m.hostIP} . ${m.protocol} . ${m.hostPort}` } : { map: HOSTPORTS_MAP, key: `${m.protocol} . ${m.hostPort}` };

/** Everything one attachment owns in one family's table. */
export function containerObjects(conf: PortMapConf, containerId: string, addr: ContainerAddress): ContainerObjects {
  const f = addr.family;
  const fam = nftFamily(f);
  const conds = (f === 4 ? conf.conditionsV4 : conf.conditionsV6).join(' ');
  const rules: string[] = [];
  const keys = new Map<string, MapKey>();
  for (const m of conf.mappings) {
    if (!appliesTo(m, f)) continue;
    const k = mapKey(m);
    const id = `${k.map} ${k.key}`;
    if (keys.has(id)) continue; // the first mapping of a host port wins, as the first matching rule would
    keys.set(id, k);
    const match = [conds, m.hostIP ? `${fam} daddr ${m.hostIP}` : '', `meta l4proto ${m.protocol} th dport ${m.hostPort}`].filter(Boolean).join(' ');
    rules.push(`${match} dnat to ${hostPort(f, addr.ip, m.containerPort)} comment "${containerId}"`);
  }
  const lo = localhost(f);
  const hairpin = conf.snat && !conf.masqAll && rules.length ? [`${addr.ip} . ${addr.ip}`, ...(lo ? [`${lo} . ${addr.ip}`] : [])] : [];
  const masqAll = conf.snat && conf.masqAll && rules.length ? [addr.ip] : [];
  return { family: f, chain: containerChain(conf.name, containerId), rules, keys: [...keys.values()], hairpin, masqAll };
}

const elements = (t: string, verb: 'add' | 'delete', set: string, items: string[]): string[] =>
  items.length ? [`${verb} element ${t} ${set} { ${items.join(', ')} }`] : [];

/**
 * ADD for one family: (re)fill the attachment's chain and point the map elements at it. `takeOver` lists keys
 * another attachment holds: they are deleted first, so the newest container gets the host port (as the reference's
 * prepended iptables rules give it) instead of the ADD failing on a stale mapping.
 */
export function addScript(o: ContainerObjects, takeOver: MapKey[] = []): string {
  const t = `${nftFamily(o.family)} ${TABLE}`;
  const byMap = (map: string): string[] => o.keys.filter((k) => k.map === map).map((k) => `${k.key} : jump ${o.chain}`);
  const taken = (map: string): string[] => takeOver.filter((k) => k.map === map).map((k) => k.key);
  return [
    ...elements(t, 'delete', HOSTPORTS_MAP, taken(HOSTPORTS_MAP)),
    ...elements(t, 'delete', HOSTIP_MAP, taken(HOSTIP_MAP)),
    `add chain ${t} ${o.chain}`,
    `flush chain ${t} ${o.chain}`,
    ...o.rules.map((r) => `add rule ${t} ${o.chain} ${r}`),
    ...elements(t, 'add', HOSTPORTS_MAP, byMap(HOSTPORTS_MAP)),
    ...elements(t, 'add', HOSTIP_MAP, byMap(HOSTIP_MAP)),
    ...elements(t, 'add', HAIRPIN_SET, o.hairpin),
    ...elements(t, 'add', MASQ_ALL_SET, o.masqAll),
  ]
    .map((l) => l + '\n')
    .join('');
}

/** What a DEL removes in one family (from the config, or found in the table). */
export interface Removal {
  family: Family;
  chain?: string;
  keys: MapKey[];
  hairpin: string[];
  masqAll: string[];
  /** Handles of reference-style rules (comment == container ID) in the shared chains. */
  ruleHandles: Array<{ chain: string; handle: number }>;
}

export const removalOf = (o: ContainerObjects): Removal => ({
  family: o.family,
  chain: o.chain,
  keys: o.keys,
  hairpin: o.hairpin,
  masqAll: o.masqAll,
  ruleHandles: [],
});

/**
 * DEL for one family. Map elements are deleted by key only, so each is first re-added with this attachment's
 * verdict: if another container has taken the host port over since, that add clashes and the whole transaction
 * fails (the caller then reads the table), instead of deleting the other container's mapping.
 */
export function deleteScript(r: Removal): string {
  const t = `${nftFamily(r.family)} ${TABLE}`;
  const byMap = (map: string): string[] => r.keys.filter((k) => k.map === map).map((k) => k.key);
  const guard = (map: string): string[] => (r.chain ? elements(t, 'add', map, byMap(map).map((k) => `${k} : jump ${r.chain}`)) : []);
  return [
    ...guard(HOSTPORTS_MAP),
    ...guard(HOSTIP_MAP),
    ...elements(t, 'delete', HOSTPORTS_MAP, byMap(HOSTPORTS_MAP)),
    ...elements(t, 'delete', HOSTIP_MAP, byMap(HOSTIP_MAP)),
    ...elements(t, 'delete', HAIRPIN_SET, r.hairpin),
    ...elements(t, 'delete', MASQ_ALL_SET, r.masqAll),
    ...r.ruleHandles.map((h) => `delete rule ${t} ${h.chain} handle ${h.handle}`),
    ...(r.chain ? [`flush chain ${t} ${r.chain}`, `delete chain ${t} ${r.chain}`] : []),
  ]
    .map((l) => l + '\n')
    .join('');
}

export const isEmptyRemoval = (r: Removal): boolean =>
  !r.chain && !r.keys.length && !r.hairpin.length && !r.masqAll.length && !r.ruleHandles.length;

export type { Protocol };
