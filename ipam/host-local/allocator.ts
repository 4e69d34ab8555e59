/** Allocation over a lease store: requested IPs, duplicate detection, round-robin from last_reserved_ip. */
import { pluginError } from '../../lib/cni/errors.js';
import type { IPConfig } from '../../lib/cni/result.js';
import { addIP, formatIP, ipEqual, type IP } from '../../lib/ip.js';
import { rangeContains, rangeSetContains, rangeSetString, type Range, type RangeSet } from './config.js';
import { leaseMatches, type Lease, type LeaseStore } from './store.js';

/** Candidate IPs of a range set in the reference's round-robin order (starting after the last reserved IP). */
export function* candidates(set: RangeSet, lastReserved: IP | undefined): Generator<{ ip: IP; range: Range }> {
  let idx = 0;
  let cur: IP | undefined;
  if (lastReserved && rangeSetContains(set, lastReserved)) {
    idx = set.findIndex((r) => rangeContains(r, lastReserved));
    cur = lastReserved;
  }
  let start: IP | undefined;
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) {
      cur = r.rangeStart;
    } else if (ipEqual(cur, r.rangeEnd)) {
      idx = (idx + 1) % set.length;
      r = set[idx]!;
      cur = r.rangeStart;
    } else {
      cur = addIP(cur, 1n);
    }
    if (start === undefined) start = cur;
    else if (ipEqual(cur, start)) return;
    if (ipEqual(cur, r.gateway)) continue;
    yield { ip: cur, range: r };
  }
}

const toIPConfig = (ip: IP, r: Range): IPConfig => ({ address: `${formatIP(ip)}/${r.subnet.prefix}`, gateway: formatIP(r.gateway) });

/**
 * Allocate one IP from range set `setIndex` for (containerId, ifname). Call with the store lock held.
 * `requested` are the caller's requested IPs; the first that falls in this set is used and removed from the list.
 * `existing` gives the store's leases (read at most once per ADD, and only when a free IP must be searched).
 */
export function allocate(
  store: LeaseStore,
  set: RangeSet,
  setIndex: number,
  containerId: string,
  ifname: string,
  requested: IP[],
  existing: () => readonly Lease[] = () => store.leases(),
): IPConfig {
  const fail = (msg: string): never => {
    throw pluginError(`failed to allocate for range ${setIndex}: ${msg}`);
  };
  const wantedAt = requested.findIndex((ip) => rangeSetContains(set, ip));
  if (wantedAt >= 0) {
    const ip = requested.splice(wantedAt, 1)[0]!;
    const r = set.find((x) => rangeContains(x, ip))!;
    if (ipEqual(ip, r.gateway)) fail(`requested ip ${formatIP(ip)} is subnet's gateway`);
    if (!store.reserve(ip, containerId, ifname, setIndex)) {
      fail(`requested IP address ${formatIP(ip)} is not available in range set ${rangeSetString(set)}`);
    }
    return toIPConfig(ip, r);
  }
  const mine = existing().filter((l) => leaseMatches(l, containerId, ifname, false) && rangeSetContains(set, l.ip));
  if (mine.length) fail(`${formatIP(mine[0]!.ip)} has been allocated to ${containerId}, duplicate allocation is not allowed`);
  for (const { ip, range } of candidates(set, store.lastReserved(setIndex))) {
    if (store.reserve(ip, containerId, ifname, setIndex)) return toIPConfig(ip, range);
  }
  return fail(`no IP addresses available in range set: ${rangeSetString(set)}`);
}

/** Release every lease of (containerId, ifname); legacy ID-only leases when none matched. Returns what was released. */
export function releaseByID(store: LeaseStore, containerId: string, ifname: string): Lease[] {
  const all = store.leases();
  let mine = all.filter((l) => leaseMatches(l, containerId, ifname, false));
  if (mine.length === 0) mine = all.filter((l) => leaseMatches(l, containerId, ifname, true));
  for (const l of mine) store.remove(l);
  return mine;
}

/** Leases whose owner is not among the valid attachments (legacy ID-only leases: kept if the container is valid). */
export function staleLeases(leases: readonly Lease[], valid: ReadonlyArray<{ containerID: string; ifname: string }>): Lease[] {
  const pairs = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
  const ids = new Set(valid.map((a) => a.containerID));
  return leases.filter((l) => (l.ifname === undefined ? !ids.has(l.containerId) : !pairs.has(`${l.containerId}\n${l.ifname}`)));
}
