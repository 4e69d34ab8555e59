/**
 * The traffic control layout of the current reference bandwidth plugin (plugins/meta/bandwidth ifb_creator.go), as
 * `tc -batch` lines, and the reading of it back for CHECK. Pure.
 *
 * On a device being shaped (the host veth for ingress, the IFB for egress):
 *   qdisc htb 1: root, default class 1:30 (1:1 when shapedSubnets are given)
 *   class 1:30  rate R, burst B, ceil 2R, cburst with the same buffer time   (shaped)
 *   class 1:1   rate 100 GB/s                                               (unshaped)
 *   one u32 filter per subnet (ip dst / ip6 dst) to 1:1 (unshapedSubnets) or 1:30 (shapedSubnets)
 * Egress: an ingress qdisc (ffff:) on the host veth with a match-all u32 filter redirecting to the IFB (mirred).
 * Debian's 1.1.1 uses a tbf qdisc instead of htb; CHECK accepts both so it can check what either installed.
 */
import { configError } from '../../lib/cni/errors.js';
import { formatCIDR, type CIDR } from '../../lib/ip.js';
import type { BandwidthConf, Limit } from './config.js';

export const SHAPED_CLASS = 0x30;
export const UNSHAPED_CLASS = 0x1;
/** The unshaped class's rate, bytes per second (UncappedRate). */
export const UNCAPPED_RATE = 100_000_000_000;
const TIME_UNITS_PER_SEC = 1_000_000;
const MAX_U32 = 0xffffffff;

/** The kernel's packet scheduler clock, from /proc/net/psched: ticks per microsecond (tc's tick_in_usec). */
export function tickInUsec(psched: string): number {
  const [t2us, us2t, clockRes] = psched.trim().split(/\s+/).map((h) => parseInt(h, 16));
  if (!t2us || !us2t || !clockRes) return 1;
  const clockFactor = clockRes / TIME_UNITS_PER_SEC;
  return (t2us / us2t) * clockFactor;
}

/** The reference's buffer(): the time to send `burst` bytes at `rate` bytes/s, in scheduler ticks. */
export function bufferTicks(rateBytes: number, burstBytes: number, tick: number): number {
  return Math.floor(Math.floor((burstBytes * TIME_UNITS_PER_SEC) / rateBytes) * tick);
}

export interface Bytes {
  rate: number;
  burst: number;
}

/** A limit in bytes (integer division, as the reference), refusing bursts the kernel cannot hold at that rate. */
export function toBytes(l: Limit, tick: number, key: string): Bytes {
  const rate = Math.floor(l.rateBits / 8);
  const burst = Math.floor(l.burstBits / 8);
  if (bufferTicks(rate, burst, tick) > MAX_U32) {
    throw configError(`"${key}Burst" ${l.burstBits} bits takes too long to send at "${key}Rate" ${l.rateBits} bit/s (the kernel holds at most ${Math.floor(MAX_U32 / tick / 1e6)} s of burst)`);
  }
  return { rate, burst };
}

const hex = (n: number): string => n.toString(16);

function subnetFilter(dev: string, subnet: CIDR, classid: number): string {
  const v4 = subnet.ip.family === 4;
  const match = `${v4 ? 'ip' : 'ip6'} dst ${formatCIDR(subnet)}`;
  return `filter add dev ${dev} parent 1: protocol ${v4 ? 'ip' : 'ipv6'} prio ${v4 ? 16 : 15} u32 match ${match} flowid 1:${hex(classid)}`;
}

/** The htb tree shaping `dev` (createHTB). cburst is doubled with ceil so its buffer time equals burst's. */
export function htbLines(dev: string, b: Bytes, conf: Pick<BandwidthConf, 'subnets' | 'subnetsAreShaped'>): string[] {
  const defaultClass = conf.subnetsAreShaped ? UNSHAPED_CLASS : SHAPED_CLASS;
  const filterClass = conf.subnetsAreShaped ? SHAPED_CLASS : UNSHAPED_CLASS;
  return [
    `qdisc add dev ${dev} root handle 1: htb default ${hex(defaultClass)} r2q 10`,
    `class add dev ${dev} parent 1: classid 1:${hex(SHAPED_CLASS)} htb rate ${b.rate * 8}bit burst ${b.burst}b ceil ${2 * b.rate * 8}bit cburst ${Math.min(2 * b.burst, MAX_U32)}b`,
    `class add dev ${dev} parent 1: classid 1:${hex(UNSHAPED_CLASS)} htb rate ${UNCAPPED_RATE * 8}bit ceil ${UNCAPPED_RATE * 8}bit`,
    ...conf.subnets.map((s) => subnetFilter(dev, s, filterClass)),
  ];
}

/** Egress: everything arriving on the host veth (sent by the container) goes to the IFB device. */
export const redirectLines = (hostDev: string, ifb: string): string[] => [
  `qdisc add dev ${hostDev} handle ffff: ingress`,
  `filter add dev ${hostDev} parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1 action mirred egress redirect dev ${ifb}`,
];

// ---------- reading back (CHECK) ----------

export interface TcQdisc {
  kind: string;
  handle?: string;
  root?: boolean;
  options?: Record<string, unknown>;
}

export interface HtbClass {
  classid: string;
  rateBits: number;
  /** Unit the rate was printed in (tc rounds to it). */
  rateUnit: number;
  burstBytes: number;
  burstUnit: number;
}

const RATE_UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
const SIZE_UNITS: Record<string, number> = { b: 1, Kb: 1024, Mb: 1024 ** 2, Gb: 1024 ** 3 };

/** `tc class show` text lines of htb classes: "class htb 1:30 root prio 0 rate 8Mbit ceil 16Mbit burst 10000b cburst …". */
export function parseHtbClasses(text: string): HtbClass[] {
  const out: HtbClass[] = [];
  for (const line of text.split('\n')) {
    const m = /^class htb (\S+) .*?\brate ([\d.]+)([KMGT]?i?)bit\b.*?\bburst ([\d.]+)(b|Kb|Mb|Gb)\b/.exec(line.trim());
    if (!m) continue;
    const rateUnit = RATE_UNITS[m[3]!] ?? 1;
    const burstUnit = SIZE_UNITS[m[5]!] ?? 1;
    out.push({ classid: m[1]!, rateBits: Number(m[2]) * rateUnit, rateUnit, burstBytes: Number(m[4]) * burstUnit, burstUnit });
  }
  return out;
}

/** tc prints rates rounded to its unit and sizes rounded to whole Kb/Mb: compare within that (and the tick rounding). */
function near(actual: number, expected: number, unit: number, slack = 0): boolean {
  return Math.abs(actual - expected) <= Math.max(unit, 1) + slack;
}

/** CHECK of one shaped device: the first thing that differs from the expected tree, or undefined. */
export function htbMismatch(dev: string, qdiscs: readonly TcQdisc[], classesText: string, b: Bytes, conf: Pick<BandwidthConf, 'subnetsAreShaped'>): string | undefined {
  const htbs = qdiscs.filter((q) => q.kind === 'htb' && q.root);
  if (htbs.length === 0) return `Failed to find htb qdisc on ${dev}`;
  const defaultClass = conf.subnetsAreShaped ? UNSHAPED_CLASS : SHAPED_CLASS;
  const def = String(htbs[0]!.options?.default ?? '');
  if (parseInt(def, 16) !== defaultClass) return `Default class does not match for device ${dev} (${def} != 0x${hex(defaultClass)})`;
  const classes = parseHtbClasses(classesText);
  if (classes.length !== 2) return `Number of htb classes does not match for device ${dev} (${classes.length} != 2)`;
  const shaped = classes.find((c) => c.classid === `1:${hex(SHAPED_CLASS)}`);
  const unshaped = classes.find((c) => c.classid === `1:${hex(UNSHAPED_CLASS)}`);
  if (!shaped || !unshaped) return `htb classes 1:${hex(SHAPED_CLASS)} and 1:${hex(UNSHAPED_CLASS)} expected on ${dev}, found ${classes.map((c) => c.classid).join(', ')}`;
  if (!near(shaped.rateBits, b.rate * 8, shaped.rateUnit)) return `Rate does not match for the shaped class for device ${dev} (${shaped.rateBits} != ${b.rate * 8} bit/s)`;
  if (!near(shaped.burstBytes, b.burst, shaped.burstUnit, b.rate * 2e-6 + 2)) return `Burst does not match for the shaped class for device ${dev} (${shaped.burstBytes} != ${b.burst} bytes)`;
  if (!near(unshaped.rateBits, UNCAPPED_RATE * 8, unshaped.rateUnit)) return `Rate does not match for the uncapped class for device ${dev} (${unshaped.rateBits} != ${UNCAPPED_RATE * 8} bit/s)`;
  return undefined;
}

/** CHECK of a device shaped by the Go plugin 1.1.1 (a root tbf qdisc). */
export function tbfMismatch(dev: string, qdisc: TcQdisc, b: Bytes): string | undefined {
  const rate = Number(qdisc.options?.rate);
  const burst = Number(qdisc.options?.burst);
  if (rate !== b.rate) return `Rate doesn't match for device ${dev} (${rate} != ${b.rate} bytes/s)`;
  if (!near(burst, b.burst, 1, b.rate * 2e-6 + 2)) return `Burst doesn't match for device ${dev} (${burst} != ${b.burst} bytes)`;
  return undefined;
}

/** Whichever layout the device carries: htb (current reference, ours) or tbf (1.1.1). */
export function shapingMismatch(dev: string, qdiscs: readonly TcQdisc[], classesText: () => string, b: Bytes, conf: Pick<BandwidthConf, 'subnetsAreShaped'>): string | undefined {
  const tbf = qdiscs.find((q) => q.kind === 'tbf' && q.root);
  if (tbf) return tbfMismatch(dev, tbf, b);
  return htbMismatch(dev, qdiscs, classesText(), b, conf);
}
