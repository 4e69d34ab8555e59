/**
 * firewall (chained): lets a container's traffic through the host's filter FORWARD chain with the reference's
 * iptables rules (plugins/meta/firewall, iptables backend), so either implementation removes what the other added.
 * Per family: ADD reads the table once (iptables-save) and adds what is missing in one iptables-restore; DEL deletes
 * the container's rules in one iptables-restore (reading the table only when they are not all there). See rules.ts
 * for the layout and README.md for why there is no nftables backend.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { versionsFrom } from '../../lib/cni/version.js';
import type { Family } from '../../lib/ip.js';
import { globalAddresses, readLink } from '../../lib/iface.js';
import { withHostLock } from '../../lib/lock.js';
import { iptablesCmd, iptablesRestore, iptablesSave } from '../../lib/netfilter.js';
import { Netns } from '../../lib/netns.js';
import { isolatedBridge, openAddresses, parseFirewallConf, type LinkLookup, type OpenAddress } from './config.js';
import { blindDel, familiesOf, missingForCheck, planAdd, planDel, restoreText } from './rules.js';

function requirePrev(ctx: CniContext): Result {
  if (!ctx.conf.prevResult) throw pluginError('missing prevResult from earlier plugin', 'firewall must be chained after a plugin that gives the container its addresses');
  return ctx.conf.prevResult;
}

/** Host links as `ip -d` shows them (bridge or not, the master and its kind), read only for ingressPolicy same-bridge. */
const hostLink: LinkLookup = (name) => readLink(Netns.host(), name, true);

function restore(family: Family, lines: readonly string[], what: string): void {
  if (!lines.length) return;
  const r = iptablesRestore(family, restoreText(lines));
  if (r.status !== 0) throw pluginError(`${what}: ${iptablesCmd(family, '-restore')} failed`, r.stderr.trim());
}

function add(ctx: CniContext): Result {
  const conf = parseFirewallConf(ctx.conf);
  const prev = requirePrev(ctx);
  const addrs = openAddresses(prev);
  const bridge = isolatedBridge(prev, conf.ingressPolicy, hostLink);
  for (const family of familiesOf(addrs)) {
    const mine = addrs.filter((a) => a.family === family);
    const plan = planAdd(iptablesSave(family, 'filter'), conf.adminChain, mine, bridge, conf.acceptPublishedPorts);
    if (!plan.setup.length) {
      restore(family, plan.rules, 'failed to add firewall rules');
      continue;
    }
    // Shared chains or jumps are missing: create them under the host lock, from a fresh dump (declaring a chain
    // that another ADD has just filled would flush it).
    withHostLock('firewall', () => {
      const fresh = planAdd(iptablesSave(family, 'filter'), conf.adminChain, mine, bridge, conf.acceptPublishedPorts);
      restore(family, [...fresh.setup, ...fresh.rules], 'failed to set up the firewall chains');
    });
  }
  return prev;
}

/**
 * The addresses DEL removes: prevResult's (every runtime at 0.4.0+ sends it); without it, the global addresses of
 * CNI_IFNAME while the container still has it (the reference removes nothing then).
 */
function delAddresses(ctx: CniContext): OpenAddress[] {
  if (ctx.conf.prevResult) return openAddresses(ctx.conf.prevResult);
  if (!ctx.netns) return [];
  const ns = Netns.at(ctx.netns);
  if (!ns.exists()) return [];
  const addresses = globalAddresses(readLink(ns, ctx.ifname));
  return openAddresses({ cniVersion: ctx.conf.cniVersion, ips: addresses.map((address) => ({ address })) });
}

/** acceptPublishedPorts as configured; a config that does not parse (DEL must still work) counts as false. */
function publishedPortsOf(ctx: CniContext): boolean {
  try {
    return parseFirewallConf(ctx.conf).acceptPublishedPorts;
  } catch {
    return false;
  }
}

function del(ctx: CniContext): void {
  const addrs = delAddresses(ctx);
  const published = publishedPortsOf(ctx);
  for (const family of familiesOf(addrs)) {
    const mine = addrs.filter((a) => a.family === family);
    // Common case, one exec: the rules are there once. Otherwise (gone, a retried DEL, copies) look first.
    if (iptablesRestore(family, restoreText(blindDel(mine, published))).status === 0) continue;
    let save: string;
    try {
      save = iptablesSave(family, 'filter');
    } catch (e) {
      if (/command not found/.test((e as Error).message)) continue; // no iptables: nothing of ours can be there
      throw e;
    }
    restore(family, planDel(save, mine), 'failed to remove firewall rules');
  }
}

function check(ctx: CniContext): void {
  const conf = parseFirewallConf(ctx.conf);
  const prev = requirePrev(ctx);
  const addrs = openAddresses(prev);
  const bridge = isolatedBridge(prev, conf.ingressPolicy, hostLink);
  for (const family of familiesOf(addrs)) {
    const missing = missingForCheck(iptablesSave(family, 'filter'), conf.adminChain, addrs.filter((a) => a.family === family), bridge, conf.acceptPublishedPorts);
    if (missing.length) throw pluginError(`expected firewall rules are missing from ${iptablesCmd(family, '')} table filter`, missing.join('; '));
  }
}

export const plugin: Plugin = { name: 'firewall', add, del, check, status: () => undefined, gc: () => undefined, versions: versionsFrom('0.4.0') };
