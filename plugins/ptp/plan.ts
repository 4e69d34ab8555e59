/**
 * What a ptp ADD does, computed without side effects (reference setupContainerVeth / setupHostVeth):
 *
 * - container: each address with its prefix, but without the kernel's automatic subnet route (`noprefixroute`, the
 *   reference adds it and deletes the route: same table, no window); instead a /32 (/128) link route to the gateway and
 *   the subnet via the gateway, both with the address as source; then the IPAM routes;
 * - host: the veth end carries every gateway as /32 (/128) and a host route to each container address.
 *
 * Unlike the reference, no IPv6 address here waits for duplicate address detection (a 1–2 s ADD there): the link is
 * point-to-point and its only other address is the gateway, which is on every host end by design.
 *
 * So all container traffic, to its own subnet too, goes through the host, which routes it. Pure; unit-tested.
 */
import { pluginError } from '../../lib/cni/errors.js';
import type { IPConfig, Result, Route } from '../../lib/cni/result.js';
import { broadcastOption, routeLines } from '../../lib/iface.js';
import { bitsOf, formatCIDR, formatIP, ipEqual, linkLocalFromMac, networkOf, parseCIDR, parseIP, type Family } from '../../lib/ip.js';
import { vethAddLine, type VethPair } from '../../lib/veth.js';

/** A container address with its gateway, parsed. */
export interface PtpAddress {
  family: Family;
  /** Address with prefix, as IPAM gave it (e.g. 10.1.0.5/24). */
  cidr: string;
  ip: string;
  /** Its subnet (e.g. 10.1.0.0/24). */
  subnet: string;
  gateway: string;
}

/** The container end is interface 1 of the result (interface 0 is the host end), as in the reference. */
export const CONTAINER_INTERFACE = 1;

/**
 * The IPAM addresses, each with a gateway of its own family (ptp routes everything through it). An IPAM result
 * without one is an error here: the reference would fail half-way through configuring the veth.
 */
export function ptpAddresses(ipam: Result): PtpAddress[] {
  return (ipam.ips ?? []).map((ipc) => {
    const c = parseCIDR(ipc.address);
    if (!c) throw pluginError(`IPAM returned an invalid address ${JSON.stringify(ipc.address)}`);
    const gw = ipc.gateway === undefined ? undefined : parseIP(ipc.gateway);
    if (!gw) throw pluginError(`IPAM returned no gateway for ${ipc.address}: ptp routes all of the container's traffic through one (set "gateway" in the IPAM range)`);
    if (gw.family !== c.ip.family) throw pluginError(`IPAM returned gateway ${ipc.gateway} of another family than ${ipc.address}`);
    if (ipEqual(gw, c.ip)) throw pluginError(`IPAM returned gateway ${ipc.gateway} equal to the container address ${ipc.address}`);
    return { family: c.ip.family, cidr: ipc.address, ip: formatIP(c.ip), subnet: formatCIDR(networkOf(c)), gateway: formatIP(gw) };
  });
}

const hostPrefix = (a: PtpAddress): number => bitsOf(a.family);

/** The result's IPs: every address on the container end. */
export const resultIps = (addrs: readonly PtpAddress[]): IPConfig[] =>
  addrs.map((a) => ({ address: a.cidr, gateway: a.gateway, interface: CONTAINER_INTERFACE }));

/** The routes ptp itself adds in the container (not in the result; CHECK verifies them too). */
export function ptpRoutes(addrs: readonly PtpAddress[]): Route[] {
  return addrs.flatMap((a) => [{ dst: `${a.gateway}/${hostPrefix(a)}` }, { dst: a.subnet, gw: a.gateway }]);
}

/**
 * The host `ip -batch`: the veth pair first (created straight into the container netns, so a taken container name
 * fails before anything exists), the host end up with the gateways, a host route to each container address.
 * `route replace`: a stale route to a reused address (a container whose DEL never came) is taken over.
 */
export function hostLines(pair: VethPair, addrs: readonly PtpAddress[], mtu?: number): string[] {
  const dev = pair.hostVeth;
  const lines = [vethAddLine(pair, mtu)];
  if (addrs.some((a) => a.family === 6)) {
    // The host end's link-local address, without DAD: the host sends its neighbour solicitations from it when
    // forwarding to the container, and sends none while it is tentative (the first second after ADD).
    lines.push(`link set dev ${dev} addrgenmode none`, `link set dev ${dev} up`, `addr add ${formatIP(linkLocalFromMac(pair.hostMac))}/64 dev ${dev} nodad`);
  } else {
    lines.push(`link set dev ${dev} up`);
  }
  const gateways = new Set<string>();
  for (const a of addrs) {
    const gw = `${a.gateway}/${hostPrefix(a)}`;
    if (gateways.has(gw)) continue;
    gateways.add(gw);
    // nodad: the gateway is on every host veth of the network by design; waiting for DAD would leave the container
    // without a reachable IPv6 gateway for a second or two.
    lines.push(`addr add ${gw} dev ${dev}${a.family === 6 ? ' nodad' : ''}`);
  }
  for (const a of addrs) lines.push(`route replace ${a.ip}/${hostPrefix(a)} dev ${dev}${a.family === 4 ? ' scope host' : ''}`);
  return lines;
}

/** The container `ip -batch`: addresses, up, the ptp routes, then the IPAM routes (via the gateway of their family). */
export function containerLines(ifname: string, addrs: readonly PtpAddress[], ipamRoutes: readonly Route[]): string[] {
  // IPv6 `nodad`: never tentative, so the routes with it as source can follow in the same batch (the container end
  // has only the host end as neighbour, whose addresses are the gateways).
  const lines = addrs.map((a) => `addr add ${a.cidr}${broadcastOption(a.cidr)} dev ${ifname} noprefixroute${a.family === 6 ? ' nodad' : ''}`);
  lines.push(`link set ${ifname} up`);
  for (const a of addrs) {
    lines.push(`route add ${a.gateway}/${hostPrefix(a)} dev ${ifname}${a.family === 4 ? ' scope link' : ''} src ${a.ip}`);
    lines.push(`route add ${a.subnet} via ${a.gateway} dev ${ifname} src ${a.ip}`);
  }
  lines.push(...routeLines(ifname, resultIps(addrs), ipamRoutes));
  return lines;
}
