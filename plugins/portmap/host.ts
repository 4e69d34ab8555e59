/** Host-side effects besides the NAT rules: route_localnet on the interface towards the container, conntrack flushes. */
import { deleteEntriesForDstPorts } from '../../lib/conntrack.js';
import { pluginError } from '../../lib/cni/errors.js';
import type { Family } from '../../lib/ip.js';
import { Netns } from '../../lib/netns.js';

/** 127.0.0.1:hostPort → container needs route_localnet on the interface the host routes the container through. */
export function enableRouteLocalnet(containerIP: string): void {
  const host = Netns.host();
  const routes = host.ipJson<Array<{ dev?: string }>>(['route', 'get', containerIP]);
  const dev = routes[0]?.dev;
  if (!dev) throw pluginError(`no route to container address ${containerIP} in the host namespace`);
  host.sysctlSet({ [`net/ipv4/conf/${dev}/route_localnet`]: '1' });
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
