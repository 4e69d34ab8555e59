/**
 * vrf's reads and DEL's changes in the container: in-process rtnetlink through the executable's FFI (dumps of links,
 * routes and addresses; nomaster and link deletion requests), or `ip` (Node, CNI_TS_NO_FFI=1). Both give the plan
 * (plan.ts) the same listings: links in `ip -d -j` shape (name, master, kind, VRF table), routes and addresses in
 * `ip -N -d -j` shape.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { CniContext } from '../../lib/cni/skel.js';
import type { IpLink } from '../../lib/iface.js';
import { inNetns, libc, type Libc } from '../../lib/native.js';
import { delLinkMessage } from '../../lib/netlink.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { jsonLines } from '../../lib/routes.js';
import { DUMP, dumpMessage, noMasterMessage, parseAddr, parseLink, parseRoute, type LinkInfo } from '../../lib/rtnl.js';
import { traced } from '../../lib/trace.js';
import { delLines, type AddrEntry, type RouteEntry, type VrfDelOp } from './plan.js';

export interface AddState {
  links: IpLink[];
  routes: RouteEntry[];
  v6Global: AddrEntry[];
}

/** In-process rtnetlink in the container's netns (the executable's FFI), or undefined (Node, CNI_TS_NO_FFI=1). */
export const ffiIn = (ctx: CniContext): Libc | undefined => (ctx.netns ? libc() : undefined);

function dump(c: Libc, type: (typeof DUMP)[keyof typeof DUMP]): Uint8Array[] {
  const r = traced(`netlink dump ${type}`, () => c.rtnetlinkDump(dumpMessage(type)));
  if (typeof r === 'number') throw pluginError('rtnetlink dump failed', `errno ${-r}`);
  return r;
}

/** Dumped links in the shape `ip -d -j link show` gives (what plan.ts reads: ifname, master, kind, VRF table). */
function linksFfi(c: Libc): IpLink[] {
  const all = dump(c, DUMP.links).map(parseLink).filter((l): l is LinkInfo => l !== undefined);
  const nameOf = new Map(all.map((l) => [l.index, l.name]));
  return all.map((l) => {
    const link: IpLink = { ifindex: l.index, ifname: l.name };
    if (l.master) link.master = nameOf.get(l.master) ?? String(l.master);
    if (l.kind) link.linkinfo = { info_kind: l.kind, ...(l.kind === 'vrf' ? { info_data: { table: l.vrfTable } } : {}) };
    return link;
  });
}

/** All links, in-process or by one `ip -d -j link show`. */
export function readLinks(ns: Netns, c: Libc | undefined, path: string): IpLink[] {
  return c ? inNetns(c, path, () => linksFfi(c)) : ns.ipJson<IpLink[]>(['-d', 'link', 'show']);
}

/** ADD's reads: every link, the interface's main-table routes and its global IPv6 addresses. */
export function readForAdd(ns: Netns, c: Libc | undefined, path: string, ifname: string): AddState {
  if (c) {
    return inNetns(c, path, () => {
      const index = c.ifNameToIndex(ifname);
      if (!index) throw pluginError(`could not get link by name ${ifname}`);
      const routes = dump(c, DUMP.routes)
        .map((m) => parseRoute(m, (i) => c.ifIndexToName(i)))
        .filter((r) => r !== undefined && r.table === 254 && r.oif === index)
        .map((r) => {
          const { table: _t, oif: _o, ...rest } = r!;
          return rest as RouteEntry;
        });
      const v6Global = dump(c, DUMP.addrs)
        .map(parseAddr)
        .filter((a) => a !== undefined && a.index === index && a.family === 6 && a.scope === 0)
        .map((a) => ({ local: a!.local, prefixlen: a!.prefixlen }));
      return { links: linksFfi(c), routes, v6Global };
    });
  }
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

const ENODEV = 19;

/** DEL's steps, in-process (a missing link is fine) or by one `ip -batch`. */
export function runDelOps(ns: Netns, c: Libc | undefined, path: string, ops: readonly VrfDelOp[]): void {
  if (!ops.length) return;
  if (c) {
    inNetns(c, path, () => {
      for (const [i, o] of ops.entries()) {
        const err = traced(`netlink ${o.op} ${o.ifname}`, () => c.rtnetlinkRequest(o.op === 'nomaster' ? noMasterMessage(o.ifname, i + 1) : delLinkMessage(o.ifname, i + 1)));
        if (err !== 0 && err !== -ENODEV) throw pluginError('cmdDel failed', `${delLines([o])[0]}: errno ${-err}`);
      }
    });
    return;
  }
  const lines = delLines(ops);
  const r = ns.ipBatch(lines);
  if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError('cmdDel failed', describeBatchFailure(r.stderr, lines));
}
