/**
 * The node's subnet.env (--subnet-file, default /run/cni-ts/subnet.env) for other tools, in the format flannel writes
 * to /run/flannel/subnet.env, so scripts and plugins written for flannel read it unchanged (only the path differs):
 *
 *   FLANNEL_NETWORK=10.244.0.0/16          (IPv4 cluster CIDR)
 *   FLANNEL_SUBNET=10.244.1.1/24           (this node's IPv4 subnet, as its first address: the bridge's gateway)
 *   FLANNEL_IPV6_NETWORK=fd00:10:244::/56  (dual-stack / IPv6 only)
 *   FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64
 *   FLANNEL_MTU=1450                       (the pods' MTU)
 *   FLANNEL_IPMASQ=true                    (whether the agent masquerades pod traffic leaving the cluster)
 *
 * Written atomically (temp file + rename) when its content changes; removed by --cleanup.
 */
import { rmSync } from 'node:fs';
import { addIP, formatIP, networkOf, parseCIDR } from '../lib/ip.js';
import { writeAtomically } from './conflist.js';

export interface SubnetEnv {
  clusterCIDRs: readonly string[];
  subnets: readonly string[];
  mtu: number;
  ipMasq: boolean;
}

/** "10.244.1.0/24" → "10.244.1.1/24" (flannel writes the subnet's first address). */
const firstAddress = (subnet: string): string => {
  const c = parseCIDR(subnet)!;
  return `${formatIP(addIP(networkOf(c).ip, 1n))}/${c.prefix}`;
};

/** The file's text. Pure. */
export function renderSubnetEnv(e: SubnetEnv): string {
  const lines: string[] = [];
  const of = (list: readonly string[], v6: boolean): string | undefined => list.find((c) => c.includes(':') === v6);
  const v4Net = of(e.clusterCIDRs, false);
  const v4Sub = of(e.subnets, false);
  if (v4Net) lines.push(`FLANNEL_NETWORK=${v4Net}`);
  if (v4Sub) lines.push(`FLANNEL_SUBNET=${firstAddress(v4Sub)}`);
  const v6Net = of(e.clusterCIDRs, true);
  const v6Sub = of(e.subnets, true);
  if (v6Net) lines.push(`FLANNEL_IPV6_NETWORK=${v6Net}`);
  if (v6Sub) lines.push(`FLANNEL_IPV6_SUBNET=${firstAddress(v6Sub)}`);
  lines.push(`FLANNEL_MTU=${e.mtu}`, `FLANNEL_IPMASQ=${e.ipMasq}`);
  return lines.join('\n') + '\n';
}

/** Write `path` (directories created) when its content differs; true when it changed. Empty path: nothing. */
export function writeSubnetEnv(path: string, e: SubnetEnv): boolean {
  return path ? writeAtomically(path, renderSubnetEnv(e)) : false;
}

export function removeSubnetEnv(path: string): boolean {
  if (!path) return false;
  try {
    rmSync(path);
    return true;
  } catch {
    return false;
  }
}
