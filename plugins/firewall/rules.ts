/**
 * The reference firewall's iptables state (filter table), written exactly as iptables-save prints it, and the
 * iptables-restore input that adds what is missing or deletes a container's rules. Pure.
 *
 *   -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD                      (first in FORWARD)
 *   -A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN          (first in CNI-FORWARD)
 *   -A CNI-FORWARD -d <ip>/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT                   (per address)
 *   -A CNI-FORWARD -s <ip>/32 -j ACCEPT                                                              (per address)
 * and with ingressPolicy same-bridge (per bridge, never removed: other containers may use the bridge):
 *   -A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-1  (first)
 *   -A CNI-ISOLATION-STAGE-1 -i <br> ! -o <br> -m comment --comment "…" -j CNI-ISOLATION-STAGE-2
 *   -A CNI-ISOLATION-STAGE-1 -m comment --comment "…" -j RETURN
 *   -A CNI-ISOLATION-STAGE-2 -o <br> -m comment --comment "…" -j DROP
 *   -A CNI-ISOLATION-STAGE-2 -m comment --comment "…" -j RETURN
 * and with acceptPublishedPorts (cni-ts only; for hosts whose FORWARD policy is DROP, and so that a published port is
 * reachable from other isolated bridges, as Docker's userland proxy makes it):
 *   -A FORWARD -m conntrack --ctstate DNAT -m comment --comment "CNI firewall plugin rules (published ports)" -j CNI-FORWARD  (first)
 *   -A CNI-FORWARD -d <ip>/32 -m conntrack --ctstate DNAT -j ACCEPT                                  (per address)
 * The per-address rules carry no container ID (as in the reference), so DEL finds them by the addresses.
 */
import { missingSetup, ruleLine, ruleLines, type WantedRule } from '../../lib/netfilter.js';
import type { Family } from '../../lib/ip.js';
import type { OpenAddress } from './config.js';

export const FORWARD_CHAIN = 'CNI-FORWARD';
export const STAGE1 = 'CNI-ISOLATION-STAGE-1';
export const STAGE2 = 'CNI-ISOLATION-STAGE-2';
const RULES_COMMENT = 'CNI firewall plugin rules';
const ADMIN_COMMENT = 'CNI firewall plugin admin overrides';
const ISOLATION_COMMENT = 'CNI firewall plugin rules (ingressPolicy: same-bridge)';
const PUBLISHED_COMMENT = 'CNI firewall plugin rules (published ports)';

const comment = (c: string): string => `-m comment --comment ${ruleLine([c])}`;

/** The two rules that open one address, as they appear in CNI-FORWARD. */
export const addressRules = (a: OpenAddress): string[] => [
  `-d ${a.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  `-s ${a.host} -j ACCEPT`,
];

/** acceptPublishedPorts: connections DNAT'd to the container (its published ports) are accepted. */
export const publishedRule = (a: OpenAddress): string => `-d ${a.host} -m conntrack --ctstate DNAT -j ACCEPT`;

/** acceptPublishedPorts: DNAT'd connections see CNI-FORWARD before the isolation chains do (inserted last: first). */
export const publishedSetup = (): WantedRule => ({ verb: '-I', chain: 'FORWARD', rule: `-m conntrack --ctstate DNAT ${comment(PUBLISHED_COMMENT)} -j ${FORWARD_CHAIN}` });

/** Shared chains and rules: CNI-FORWARD jumped to first from FORWARD, the admin chain first in CNI-FORWARD. */
export function sharedSetup(adminChain: string): { chains: string[]; rules: WantedRule[] } {
  return {
    chains: [FORWARD_CHAIN, adminChain],
    rules: [
      { verb: '-I', chain: 'FORWARD', rule: `${comment(RULES_COMMENT)} -j ${FORWARD_CHAIN}` },
      { verb: '-I', chain: FORWARD_CHAIN, rule: `${comment(ADMIN_COMMENT)} -j ${adminChain}` },
    ],
  };
}

/** The isolation chains of ingressPolicy same-bridge for `bridge` (the reference's setupIsolationChains). */
export function isolationSetup(bridge: string): { chains: string[]; rules: WantedRule[] } {
  const c = comment(ISOLATION_COMMENT);
  return {
    chains: [STAGE1, STAGE2],
    rules: [
      { verb: '-I', chain: 'FORWARD', rule: `${c} -j ${STAGE1}` },
      { verb: '-I', chain: STAGE1, rule: `-i ${bridge} ! -o ${bridge} ${c} -j ${STAGE2}` },
      { verb: '-A', chain: STAGE1, rule: `${c} -j RETURN` },
      { verb: '-I', chain: STAGE2, rule: `-o ${bridge} ${c} -j DROP` },
      { verb: '-A', chain: STAGE2, rule: `${c} -j RETURN` },
    ],
  };
}

export interface AddPlan {
  /** Chain declarations and shared rules that are missing (applying them needs the host lock). */
  setup: string[];
  /** The per-address rules that are missing. */
  rules: string[];
}

/** The per-address rules of `addrs` in CNI-FORWARD (with acceptPublishedPorts: three per address). */
const containerRules = (addrs: readonly OpenAddress[], published: boolean): string[] =>
  addrs.flatMap((a) => (published ? [...addressRules(a), publishedRule(a)] : addressRules(a)));

/** What an ADD of `addrs` (one family) must add to the dump `save`. */
export function planAdd(save: string, adminChain: string, addrs: readonly OpenAddress[], bridge: string | undefined, published = false): AddPlan {
  const shared = sharedSetup(adminChain);
  const iso = bridge ? isolationSetup(bridge) : { chains: [], rules: [] };
  // Order matters: the isolation jump is inserted after CNI-FORWARD's so that it ends up before it in FORWARD, and
  // the published-ports jump after both so that it ends up first.
  const setup = missingSetup(save, [...shared.chains, ...iso.chains], [...shared.rules, ...iso.rules, ...(published ? [publishedSetup()] : [])]);
  const have = ruleLines(save);
  const rules = containerRules(addrs, published).filter((r) => !have.has(`-A ${FORWARD_CHAIN} ${r}`)).map((r) => `-A ${FORWARD_CHAIN} ${r}`);
  return { setup, rules };
}

export const restoreText = (lines: readonly string[]): string => ['*filter', ...lines, 'COMMIT', ''].join('\n');

/** `-D` lines for the addresses' rules, without looking: the common DEL (fails as a whole if one is missing). */
export const blindDel = (addrs: readonly OpenAddress[], published = false): string[] => containerRules(addrs, published).map((r) => `-D ${FORWARD_CHAIN} ${r}`);

/** `-D` lines removing every occurrence of the addresses' rules found in `save` (none: empty); published-port ones too. */
export function planDel(save: string, addrs: readonly OpenAddress[]): string[] {
  const wanted = new Set(containerRules(addrs, true).map((r) => `-A ${FORWARD_CHAIN} ${r}`));
  return save
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => wanted.has(l))
    .map((l) => `-D ${l.slice(3)}`);
}

/** CHECK: what is missing from `save` for these addresses (empty when all is in place). */
export function missingForCheck(save: string, adminChain: string, addrs: readonly OpenAddress[], bridge: string | undefined, published = false): string[] {
  const plan = planAdd(save, adminChain, addrs, bridge, published);
  return [...plan.setup, ...plan.rules];
}

export const familiesOf = (addrs: readonly OpenAddress[]): Family[] => ([4, 6] as const).filter((f) => addrs.some((a) => a.family === f));
