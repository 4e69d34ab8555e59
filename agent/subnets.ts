/**
 * Carving a cluster CIDR into per-node subnets and choosing a free one. Pure (the random source is a parameter).
 */
import { bitsOf, contains, formatCIDR, formatIP, networkOf, parseCIDR, type CIDR } from '../lib/ip.js';

/** How many subnets of length `len` the cluster CIDR holds. */
export const subnetCount = (cluster: CIDR, len: number): bigint => 1n << BigInt(len - cluster.prefix);

/** The `index`-th subnet of length `len` inside `cluster`. */
export function subnetAt(cluster: CIDR, len: number, index: bigint): CIDR {
  const shift = BigInt(bitsOf(cluster.ip.family) - len);
  return { ip: { family: cluster.ip.family, value: networkOf(cluster).ip.value + (index << shift) }, prefix: len };
}

/** Is `subnet` (a string) exactly one of the subnets of length `len` inside `cluster`? */
export function isSubnetOf(cluster: CIDR, len: number, subnet: string): boolean {
  const c = parseCIDR(subnet);
  if (!c || c.prefix !== len || c.ip.family !== cluster.ip.family) return false;
  return networkOf(c).ip.value === c.ip.value && contains(cluster, c.ip);
}

/** Subnets are enumerated when there are at most this many; beyond that they are sampled at random. */
const ENUMERATE_MAX = 1n << 16n;
const SAMPLES = 4096;

/**
 * Choose a free subnet of length `len` in `cluster`: `preferred` when it is valid and free, otherwise a random free
 * one (random, so that agents starting at the same time rarely race for the same subnet). Undefined when none is free.
 * `taken` holds subnet strings in canonical form (formatCIDR).
 */
export function pickSubnet(cluster: CIDR, len: number, taken: ReadonlySet<string>, preferred?: string, random: () => number = Math.random): string | undefined {
  if (preferred && isSubnetOf(cluster, len, preferred)) {
    const p = formatCIDR(parseCIDR(preferred)!);
    if (!taken.has(p)) return p;
  }
  const count = subnetCount(cluster, len);
  if (count <= ENUMERATE_MAX) {
    const free: string[] = [];
    for (let i = 0n; i < count; i++) {
      const s = formatCIDR(subnetAt(cluster, len, i));
      if (!taken.has(s)) free.push(s);
    }
    return free.length ? free[Math.floor(random() * free.length)] : undefined;
  }
  // Huge spaces (e.g. IPv6 /48 into /64s… or larger): random probes; exhaustion is impossible in practice.
  for (let n = 0; n < SAMPLES; n++) {
    const idx = BigInt(Math.floor(random() * Number(count > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : count)));
    const s = formatCIDR(subnetAt(cluster, len, idx));
    if (!taken.has(s)) return s;
  }
  return undefined;
}

/** The canonical form of a subnet string ("10.244.01.0/24" is refused by the parser; this only normalizes v6). */
export const canonicalSubnet = (s: string): string | undefined => {
  const c = parseCIDR(s);
  return c ? formatCIDR(c) : undefined;
};

/** The gateway-less "network address" the VXLAN device carries for a subnet (flannel: 10.244.1.0/32 on flannel.1). */
export const subnetNetworkAddress = (subnet: string): string => formatIP(networkOf(parseCIDR(subnet)!).ip);

/** Is the CIDR (or address) `inner` inside one of the CIDRs `outer`? */
export function withinAny(outer: readonly string[], inner: string): boolean {
  const c = parseCIDR(inner.includes('/') ? inner : `${inner}/${inner.includes(':') ? 128 : 32}`);
  return !!c && outer.some((o) => {
    const n = parseCIDR(o);
    return !!n && c.prefix >= n.prefix && contains(n, c.ip);
  });
}
