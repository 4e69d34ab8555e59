/**
 * bandwidth's configuration: rates and bursts (bits/s, bits) from the config or runtimeConfig.bandwidth, and the
 * subnets excluded from (or alone subject to) shaping, validated as the reference does. Pure.
 */
import type { NetConf } from '../../lib/cni/config.js';
import { configError } from '../../lib/cni/errors.js';
import { getCI, isObject, type Obj } from '../../lib/cni/fields.js';
import { networkOf, parseCIDR, type CIDR } from '../../lib/ip.js';

/** Shaping in one direction: rate in bytes/s and burst in bytes (what the kernel is given). */
export interface Limit {
  rateBits: number;
  burstBits: number;
}

export interface BandwidthConf {
  /** Traffic to the container (shaped on the host veth). */
  ingress?: Limit;
  /** Traffic from the container (redirected to an IFB device and shaped there). */
  egress?: Limit;
  /** Subnets whose traffic is not shaped (unshapedSubnets), or the only subnets that are (shapedSubnets). */
  subnets: CIDR[];
  subnetsAreShaped: boolean;
}

export const KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst', 'unshapedSubnets', 'shapedSubnets'] as const;

const MAX_U32 = 0xffffffff;

/**
 * The entry in force: the config's own keys when any is present (even only subnets), else runtimeConfig.bandwidth
 * (the `bandwidth` capability; go-cni sends Go field names, so keys match case-insensitively).
 */
export function bandwidthEntry(conf: NetConf): { entry: Obj; where: string } | undefined {
  if (KEYS.some((k) => getCI(conf.raw, k) !== undefined && getCI(conf.raw, k) !== null)) return { entry: conf.raw, where: 'bandwidth' };
  const rc = getCI(conf.runtimeConfig, 'bandwidth');
  if (rc === undefined || rc === null) return undefined;
  if (!isObject(rc)) throw configError(`runtimeConfig.bandwidth must be an object, got ${JSON.stringify(rc)}`);
  return { entry: rc, where: 'runtimeConfig.bandwidth' };
}

function bits(entry: Obj, key: string, where: string): number {
  const v = getCI(entry, key);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw configError(`${where}: "${key}" must be a non-negative integer (bits per second / bits), got ${JSON.stringify(v)}`);
  return v;
}

/** The reference's validateRateAndBurst, plus the limits the kernel has (a rate of at least one byte per second). */
function limit(entry: Obj, dir: 'ingress' | 'egress', where: string): Limit | undefined {
  const rateBits = bits(entry, `${dir}Rate`, where);
  const burstBits = bits(entry, `${dir}Burst`, where);
  if (rateBits === 0 && burstBits === 0) return undefined;
  if (burstBits === 0) throw configError(`${where}: if rate is set, burst must also be set ("${dir}Rate" is ${rateBits}, "${dir}Burst" is missing or 0)`);
  if (rateBits === 0) throw configError(`${where}: if burst is set, rate must also be set ("${dir}Burst" is ${burstBits}, "${dir}Rate" is missing or 0)`);
  if (Math.floor(burstBits / 8) >= MAX_U32) throw configError(`${where}: burst cannot be more than 4GB ("${dir}Burst" is ${burstBits} bits)`);
  if (rateBits < 8) throw configError(`${where}: "${dir}Rate" ${rateBits} is below the smallest rate, 8 bits per second`);
  return { rateBits, burstBits };
}

function subnetList(entry: Obj, key: string, where: string): CIDR[] {
  const v = getCI(entry, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw configError(`${where}: "${key}" must be a list of subnets, got ${JSON.stringify(v)}`);
  return v.map((s) => {
    const c = typeof s === 'string' ? parseCIDR(s) : undefined;
    if (!c) throw configError(`${where}: bad subnet ${JSON.stringify(s)} provided in "${key}" (expected a CIDR such as "10.0.0.0/8")`);
    return networkOf(c);
  });
}

/** Undefined: nothing to shape (no entry, or every rate and burst 0) — the plugin passes the result through. */
export function parseBandwidthConf(conf: NetConf): BandwidthConf | undefined {
  const found = bandwidthEntry(conf);
  if (!found) return undefined;
  const { entry, where } = found;
  const ingress = limit(entry, 'ingress', where);
  const egress = limit(entry, 'egress', where);
  if (!ingress && !egress) return undefined;
  const unshaped = subnetList(entry, 'unshapedSubnets', where);
  const shaped = subnetList(entry, 'shapedSubnets', where);
  if (unshaped.length && shaped.length) {
    throw configError(`${where}: unshapedSubnets and shapedSubnets cannot be both specified, one of them should be discarded`);
  }
  const out: BandwidthConf = { subnets: shaped.length ? shaped : unshaped, subnetsAreShaped: shaped.length > 0 };
  if (ingress) out.ingress = ingress;
  if (egress) out.egress = egress;
  return out;
}
