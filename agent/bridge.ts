/**
 * The pods' bridge (`--bridge`, made by the bridge plugin on the first ADD) when the node's subnet changes: the
 * bridge plugin refuses an IPv4 gateway other than the one already on the bridge ("already has an IP address
 * different from …", flannel's most reported error), so the agent puts the new subnet's gateway (its first address,
 * host-local's default) on the bridge itself, and removes an old subnet's gateway once no pod of that subnet is left
 * (host-local's reservations in <dataDir>/<network>/ say which addresses are in use). A bridge that does not exist is
 * left to the plugin. --cleanup removes the bridge when no interface is attached to it, and otherwise says what it
 * leaves. Planning is pure; BridgeGateways reads the bridge through a KernelReader (in-process netlink in the shipped
 * executable: this runs on every resync), changes it with ip and reads the IPAM directory.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { broadcastOption, type IpAddrInfo, type IpLink } from '../lib/iface.js';
import { addIP, contains, formatIP, networkOf, parseCIDR, parseIP } from '../lib/ip.js';
import { Netns } from '../lib/netns.js';
import { kernelReader, type KernelReader } from './kernel-state.js';
import { withinAny } from './subnets.js';

/** host-local's default gateway of a subnet, with its prefix: 10.244.1.0/24 → 10.244.1.1/24. */
export function gatewayOf(subnet: string): string {
  const c = parseCIDR(subnet)!;
  return `${formatIP(addIP(networkOf(c).ip, 1n))}/${c.prefix}`;
}

const canon = (a: string): string => {
  const [ip, len] = a.split('/');
  const p = parseIP(ip!);
  return p ? `${formatIP(p)}/${len}` : a;
};

export interface BridgePlan {
  lines: string[];
  described: string[];
  /** Old gateways kept because pods of their subnet remain. */
  kept: string[];
}

/**
 * Lines that put the gateways of `subnets` on the bridge and remove the gateways of other subnets inside the cluster
 * CIDR that have no pod left (`podsIn(subnet)` > 0 keeps them). Addresses outside the cluster CIDR are not ours.
 */
export function bridgeAddressPlan(bridge: string, have: readonly IpAddrInfo[], subnets: readonly string[], clusterCIDRs: readonly string[], podsIn: (subnet: string) => number): BridgePlan {
  const want = subnets.map(gatewayOf);
  const plan: BridgePlan = { lines: [], described: [], kept: [] };
  const present = have.filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => canon(`${a.local}/${a.prefixlen}`));
  for (const a of present) {
    if (want.some((w) => canon(w) === a) || !withinAny(clusterCIDRs, a.split('/')[0]!)) continue;
    const net = parseCIDR(a)!;
    const subnet = `${formatIP(networkOf(net).ip)}/${net.prefix}`;
    const n = podsIn(subnet);
    if (n > 0) {
      plan.kept.push(`${a} (${n} pod${n > 1 ? 's' : ''} of ${subnet} left)`);
      continue;
    }
    plan.lines.push(`addr del ${a} dev ${bridge}`);
    plan.described.push(`remove the old gateway ${a} from ${bridge} (no pod of ${subnet} left)`);
  }
  for (const w of want) {
    if (present.includes(canon(w))) continue;
    plan.lines.push(`addr replace ${w}${broadcastOption(w)} dev ${bridge}${w.includes(':') ? ' nodad' : ''}`);
    plan.described.push(`add gateway ${w} to ${bridge}`);
  }
  return plan;
}

/** Addresses host-local has handed out (file names in its directory), inside `subnet`. */
export function reservedIn(files: readonly string[], subnet: string): number {
  const net = parseCIDR(subnet);
  if (!net) return 0;
  return files.filter((f) => {
    const ip = parseIP(f);
    return !!ip && contains(net, ip);
  }).length;
}

const host = Netns.host();

export class BridgeGateways {
  constructor(
    readonly bridge: string,
    /** host-local's directory of this network: <dataDir>/<network name>. */
    readonly ipamDir: string,
    readonly clusterCIDRs: readonly string[],
    readonly reader: KernelReader = kernelReader(),
  ) {}

  static forNetwork(bridge: string, ipamDataDir: string, networkName: string, clusterCIDRs: readonly string[], reader?: KernelReader): BridgeGateways {
    return new BridgeGateways(bridge, join(ipamDataDir || '/var/lib/cni/networks', networkName), clusterCIDRs, reader);
  }

  /** The bridge with its kind and addresses, or undefined when there is none. */
  private link(): IpLink | undefined {
    return this.reader.link(this.bridge);
  }

  /** The IPs host-local has reserved for pods of this network; undefined when its directory cannot be read. */
  private reserved(): string[] | undefined {
    try {
      return readdirSync(this.ipamDir);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? [] : undefined;
    }
  }

  /** Gateways of `subnets` on the bridge; old ones removed once their pods are gone. Nothing when there is no bridge. */
  reconcile(subnets: readonly string[]): { described: string[]; errors: string[]; kept: string[] } {
    const link = this.link();
    if (!link || link.linkinfo?.info_kind !== 'bridge') return { described: [], errors: [], kept: [] };
    const files = this.reserved();
    // Without host-local's directory nothing says the old subnet is unused: keep its gateway.
    const plan = bridgeAddressPlan(this.bridge, link.addr_info ?? [], subnets, this.clusterCIDRs, (s) => (files ? reservedIn(files, s) : 1));
    const r = host.ipBatch(plan.lines, true);
    return { described: plan.described, errors: r.status === 0 ? [] : [`${this.bridge}: ${r.stderr.trim()}`], kept: plan.kept };
  }

  /** --cleanup: delete the bridge when nothing is attached to it; otherwise say what stays. */
  remove(): { described: string[]; errors: string[] } {
    const link = this.link();
    if (!link) return { described: [], errors: [] };
    if (link.linkinfo?.info_kind !== 'bridge') return { described: [`${this.bridge} is a ${link.linkinfo?.info_kind ?? 'non-bridge'} device, not the pods' bridge: left alone`], errors: [] };
    const r = host.ip(['-j', 'link', 'show', 'master', this.bridge]);
    const ports = r.status === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as IpLink[]).map((l) => l.ifname) : [];
    if (ports.length) {
      const addrs = (link.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
      return {
        described: [`bridge ${this.bridge} left in place with ${addrs.join(', ') || 'no address'}: ${ports.length} pod interface${ports.length > 1 ? 's are' : ' is'} still attached (${ports.slice(0, 8).join(', ')}${ports.length > 8 ? ', …' : ''}); delete those pods (their CNI DEL), then run --cleanup again or \`ip link del ${this.bridge}\``],
        errors: [],
      };
    }
    const d = host.ip(['link', 'del', this.bridge]);
    if (d.status !== 0) return { described: [], errors: [`cannot remove bridge ${this.bridge}: ${d.stderr.trim()}`] };
    return { described: [`removed bridge ${this.bridge} (no pod attached)`], errors: [] };
  }
}
