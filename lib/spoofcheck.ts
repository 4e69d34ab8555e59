/**
 * MAC spoof check on a bridge port with nftables, with the reference's names (plugins pkg/link/spoofcheck.go):
 * table `bridge nat`, base chain `PREROUTING` (filter, prerouting, priority -300), per attachment chains
 * `cni-br-iface-<cid>-<ifname>` and `...-mac`, every rule commented `macspoofchk-<cid>-<ifname>`.
 * Scripts are pure; setup is one `nft -f -`, teardown one listing plus one transaction.
 */
import { pluginError } from './cni/errors.js';
import { nft, nftApply } from './netfilter.js';

const TABLE = 'bridge nat';
const BASE = 'PREROUTING';

export const spoofRefId = (containerId: string, ifname: string): string => `${containerId}-${ifname}`;
export const spoofIfaceChain = (refId: string): string => `cni-br-iface-${refId}`;
export const spoofComment = (refId: string): string => `macspoofchk-${refId}`;

export function spoofcheckSetupScript(hostIface: string, mac: string, refId: string): string {
  const iface = spoofIfaceChain(refId);
  const macChain = `${iface}-mac`;
  const c = `comment "${spoofComment(refId)}"`;
  return [
    `add table ${TABLE}`,
    `add chain ${TABLE} ${BASE} { type filter hook prerouting priority -300 ; policy accept ; }`,
    `add chain ${TABLE} ${iface}`,
    `add chain ${TABLE} ${macChain}`,
    `flush chain ${TABLE} ${iface}`,
    `flush chain ${TABLE} ${macChain}`,
    `add rule ${TABLE} ${BASE} iifname "${hostIface}" jump ${iface} ${c}`,
    `add rule ${TABLE} ${iface} jump ${macChain} ${c}`,
    `add rule ${TABLE} ${macChain} ether saddr ${mac} return ${c}`,
    `add rule ${TABLE} ${macChain} drop ${c}`,
    '',
  ].join('\n');
}

/** From `nft -j list table bridge nat`: the transaction removing one attachment's rules and chains (undefined: nothing). */
export function spoofcheckTeardownScript(listJson: string, refId: string): string | undefined {
  let objs: Array<Record<string, any>>;
  try {
    objs = (JSON.parse(listJson) as { nftables?: Array<Record<string, any>> }).nftables ?? [];
  } catch {
    return undefined;
  }
  const iface = spoofIfaceChain(refId);
  const chains = new Set(objs.filter((o) => o.chain).map((o) => o.chain.name as string));
  const lines: string[] = [];
  for (const o of objs) {
    const r = o.rule;
    if (!r || r.chain !== BASE) continue;
    const jumpsToUs = JSON.stringify(r.expr ?? []).includes(`"target":"${iface}"`);
    if (jumpsToUs || r.comment === spoofComment(refId)) lines.push(`delete rule ${TABLE} ${BASE} handle ${r.handle}`);
  }
  for (const ch of [iface, `${iface}-mac`]) if (chains.has(ch)) lines.push(`flush chain ${TABLE} ${ch}`);
  for (const ch of [iface, `${iface}-mac`]) if (chains.has(ch)) lines.push(`delete chain ${TABLE} ${ch}`);
  return lines.length ? lines.join('\n') + '\n' : undefined;
}

export function setupSpoofcheck(hostIface: string, mac: string, refId: string): void {
  const r = nftApply(spoofcheckSetupScript(hostIface, mac, refId));
  if (r.status !== 0) throw pluginError('failed to set up the MAC spoof check with nft', r.stderr.trim() || `exit status ${r.status}`);
}

export function teardownSpoofcheck(refId: string): void {
  const list = nft(['-j', 'list', 'table', 'bridge', 'nat']);
  if (list.status !== 0) return; // no table (or no nft): nothing of ours
  const script = spoofcheckTeardownScript(list.stdout, refId);
  if (!script) return;
  const r = nftApply(script);
  if (r.status !== 0) throw pluginError('failed to remove the MAC spoof check', r.stderr.trim());
}
