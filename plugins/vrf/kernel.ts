/**
 * vrf's reads and DEL's changes in the container, as `ip` command lines: links by `ip -d -j`, routes and addresses by
 * `ip -N -d -j`, DEL's steps by one `ip -batch`. The shipped executable runs them in-process over rtnetlink
 * (lib/rtnetlink); under Node or with CNI_TS_NO_FFI=1 they are exec'd. Either way plan.ts gets the same listings.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { IpLink } from '../../lib/iface.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { jsonLines } from '../../lib/routes.js';
import { delLines, type AddrEntry, type RouteEntry, type VrfDelOp } from './plan.js';

export interface AddState {
  links: IpLink[];
  routes: RouteEntry[];
  v6Global: AddrEntry[];
}

/** All links: one `ip -d -j link show`. */
export function readLinks(ns: Netns): IpLink[] {
  return ns.ipJson<IpLink[]>(['-d', 'link', 'show']);
}

/** ADD's reads: every link, the interface's main-table routes and its global IPv6 addresses. */
export function readForAdd(ns: Netns, ifname: string): AddState {
  const v4Lines = ['link show', `route show table main dev ${ifname}`];
  const v4 = ns.ip(['-N', '-d', '-j', '-4', '-batch', '-'], v4Lines.join('\n') + '\n');
  if (v4.status !== 0) {
    if (batchFailedLine(v4.stderr) === 2 && isNotFound(v4.stderr)) throw pluginError(`could not get link by name ${ifname}`);
    throw pluginError(`failed to read the links of ${ns.label}`, describeBatchFailure(v4.stderr, v4Lines));
  }
  const [all = [], routes4 = []] = jsonLines<unknown>(v4.stdout);
  const v6Lines = [`route show table main dev ${ifname}`, `addr show dev ${ifname} scope global`];
  const v6 = ns.ip(['-N', '-d', '-j', '-6', '-batch', '-'], v6Lines.join('\n') + '\n');
  const noV6 = v6.status !== 0 && /Address family not supported/i.test(v6.stderr); // a kernel without IPv6
  if (v6.status !== 0 && !noV6) throw pluginError(`failed to read the IPv6 routes of ${ifname}`, describeBatchFailure(v6.stderr, v6Lines));
  const [routes6 = [], addrs6 = []] = noV6 ? [] : jsonLines<unknown>(v6.stdout);
  const tag = (xs: unknown[], family: 4 | 6) => (xs as RouteEntry[]).map((r) => ({ ...r, family }));
  // (ip -j prints an empty object for each address its filter left out)
  const v6Global = ((addrs6 as IpLink[])[0]?.addr_info ?? []).filter((a) => a.local).map((a) => ({ local: a.local, prefixlen: a.prefixlen }));
  return { links: all as IpLink[], routes: [...tag(routes4, 4), ...tag(routes6, 6)], v6Global };
}

/** DEL's steps: one `ip -batch` (a missing link is fine). */
export function runDelOps(ns: Netns, ops: readonly VrfDelOp[]): void {
  if (!ops.length) return;
  const lines = delLines(ops);
  const r = ns.ipBatch(lines);
  if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError('cmdDel failed', describeBatchFailure(r.stderr, lines));
}
