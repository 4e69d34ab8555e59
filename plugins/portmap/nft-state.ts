/** Reading portmap's nftables state from `nft -j list table` output (for DEL without config, CHECK and GC). Pure. */
import type { Family } from '../../lib/ip.js';
import {
  CHAIN_PREFIX,
  HAIRPIN_SET,
  HOSTIP_MAP,
  HOSTPORTS_MAP,
  MASQ_ALL_SET,
  REFERENCE_CHAINS,
  type MapKey,
  type Removal,
} from './nft-rules.js';

type Json = Record<string, any>;

export interface TableState {
  family: Family;
  chains: Set<string>;
  /** Rules per chain: handle, comment, dnat target address, transport protocol/port matched. */
  rules: Array<{ chain: string; handle: number; comment?: string; dnatAddr?: string; proto?: string; dport?: number }>;
  /** Verdict-map elements: map, key text, jump target. */
  elements: Array<MapKey & { target?: string }>;
  hairpin: string[];
  masqAll: string[];
}

const keyText = (k: unknown): string => {
  if (k && typeof k === 'object' && Array.isArray((k as Json).concat)) return ((k as Json).concat as unknown[]).map(String).join(' . ');
  return String(k);
};

/** Parse `nft -j list table <fam> cni_hostport`. */
export function parseTable(items: Json[], family: Family): TableState {
  const st: TableState = { family, chains: new Set(), rules: [], elements: [], hairpin: [], masqAll: [] };
  for (const item of items) {
    if (item.chain) st.chains.add(item.chain.name);
    const set = item.map ?? item.set;
    if (set) {
      const elems: unknown[] = Array.isArray(set.elem) ? set.elem : set.elem !== undefined ? [set.elem] : [];
      for (const e of elems) {
        const el = e && typeof e === 'object' && 'elem' in (e as Json) ? (e as Json).elem.val : e;
        if (set.name === HOSTPORTS_MAP || set.name === HOSTIP_MAP) {
          if (!Array.isArray(el)) continue;
          st.elements.push({ map: set.name, key: keyText(el[0]), target: el[1]?.jump?.target });
        } else if (set.name === HAIRPIN_SET) st.hairpin.push(keyText(el));
        else if (set.name === MASQ_ALL_SET) st.masqAll.push(keyText(el));
      }
    }
    if (item.rule) {
      const r = item.rule;
      const rule: TableState['rules'][number] = { chain: r.chain, handle: r.handle };
      if (typeof r.comment === 'string') rule.comment = r.comment;
      for (const x of (r.expr ?? []) as Json[]) {
        if (x.dnat && typeof x.dnat.addr === 'string') rule.dnatAddr = x.dnat.addr;
        const left = x.match?.left?.payload;
        if (left && left.field === 'dport' && typeof x.match.right === 'number') {
          rule.proto = left.protocol;
          rule.dport = x.match.right;
        }
        const meta = x.match?.left?.meta;
        if (meta && meta.key === 'l4proto' && typeof x.match.right === 'string') rule.proto = x.match.right;
      }
      st.rules.push(rule);
    }
  }
  return st;
}

/** Everything in a table that belongs to the attachment whose chain is `chain` and whose container ID is `containerId`. */
export function removalFromState(st: TableState, chain: string, containerId: string): Removal {
  const own = st.rules.filter((r) => r.chain === chain);
  const ips = new Set(own.map((r) => r.dnatAddr).filter((a): a is string => !!a));
  const pairTarget = (pair: string): string => pair.split(' . ')[1] ?? '';
  return {
    family: st.family,
    ...(st.chains.has(chain) ? { chain } : {}),
    keys: st.elements.filter((e) => e.target === chain).map(({ map, key }) => ({ map, key })),
    hairpin: st.hairpin.filter((p) => ips.has(pairTarget(p))),
    masqAll: st.masqAll.filter((a) => ips.has(a)),
    ruleHandles: st.rules
      .filter((r) => (REFERENCE_CHAINS as readonly string[]).includes(r.chain) && r.comment === containerId)
      .map((r) => ({ chain: r.chain, handle: r.handle })),
  };
}

/** UDP host ports an attachment's chain forwards (for conntrack flushing on DEL). */
export const udpPortsOf = (st: TableState, chain: string): number[] =>
  st.rules.filter((r) => r.chain === chain && r.proto === 'udp' && r.dport !== undefined).map((r) => r.dport!);

/** Our per-attachment chains and the container ID their rules are commented with. */
export function attachmentChains(st: TableState): Array<{ chain: string; containerId?: string }> {
  return [...st.chains]
    .filter((c) => c.startsWith(CHAIN_PREFIX))
    .map((chain) => {
      const id = st.rules.find((r) => r.chain === chain && r.comment)?.comment;
      return id ? { chain, containerId: id } : { chain };
    });
}
