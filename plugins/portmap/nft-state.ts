/** Reading portmap's nftables state from `nft -j list table` output (for slow-path ADD, DEL without config, CHECK, GC). Pure. */
import type { Family } from '../../lib/ip.js';
import {
  CHAIN_PREFIX,
  DNAT_MAPS,
  HAIRPIN_SET,
  MASQ_ALL_SET,
  OWNER_MAP,
  PORT_MAPS,
  REFERENCE_CHAINS,
  SHARED_COMMENT,
  SHARED_REFS,
  containerChain,
  keyPort,
  ownerKey,
  type Attachment,
  type ContainerObjects,
  type Elem,
  type Removal,
} from './nft-rules.js';

type Json = Record<string, any>;

export interface TableRule {
  chain: string;
  handle: number;
  comment?: string;
  /** DNAT target address of a `dnat to ADDR:PORT` rule. */
  dnatAddr?: string;
  /** Sets and maps the rule references (`@name`). */
  refs: string[];
}

export interface TableState {
  family: Family;
  chains: Set<string>;
  /** Names of the sets and maps in the table. */
  sets: Set<string>;
  /** Rules in listing order (chain by chain, in rule order). */
  rules: TableRule[];
  /** Elements of our maps and sets (PORT_MAPS, OWNER_MAP, HAIRPIN_SET, MASQ_ALL_SET). */
  elements: Elem[];
}

const OUR_SETS = new Set<string>([...PORT_MAPS, OWNER_MAP, HAIRPIN_SET, MASQ_ALL_SET]);

const keyText = (k: unknown): string => {
  if (k && typeof k === 'object' && Array.isArray((k as Json).concat)) return ((k as Json).concat as unknown[]).map(String).join(' . ');
  return String(k);
};

/** Map data as our scripts write it: `addr . port`, `jump <chain>`, or an owner tag `0x%08x`. */
function valueText(v: unknown): string {
  if (typeof v === 'number') return `0x${v.toString(16).padStart(8, '0')}`;
  if (v && typeof v === 'object') {
    const o = v as Json;
    if (o.jump) return `jump ${o.jump.target}`;
    if (o.goto) return `goto ${o.goto.target}`;
  }
  return keyText(v);
}

/** Every `@name` reference anywhere in a rule's expressions. */
function refsOf(x: unknown, out: string[] = []): string[] {
  if (typeof x === 'string') {
    if (x.startsWith('@')) out.push(x.slice(1));
  } else if (Array.isArray(x)) for (const y of x) refsOf(y, out);
  else if (x && typeof x === 'object') for (const y of Object.values(x)) refsOf(y, out);
  return out;
}

function parseElem(map: string, e: unknown): Elem {
  const [k, v] = Array.isArray(e) ? e : [e, undefined];
  const wrapped = k && typeof k === 'object' && 'elem' in (k as Json) ? (k as Json).elem : undefined;
  const out: Elem = { map, key: keyText(wrapped ? wrapped.val : k) };
  if (v !== undefined) out.value = valueText(v);
  if (typeof wrapped?.comment === 'string') out.comment = wrapped.comment;
  return out;
}

/** Parse `nft -j list table <fam> cni_hostport`. */
export function parseTable(items: Json[], family: Family): TableState {
  const st: TableState = { family, chains: new Set(), sets: new Set(), rules: [], elements: [] };
  for (const item of items) {
    if (item.chain) st.chains.add(item.chain.name);
    const set = item.map ?? item.set;
    if (set) {
      st.sets.add(set.name);
      if (!OUR_SETS.has(set.name)) continue;
      const elems: unknown[] = Array.isArray(set.elem) ? set.elem : set.elem !== undefined ? [set.elem] : [];
      for (const e of elems) st.elements.push(parseElem(set.name, e));
    }
    if (item.rule) {
      const r = item.rule;
      const rule: TableRule = { chain: r.chain, handle: r.handle, refs: refsOf(r.expr) };
      if (typeof r.comment === 'string') rule.comment = r.comment;
      for (const x of (r.expr ?? []) as Json[]) if (x.dnat && typeof x.dnat.addr === 'string') rule.dnatAddr = x.dnat.addr;
      st.rules.push(rule);
    }
  }
  return st;
}

/** Our shared rules (dispatch and masquerade) found in the table. */
export const sharedRules = (st: TableState): TableRule[] => st.rules.filter((r) => r.comment === SHARED_COMMENT);

/** Does the table have all our maps and sets, and exactly our current shared rules, the dispatch rules in order? */
export function isSetUp(st: TableState | undefined): boolean {
  if (!st || !st.chains.has('hostip_hostports') || !st.chains.has('masquerading')) return false;
  if (![...OUR_SETS].every((s) => st.sets.has(s))) return false;
  // per chain, in rule order (the order of the chains in the listing depends on who created the table)
  const ours = sharedRules(st);
  return [...new Set(SHARED_REFS.map((s) => s.chain))].every(
    (chain) =>
      ours.filter((r) => r.chain === chain).map((r) => r.refs.join(',')).join(' ') ===
      SHARED_REFS.filter((s) => s.chain === chain).map((s) => s.ref).join(' '),
  ) && ours.every((r) => SHARED_REFS.some((s) => s.chain === r.chain));
}

const isPortElem = (e: Elem): boolean => (PORT_MAPS as readonly string[]).includes(e.map);
const isDnatElem = (e: Elem): boolean => DNAT_MAPS.includes(e.map);
const dnatAddr = (e: Elem): string => (e.value ?? '').split(' . ')[0]!;
const pairTarget = (pair: string): string => pair.split(' . ')[1] ?? '';

/** Is a port element this attachment's (its comment in the map layout, a jump to its chain in the chain layout)? */
const ownsPort = (who: Attachment, e: Elem): boolean => (isDnatElem(e) ? e.comment === who.comment : e.value === `jump ${who.chain}`);

/**
 * Everything in a table that belongs to the attachment `who`, in both layouts, plus reference-style rules commented
 * with its container ID. `known` (from the DEL's config, when it has one) adds the configured address, so the hairpin
 * entries go even when all its host ports were taken over. Hairpin/masquerade entries for an address another
 * attachment still forwards to are kept.
 */
export function removalFromState(st: TableState, who: Attachment, known?: ContainerObjects): Removal {
  const f = st.family;
  const ports = st.elements.filter((e) => isPortElem(e) && ownsPort(who, e));
  const ownRules = st.rules.filter((r) => r.chain === who.chain);
  const keys = new Set([...ports, ...(known?.ports ?? [])].map((p) => ownerKey(f, p)));
  const forwarded = new Set(st.elements.filter(isPortElem).map((e) => ownerKey(f, e)));
  // owner elements with our tag: for our keys, or orphans (nobody forwards the key any more)
  const owners = st.elements.filter((e) => e.map === OWNER_MAP && e.value === who.tag && (keys.has(e.key) || !forwarded.has(e.key)));
  const mine = new Set<string>([
    ...ports.filter(isDnatElem).map(dnatAddr),
    ...ownRules.flatMap((r) => (r.dnatAddr ? [r.dnatAddr] : [])),
    ...(known && known.ports.length ? [known.addr] : []),
  ]);
  const others = new Set<string>([
    ...st.elements.filter((e) => isDnatElem(e) && !ownsPort(who, e)).map(dnatAddr),
    ...st.rules.filter((r) => r.chain !== who.chain && r.chain.startsWith(CHAIN_PREFIX) && r.dnatAddr).map((r) => r.dnatAddr!),
  ]);
  const onlyMine = (a: string): boolean => mine.has(a) && !others.has(a);
  return {
    family: f,
    ...(st.chains.has(who.chain) ? { chain: who.chain } : {}),
    guard: [],
    elems: [
      ...owners,
      ...ports,
      ...st.elements.filter((e) => e.map === HAIRPIN_SET && onlyMine(pairTarget(e.key))),
      ...st.elements.filter((e) => e.map === MASQ_ALL_SET && onlyMine(e.key)),
    ].map(({ map, key }) => ({ map, key })),
    ruleHandles: st.rules
      .filter((r) => (REFERENCE_CHAINS as readonly string[]).includes(r.chain) && r.comment === who.containerId)
      .map((r) => ({ chain: r.chain, handle: r.handle })),
  };
}

/** UDP host ports a removal stops forwarding (for conntrack flushing on DEL). */
export const udpPortsOf = (r: Removal): number[] =>
  r.elems.filter(isPortElem).map((e) => keyPort(e.key)).filter((k) => k.proto === 'udp').map((k) => k.port);

/** Container IDs of this network's attachments in the table (both layouts). */
export function attachmentIds(st: TableState, netName: string): string[] {
  const ids = new Set<string>();
  const prefix = `${netName}/`;
  for (const e of st.elements) if (isDnatElem(e) && e.comment?.startsWith(prefix)) ids.add(e.comment.slice(prefix.length));
  for (const chain of st.chains) {
    if (!chain.startsWith(CHAIN_PREFIX)) continue;
    // the chain name hashes network + ID: chains of other networks, or that we cannot attribute, are left alone
    const id = st.rules.find((r) => r.chain === chain && r.comment)?.comment;
    if (id && containerChain(netName, id) === chain) ids.add(id);
  }
  return [...ids];
}

/** The container ID an element of another attachment belongs to (for the log), if the table tells. */
function holderOf(st: TableState, e: Elem): string | undefined {
  if (isDnatElem(e)) return e.comment?.slice(e.comment.indexOf('/') + 1);
  const chain = e.value?.startsWith('jump ') ? e.value.slice(5) : undefined;
  return (chain && st.rules.find((r) => r.chain === chain && r.comment)?.comment) ?? chain;
}

/**
 * Elements in the way of ADDing `o` (same host-port key, in either layout, or its owner element, held by another
 * attachment or left by this one with other data), and a note for each port taken from another container.
 */
export function inTheWay(st: TableState | undefined, o: ContainerObjects): { replace: Elem[]; notes: string[] } {
  const out: { replace: Elem[]; notes: string[] } = { replace: [], notes: [] };
  if (!st) return out;
  const f = o.family;
  const same = (a: Elem, b: Elem): boolean => a.map === b.map && a.key === b.key && a.value === b.value && a.comment === b.comment;
  for (const [p, owner] of o.ports.map((p, i) => [p, o.owners[i]!] as const)) {
    const k = ownerKey(f, p);
    const found = st.elements.filter((e) => (isPortElem(e) && ownerKey(f, e) === k && !same(e, p)) || (e.map === OWNER_MAP && e.key === k && e.value !== owner.value));
    for (const e of found) {
      out.replace.push({ map: e.map, key: e.key });
      if (isPortElem(e) && !ownsPort(o.who, e)) {
        out.notes.push(`${p.key.replace(/ \. /g, ' ')} (IPv${f}) taken over from container ${holderOf(st, e) ?? '?'}`);
      }
    }
  }
  return out;
}
