/**
 * A bridge network's bridge on a real host, decided without touching it: is the name free, a bridge already there
 * (used, never deleted), or another kind of link (refused)? Which network already uses it? What must be undone on a
 * found bridge when its network goes, and which isolation rules (the firewall's same-bridge chains) name it. Pure.
 */
import type { IpLink } from '../../lib/iface.js';
import { contains, formatCIDR, parseCIDR } from '../../lib/ip.js';
import type { NetworkInfo } from './model.js';
import type { BridgeRecord } from './records.js';

export type LinkFound = { kind: 'absent' } | { kind: 'bridge'; addresses: string[]; up: boolean } | { kind: 'other'; type: string };

/** What `ip -d addr show dev NAME` found. */
export function linkFound(link: IpLink | undefined): LinkFound {
  if (!link) return { kind: 'absent' };
  const kind = link.linkinfo?.info_kind;
  if (kind !== 'bridge') return { kind: 'other', type: kind ?? 'device' };
  return { kind: 'bridge', addresses: (link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`), up: (link.flags ?? []).includes('UP') };
}

/** The network (other than `except`) whose bridge is `bridge`. */
export function bridgeUser(bridge: string, networks: readonly NetworkInfo[], except?: string): NetworkInfo | undefined {
  return networks.find((n) => n.name !== except && n.bridge === bridge);
}

/** The addresses a bridge network's gateway puts on its bridge: each range's gateway with the subnet's prefix. */
export function gatewayAddresses(info: NetworkInfo): string[] {
  const out: string[] = [];
  for (const r of info.ranges) {
    const c = parseCIDR(r.subnet);
    if (c && r.gateway) out.push(`${r.gateway}/${c.prefix}`);
  }
  return out;
}

/**
 * An address of a found bridge that the network's gateway cannot be added beside — the bridge plugin refuses it
 * (reference ensureAddr: one IPv4 address per bridge; IPv6 ones unless their subnets overlap) unless forceAddress,
 * which would delete the owner's address. Undefined when the gateways fit (or are there already).
 */
export function gatewayConflict(link: IpLink, gateways: readonly string[]): { have: string; want: string } | undefined {
  const have = (link.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => parseCIDR(`${a.local}/${a.prefixlen}`)).filter((c) => !!c);
  for (const gw of gateways) {
    const g = parseCIDR(gw);
    if (!g || have.some((h) => formatCIDR(h) === formatCIDR(g))) continue;
    const clash = have.find((h) => h.ip.family === g.ip.family && (g.ip.family === 4 || contains(h, g.ip) || contains(g, h.ip)));
    if (clash) return { have: formatCIDR(clash), want: formatCIDR(g) };
  }
  return undefined;
}

export interface Restore {
  /** Addresses to delete (ours, not there when the bridge was found). */
  delAddresses: string[];
  /** Set it down again (it was down when found). */
  down: boolean;
}

/** What leaves a found bridge as it was: the network's gateway addresses it did not have, and its state. */
export function restoreFound(record: BridgeRecord, gateways: readonly string[], now: IpLink): Restore {
  const found = new Set(record.addresses ?? []);
  const present = new Set((now.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  return { delAddresses: gateways.filter((g) => present.has(g) && !found.has(g)), down: record.up === false && (now.flags ?? []).includes('UP') };
}

const ISOLATION_CHAINS = ['CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2'];

/**
 * `-D` lines (iptables-restore) for the isolation rules of ingressPolicy same-bridge that name `bridge` (`-i BR` or
 * `-o BR`) in an iptables-save dump. The chains and their RETURN rules stay: they are shared, as the firewall leaves them.
 */
export function isolationRuleDeletes(save: string, bridge: string): string[] {
  const out: string[] = [];
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m || !ISOLATION_CHAINS.includes(m[1]!)) continue;
    const t = m[2]!.split(/\s+/);
    const names = t.some((tok, i) => (tok === '-i' || tok === '-o') && t[i + 1] === bridge);
    if (names) out.push(`-D ${m[1]} ${m[2]}`);
  }
  return out;
}
