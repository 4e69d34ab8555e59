/**
 * Masquerade of pod traffic leaving the cluster: one nft table of ours, `inet cni_ts_agent`, replaced whole in one
 * `nft -f -` transaction (so it is never half there and never duplicated). Pod → pod across nodes keeps the pod's
 * source address; pod → anything outside the cluster CIDRs (except multicast) is masqueraded. Nothing outside this
 * table is touched; --cleanup deletes the table.
 */
import { nft, nftApply, nftJson } from '../lib/netfilter.js';

export const MASQ_TABLE = 'cni_ts_agent';
const TABLE_COMMENT = 'cni-ts-agent: masquerade pod traffic leaving the cluster CIDR';

export interface MasqOptions {
  /** More destinations pods reach with their own address (--no-masquerade-cidr); each applies to its family. */
  noMasq?: readonly string[];
  /** `masquerade fully-random` (--masq-fully-random). */
  fullyRandom?: boolean;
}

/** The whole transaction: make sure the table exists, delete it, declare it again with its rules. Pure. */
export function masqScript(clusterCIDRs: readonly string[], o: MasqOptions = {}): string {
  const t = `inet ${MASQ_TABLE}`;
  const rules: string[] = [];
  for (const c of clusterCIDRs) {
    const v6 = c.includes(':');
    const ip = v6 ? 'ip6' : 'ip';
    const mcast = v6 ? 'ff00::/8' : '224.0.0.0/4';
    const extra = (o.noMasq ?? []).filter((x) => x.includes(':') === v6);
    rules.push(
      `    ${ip} saddr ${c} ${ip} daddr ${c} return comment "pod to pod: no NAT"`,
      `    ${ip} saddr ${c} ${ip} daddr ${mcast} return comment "multicast: no NAT"`,
      ...(extra.length ? [`    ${ip} saddr ${c} ${ip} daddr { ${extra.join(', ')} } return comment "--no-masquerade-cidr: no NAT"`] : []),
      `    ${ip} saddr ${c} masquerade${o.fullyRandom ? ' fully-random' : ''} comment "pod to outside the cluster"`,
    );
  }
  return [
    `add table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    `  comment "${TABLE_COMMENT}"`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...rules,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function applyMasq(clusterCIDRs: readonly string[], o: MasqOptions = {}): void {
  const r = nftApply(masqScript(clusterCIDRs, o));
  if (r.status !== 0) throw new Error(`nft: installing table inet ${MASQ_TABLE} failed: ${r.stderr.trim() || `exit ${r.status}`}`);
}

/** Rules the script puts in the chain (each carries a comment). */
const ruleCount = (script: string): number => script.split('\n').filter((l) => / comment "/.test(l) && !/^\s*comment /.test(l)).length;

/**
 * Is the table as we installed it (there, with its rule count)? One `nft -j list chain` (in the shipped executable
 * libnftables in-process, a fraction of a millisecond; else an exec, still cheaper than re-applying).
 */
function masqIntact(script: string): boolean {
  const items = nftJson(['list', 'chain', 'inet', MASQ_TABLE, 'postrouting']);
  return items !== undefined && items.filter((o) => o.rule).length === ruleCount(script);
}

let installed: string | undefined;
let removedChecked = false;

/**
 * The masquerade as configured: our table in place (--ip-masq, the default), or, with --ip-masq=false, gone (a table
 * of ours left by an earlier run with masquerade on is removed; nothing else is touched). Called on every resync: the
 * table is installed again only when it differs from what this process installed or is no longer there (a firewall
 * reload flushed the ruleset). Returns a line for the log when that happened or something was removed.
 */
export function syncMasq(c: { clusterCIDRs: readonly string[]; ipMasq: boolean; noMasqCIDRs: readonly string[]; masqFullyRandom: boolean }): string | undefined {
  if (!c.ipMasq) {
    if (removedChecked) return undefined;
    const removed = removeMasq();
    removedChecked = true;
    return removed ? `--ip-masq=false: removed the nft table inet ${MASQ_TABLE} of an earlier run` : undefined;
  }
  const script = masqScript(c.clusterCIDRs, { noMasq: c.noMasqCIDRs, fullyRandom: c.masqFullyRandom });
  const intact = script === installed ? masqIntact(script) : false;
  if (intact === true) return undefined;
  const r = nftApply(script);
  if (r.status !== 0) throw new Error(`nft: installing table inet ${MASQ_TABLE} failed: ${r.stderr.trim() || `exit ${r.status}`}`);
  const healed = script === installed && intact === false;
  installed = script;
  return healed ? `the nft table inet ${MASQ_TABLE} was missing or changed: installed it again` : undefined;
}

/** Does our table exist? */
export const masqPresent = (): boolean => nft(['list', 'table', 'inet', MASQ_TABLE]).status === 0;

/** Remove our table; true when there was one. */
export function removeMasq(): boolean {
  if (!masqPresent()) return false;
  const r = nftApply(`delete table inet ${MASQ_TABLE}\n`);
  if (r.status !== 0) throw new Error(`nft: deleting table inet ${MASQ_TABLE} failed: ${r.stderr.trim()}`);
  return true;
}
