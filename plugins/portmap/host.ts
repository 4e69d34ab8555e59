/** Host-side effects besides the NAT rules: route_localnet on the interface towards the container, conntrack flushes. */
import { readFileSync } from 'node:fs';
import { deleteEntriesForDstPorts } from '../../lib/conntrack.js';
import { parseIP, type Family } from '../../lib/ip.js';
import { Netns } from '../../lib/netns.js';

/**
 * The interface of the most specific main-table IPv4 route to `ip`, from /proc/net/route text
 * (hex little-endian Destination/Mask columns). Pure; undefined when no route matches.
 */
export function routeInterfaceV4(procNetRoute: string, ip: string): string | undefined {
  const addr = parseIP(ip);
  if (!addr || addr.family !== 4) return undefined;
  const le = (hex: string): bigint => {
    const v = Number.parseInt(hex, 16) >>> 0;
    return BigInt(((v & 0xff) << 24) | ((v >>> 8) & 0xff) << 16 | ((v >>> 16) & 0xff) << 8 | (v >>> 24)) & 0xffffffffn;
  };
  let best: { dev: string; mask: bigint } | undefined;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [dev, dst, , flags, , , , mask] = f as [string, string, string, string, string, string, string, string];
    if (!(Number.parseInt(flags, 16) & 1)) continue; // RTF_UP
    const m = le(mask);
    if ((addr.value & m) !== le(dst)) continue;
    if (!best || m > best.mask) best = { dev, mask: m };
  }
  return best?.dev;
}

/** The host interface towards `ip` (main table, then the kernel's answer); undefined when the host has no route to it. */
function interfaceTowards(ip: string): string | undefined {
  try {
    const dev = routeInterfaceV4(readFileSync('/proc/net/route', 'utf8'), ip);
    if (dev) return dev;
  } catch {
    /* fall back to asking the kernel */
  }
  const r = Netns.host().ip(['-j', 'route', 'get', ip]);
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout || '[]') as Array<{ dev?: string }>)[0]?.dev;
  } catch {
    return undefined;
  }
}

/**
 * 127.0.0.1:hostPort → container needs route_localnet on the interface the host routes the container through. A host
 * without a route to the container (the reference only skips route_localnet then) gets no 127.0.0.1 access, and the
 * mapping still works from everywhere else.
 */
export function enableRouteLocalnet(containerIP: string): void {
  const dev = interfaceTowards(containerIP);
  if (!dev) {
    process.stderr.write(`portmap: no route to ${containerIP} in the host namespace; not enabling route_localnet (127.0.0.1:hostPort will not reach it)\n`);
    return;
  }
  Netns.host().sysctlSet({ [`net/ipv4/conf/${dev}/route_localnet`]: '1' });
}

/** Flush UDP conntrack entries of the host ports so new datagrams follow the current rules (plugins#123). */
export function flushUdp(ports: Map<Family, number[]>): void {
  for (const [family, list] of ports) {
    if (!list.length) continue;
    const errors = deleteEntriesForDstPorts(family, 'udp', list);
    // Informative only, as in the reference: a failed flush must not fail the operation.
    if (errors.length) process.stderr.write(`portmap: failed to delete stale UDP conntrack entries: ${errors.join('; ')}\n`);
  }
}
