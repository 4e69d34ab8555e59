/**
 * Addresses asked for with --ip (or kept by `start`). Docker's --ip-range limits only the addresses handed out
 * dynamically: a --ip anywhere in the subnet is allowed. host-local refuses a requested address outside its
 * rangeStart..rangeEnd, so for that one ADD the range containing it is widened to its whole subnet (DEL releases by
 * container ID and needs no range; later dynamic allocations still use the network's range). Pure.
 */
import { contains, parseCIDR, parseIP, type IP } from '../../lib/ip.js';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import type { ConfList } from '../runtime/conffiles.js';

const inRange = (r: Obj, ip: IP): boolean => {
  const subnet = typeof r.subnet === 'string' ? parseCIDR(r.subnet) : undefined;
  if (!subnet || subnet.ip.family !== ip.family || !contains(subnet, ip)) return false;
  const start = typeof r.rangeStart === 'string' ? parseIP(r.rangeStart) : undefined;
  const end = typeof r.rangeEnd === 'string' ? parseIP(r.rangeEnd) : undefined;
  return (!start || ip.value >= start.value) && (!end || ip.value <= end.value);
};

/** The list with the host-local ranges widened for `ips` that are in a range's subnet but outside its bounds. */
export function widenForStaticIps(list: ConfList, ips: readonly string[]): ConfList {
  const want = ips.map((s) => parseIP(s.split('/')[0]!)).filter((x): x is IP => !!x);
  const main = list.plugins[0];
  if (!want.length || !main || !isObject(main.ipam) || main.ipam.type !== 'host-local' || !Array.isArray(main.ipam.ranges)) return list;
  let changed = false;
  const ranges = (main.ipam.ranges as unknown[]).map((set) =>
    Array.isArray(set)
      ? set.map((r) => {
          if (!isObject(r) || !(r.rangeStart || r.rangeEnd)) return r;
          const subnet = typeof r.subnet === 'string' ? parseCIDR(r.subnet) : undefined;
          if (!subnet || !want.some((ip) => ip.family === subnet.ip.family && contains(subnet, ip) && !inRange(r, ip))) return r;
          changed = true;
          const { rangeStart: _s, rangeEnd: _e, ...rest } = r;
          return rest;
        })
      : set,
  );
  if (!changed) return list;
  const plugins = [{ ...main, ipam: { ...main.ipam, ranges } }, ...list.plugins.slice(1)];
  let raw: Obj;
  try {
    raw = JSON.parse(list.bytes) as Obj;
  } catch {
    raw = { cniVersion: list.cniVersion, name: list.name };
  }
  return { ...list, plugins, bytes: JSON.stringify({ ...raw, plugins }) };
}

/** Same address (any spelling). */
export const sameIp = (a: string, b: string): boolean => {
  const x = parseIP(a.split('/')[0]!);
  const y = parseIP(b.split('/')[0]!);
  return !!x && !!y && x.family === y.family && x.value === y.value;
};
