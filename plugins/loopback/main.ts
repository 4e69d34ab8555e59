/** loopback: brings `lo` up in the container (containerd's CRI runs it for every pod). */
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { Netns, isNotFound } from '../../lib/netns.js';
import { parseIP, isUnspecified } from '../../lib/ip.js';

interface IpLink {
  flags?: string[];
  addr_info?: Array<{ local: string; prefixlen: number }>;
}

function isLoopbackAddress(a: string): boolean {
  const ip = parseIP(a);
  if (!ip) return false;
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n || isUnspecified(ip);
}

function add(ctx: CniContext): Result {
  const ns = Netns.at(ctx.netns);
  ns.requireExists();
  // One `ip -batch` (in-process in the executable): bring lo up and read its addresses.
  const r = ns.ip(['-j', '-batch', '-'], 'link set lo up\naddr show dev lo\n');
  if (r.status !== 0) throw pluginError(`failed to set lo up in ${ctx.netns}`, r.stderr.trim());
  const links = JSON.parse(r.stdout.trim() || '[]') as IpLink[];
  const addrs = links[0]?.addr_info ?? [];
  const bad = addrs.find((a) => !isLoopbackAddress(a.local));
  if (bad) throw pluginError(`loopback interface found with non-loopback address ${bad.local}`);
  if (ctx.conf.prevResult) return ctx.conf.prevResult;
  return {
    cniVersion: ctx.conf.cniVersion,
    interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: ctx.netns }],
    ips: addrs.map((a) => ({ interface: 0, address: `${a.local}/${a.prefixlen}` })),
  };
}

function del(ctx: CniContext): void {
  if (!ctx.netns) return;
  const ns = Netns.at(ctx.netns);
  if (!ns.exists()) return;
  const r = ns.ip(['link', 'set', 'lo', 'down']);
  if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError(`failed to set lo down in ${ctx.netns}`, r.stderr.trim());
}

function check(ctx: CniContext): void {
  const ns = Netns.at(ctx.netns);
  ns.requireExists();
  const links = ns.ipJson<IpLink[]>(['link', 'show', 'lo']);
  if (!links[0]?.flags?.includes('UP')) throw pluginError('loopback interface is down');
}

export const plugin: Plugin = { name: 'loopback', add, del, check, status: () => undefined, gc: () => undefined };
