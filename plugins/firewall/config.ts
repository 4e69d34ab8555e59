/** firewall's configuration and the addresses it opens, validated. Pure. */
import type { NetConf } from '../../lib/cni/config.js';
import { configError } from '../../lib/cni/errors.js';
import { Fields } from '../../lib/cni/fields.js';
import type { Result } from '../../lib/cni/result.js';
import { formatIP, parseCIDR, type Family } from '../../lib/ip.js';

export const INGRESS_POLICIES = ['open', 'same-bridge'] as const;
export type IngressPolicy = (typeof INGRESS_POLICIES)[number];

export interface FirewallConf {
  adminChain: string;
  ingressPolicy: IngressPolicy;
  /** cni-ts: also accept connections DNAT'd to the container (published ports), before any isolation. */
  acceptPublishedPorts: boolean;
}

/** An address the firewall opens, as the reference writes it: the address alone with a host prefix. */
export interface OpenAddress {
  family: Family;
  /** e.g. "10.88.0.2/32", "fd00::2/128" */
  host: string;
}

const CHAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,27}$/;

export function parseFirewallConf(conf: NetConf): FirewallConf {
  const f = new Fields(conf.raw, 'firewall');
  const backend = f.string('backend');
  if (backend === 'firewalld') {
    throw configError('firewall: "backend" "firewalld" is not supported by cni-ts', 'use "iptables" (or leave "backend" empty); see plugins/firewall/README.md');
  }
  if (backend !== undefined && backend !== 'iptables') f.fail('backend', `is ${JSON.stringify(backend)}; allowed: iptables (or empty)`);
  const adminChain = f.string('iptablesAdminChainName', 'CNI-ADMIN')!;
  if (!CHAIN_NAME.test(adminChain)) f.fail('iptablesAdminChainName', `is ${JSON.stringify(adminChain)}; a chain name is 1-28 letters, digits, "_", "." or "-"`);
  const policy = f.string('ingressPolicy', 'open')!;
  if (!(INGRESS_POLICIES as readonly string[]).includes(policy)) {
    throw configError(`unknown ingress policy: ${JSON.stringify(policy)}`, `allowed: ${INGRESS_POLICIES.join(', ')}`);
  }
  const acceptPublishedPorts = f.bool('acceptPublishedPorts');
  return { adminChain, ingressPolicy: policy as IngressPolicy, acceptPublishedPorts };
}

/** Every address of the result, as /32 or /128 (the reference opens all of result.IPs). */
export function openAddresses(result: Result | undefined): OpenAddress[] {
  const out: OpenAddress[] = [];
  for (const ipc of result?.ips ?? []) {
    const c = parseCIDR(ipc.address);
    if (!c) continue;
    const host = `${formatIP(c.ip)}/${c.ip.family === 4 ? 32 : 128}`;
    if (!out.some((a) => a.host === host)) out.push({ family: c.ip.family, host });
  }
  return out;
}

/** The host link an interface name refers to, as `ip -d -j link` shows it (undefined: no such link). */
export type LinkLookup = (name: string) => { linkinfo?: { info_kind?: string; info_slave_kind?: string }; master?: string } | undefined;

/**
 * The bridge ingressPolicy same-bridge isolates: the first host interface of the result (no sandbox; what the bridge
 * plugin lists first) that is a bridge, or else the bridge such an interface is enslaved to (a chain whose result
 * names only the host veth). Anything else is refused (code 7) before a rule is written: the reference isolates
 * whatever the first interface is, e.g. a ptp veth, with rules that outlive it.
 */
export function isolatedBridge(result: Result, policy: IngressPolicy, lookup: LinkLookup): string | undefined {
  if (policy !== 'same-bridge') return undefined;
  const hostSide = (result.interfaces ?? []).filter((i) => i && typeof i.name === 'string' && i.name !== '' && !i.sandbox).map((i) => i.name);
  if (!(result.interfaces ?? []).some((i) => i?.name)) {
    throw configError(`interface needs to be set for ingress policy ${JSON.stringify(policy)}, make sure to chain "firewall" plugin with "bridge"`);
  }
  if (!hostSide.length) {
    throw configError(`ingressPolicy ${JSON.stringify(policy)} needs the bridge: prevResult lists no host interface (only container ones)`, 'chain "firewall" after "bridge"');
  }
  const seen: string[] = [];
  for (const name of hostSide) {
    const link = lookup(name);
    if (!link) {
      seen.push(`${JSON.stringify(name)} does not exist on the host`);
      continue;
    }
    if (link.linkinfo?.info_kind === 'bridge') return name;
    if (link.master && link.linkinfo?.info_slave_kind === 'bridge') return link.master;
    seen.push(`${JSON.stringify(name)} is ${link.linkinfo?.info_kind ? `a ${link.linkinfo.info_kind}` : 'a link'} ${link.master ? `enslaved to ${JSON.stringify(link.master)}, not a bridge` : 'on no bridge'}`);
  }
  throw configError(`ingressPolicy ${JSON.stringify(policy)} needs a bridge, and prevResult's host interfaces are no bridge nor on one: ${seen.join('; ')}`, 'chain "firewall" after "bridge" (or use ingressPolicy "open")');
}
