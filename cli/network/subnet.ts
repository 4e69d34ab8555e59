/** Subnet choice and validation for `network create`, as Docker does it. Pure. */
import { sha256Hex } from '../../lib/hash.js';
import { addIP, contains, formatCIDR, lastAddressOf, networkOf, overlaps, parseCIDR, parseIP, type CIDR, type IP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';

export interface Taken {
  cidr: CIDR;
  /** What holds it: `network "x"` or `host route 10.0.0.0/8 dev eth0`. */
  by: string;
}

/** Docker's default address pools: 172.17–172.31 as /16, then 192.168.0.0/16 as /20s. */
export function* defaultPool(): Generator<CIDR> {
  for (let b = 17; b <= 31; b++) yield parseCIDR(`172.${b}.0.0/16`)!;
  for (let c = 0; c < 256; c += 16) yield parseCIDR(`192.168.${c}.0/20`)!;
}

/** The first pool subnet that overlaps nothing taken. */
export function chooseSubnet(taken: readonly Taken[]): CIDR {
  for (const c of defaultPool()) if (!taken.some((t) => overlaps(t.cidr, c))) return c;
  throw new UserError('no free subnet left in the default pools (172.17-31.0.0/16, 192.168.0.0/16 as /20s): give one with --subnet');
}

/** A unique-local IPv6 /64 derived from the network name (Docker picks from fd00::/8 too). */
export function ula64(name: string): CIDR {
  const h = Buffer.from(sha256Hex(`cnictl ula ${name}`), 'hex');
  const groups = [0xfd00 | h[0]!, (h[1]! << 8) | h[2]!, (h[3]! << 8) | h[4]!, (h[5]! << 8) | h[6]!];
  return parseCIDR(`${groups.map((g) => g.toString(16)).join(':')}::/64`)!;
}

/** Parse a --subnet value: a CIDR without host bits, big enough for a gateway and a sandbox. */
export function parseSubnet(s: string, flag = '--subnet'): CIDR {
  const c = parseCIDR(s);
  if (!c) throw new UserError(`invalid ${flag} ${JSON.stringify(s)}: not a CIDR (e.g. 10.10.0.0/24 or fd00:10::/64)`);
  const net = networkOf(c);
  if (net.ip.value !== c.ip.value) throw new UserError(`invalid ${flag} ${s}: it has host bits set; did you mean ${formatCIDR(net)}?`);
  const max = c.ip.family === 4 ? 30 : 126;
  if (c.prefix > max) throw new UserError(`invalid ${flag} ${s}: too small; use a /${max} or larger`);
  return c;
}

export function overlapError(subnet: CIDR, taken: readonly Taken[]): void {
  const t = taken.find((x) => overlaps(x.cidr, subnet));
  if (t) throw new UserError(`subnet ${formatCIDR(subnet)} overlaps ${t.by} (${formatCIDR(t.cidr)}): choose another with --subnet, or remove that network`);
}

export interface RangePlan {
  subnet: CIDR;
  gateway: IP;
  rangeStart?: IP;
  rangeEnd?: IP;
}

/** Gateway (default: first address) and optional --ip-range within one subnet, validated. */
export function planRange(subnet: CIDR, gateway: string | undefined, ipRange: string | undefined): RangePlan {
  let gw: IP = addIP(subnet.ip, 1n);
  if (gateway !== undefined) {
    const g = parseIP(gateway);
    if (!g) throw new UserError(`invalid --gateway ${JSON.stringify(gateway)}: not an IP address`);
    if (!contains(subnet, g)) throw new UserError(`--gateway ${gateway} is not in subnet ${formatCIDR(subnet)}: give an address inside it`);
    if (g.value === subnet.ip.value || (g.family === 4 && g.value === lastAddressOf(subnet).value)) {
      throw new UserError(`--gateway ${gateway} is the network or broadcast address of ${formatCIDR(subnet)}`);
    }
    gw = g;
  }
  const plan: RangePlan = { subnet, gateway: gw };
  if (ipRange !== undefined) {
    const r = parseSubnet(ipRange, '--ip-range');
    if (r.ip.family !== subnet.ip.family || !contains(subnet, r.ip) || r.prefix < subnet.prefix) {
      throw new UserError(`--ip-range ${ipRange} is not inside subnet ${formatCIDR(subnet)}`);
    }
    const first = r.ip.value === subnet.ip.value ? addIP(r.ip, 1n) : r.ip;
    const lastOfRange = lastAddressOf(r);
    const last = r.ip.family === 4 && lastOfRange.value === lastAddressOf(subnet).value ? addIP(lastOfRange, -1n) : lastOfRange;
    plan.rangeStart = first;
    plan.rangeEnd = last;
  }
  return plan;
}

