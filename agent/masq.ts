/**
 * Masquerade of pod traffic leaving the cluster: one nft table of ours, `inet cni_ts_agent`, replaced whole in one
 * `nft -f -` transaction (so it is never half there and never duplicated). Pod → pod across nodes keeps the pod's
 * source address; pod → anything outside the cluster CIDRs (except multicast) is masqueraded. Nothing outside this
 * table is touched; --cleanup deletes the table.
 */
import { nftApply } from '../lib/netfilter.js';
import { run } from '../lib/exec.js';

export const MASQ_TABLE = 'cni_ts_agent';
const TABLE_COMMENT = 'cni-ts-agent: masquerade pod traffic leaving the cluster CIDR';

/** The whole transaction: make sure the table exists, delete it, declare it again with its rules. Pure. */
export function masqScript(clusterCIDRs: readonly string[]): string {
  const t = `inet ${MASQ_TABLE}`;
  const rules: string[] = [];
  for (const c of clusterCIDRs) {
    const ip = c.includes(':') ? 'ip6' : 'ip';
    const mcast = c.includes(':') ? 'ff00::/8' : '224.0.0.0/4';
    rules.push(
      `    ${ip} saddr ${c} ${ip} daddr ${c} return comment "pod to pod: no NAT"`,
      `    ${ip} saddr ${c} ${ip} daddr ${mcast} return comment "multicast: no NAT"`,
      `    ${ip} saddr ${c} masquerade comment "pod to outside the cluster"`,
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

export function applyMasq(clusterCIDRs: readonly string[]): void {
  const r = nftApply(masqScript(clusterCIDRs));
  if (r.status !== 0) throw new Error(`nft: installing table inet ${MASQ_TABLE} failed: ${r.stderr.trim() || `exit ${r.status}`}`);
}

/** Does our table exist? */
export const masqPresent = (): boolean => run('nft', ['list', 'table', 'inet', MASQ_TABLE]).status === 0;

/** Remove our table; true when there was one. */
export function removeMasq(): boolean {
  if (!masqPresent()) return false;
  const r = nftApply(`delete table inet ${MASQ_TABLE}\n`);
  if (r.status !== 0) throw new Error(`nft: deleting table inet ${MASQ_TABLE} failed: ${r.stderr.trim()}`);
  return true;
}
