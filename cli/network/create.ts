/** `network create` options → the conflist cnictl writes (Docker's option names where they make sense). Pure. */
import type { Obj } from '../../lib/cni/fields.js';
import { formatCIDR, formatIP, parseCIDR, type CIDR } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';
import { chooseSubnet, overlapError, parseSubnet, planRange, ula64, type RangePlan, type Taken } from './subnet.js';

export const DRIVERS = ['bridge', 'macvlan', 'ipvlan'] as const;
export type Driver = (typeof DRIVERS)[number];

/** Plugins appended after portmap when their type exists on CNI_PATH, in this order. */
export const EXTRA_PLUGINS = ['firewall', 'tuning', 'bandwidth'] as const;

export interface DriverOptions {
  bridgeName?: string;
  mtu?: number;
  parent?: string;
  mode?: string;
  masquerade: boolean;
}

const OPTION_KEYS: Record<Driver, string[]> = {
  bridge: ['com.docker.network.bridge.name', 'com.docker.network.driver.mtu', 'mtu', 'com.docker.network.bridge.enable_ip_masquerade'],
  macvlan: ['parent', 'macvlan_mode', 'com.docker.network.driver.mtu', 'mtu'],
  ipvlan: ['parent', 'ipvlan_mode', 'com.docker.network.driver.mtu', 'mtu'],
};

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function parseDriverOptions(driver: Driver, opts: readonly string[]): DriverOptions {
  const o: DriverOptions = { masquerade: true };
  for (const kv of opts) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UserError(`invalid --opt ${JSON.stringify(kv)}: expected KEY=VALUE`);
    const key = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    if (!OPTION_KEYS[driver].includes(key)) throw new UserError(`unknown --opt ${key} for driver ${driver}: known options are ${OPTION_KEYS[driver].join(', ')}`);
    switch (key) {
      case 'com.docker.network.bridge.name':
      case 'parent':
        if (!IFNAME.test(value)) throw new UserError(`invalid --opt ${key}=${value}: an interface name is 1-15 characters of letters, digits, _ . -`);
        if (key === 'parent') o.parent = value;
        else o.bridgeName = value;
        break;
      case 'com.docker.network.driver.mtu':
      case 'mtu': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 68 || n > 65535) throw new UserError(`invalid --opt ${key}=${value}: the MTU is a number from 68 to 65535`);
        o.mtu = n;
        break;
      }
      case 'macvlan_mode':
      case 'ipvlan_mode': {
        const allowed = key === 'macvlan_mode' ? ['bridge', 'private', 'vepa', 'passthru'] : ['l2', 'l3', 'l3s'];
        if (!allowed.includes(value)) throw new UserError(`invalid --opt ${key}=${value}: one of ${allowed.join(', ')}`);
        o.mode = value;
        break;
      }
      case 'com.docker.network.bridge.enable_ip_masquerade':
        if (value !== 'true' && value !== 'false') throw new UserError(`invalid --opt ${key}=${value}: true or false`);
        o.masquerade = value === 'true';
        break;
    }
  }
  return o;
}

export interface SubnetRequest {
  name: string;
  subnets: readonly string[];
  gateways: readonly string[];
  ipRanges: readonly string[];
  ipv6: boolean;
}

/**
 * One IPv4 range (given, or the first free pool subnet) and, with --ipv6 or an IPv6 --subnet, one IPv6 range
 * (given, or a ULA /64 from the name). Explicit subnets must not overlap other networks; chosen ones avoid host
 * routes too. Gateways and ip-ranges go to the subnet of their family.
 */
export function planSubnets(req: SubnetRequest, networks: readonly Taken[], routes: readonly Taken[]): RangePlan[] {
  const byFamily = new Map<4 | 6, CIDR>();
  for (const s of req.subnets) {
    const c = parseSubnet(s);
    if (byFamily.has(c.ip.family)) throw new UserError(`more than one IPv${c.ip.family} --subnet (${formatCIDR(byFamily.get(c.ip.family)!)} and ${s}): cnictl networks have one subnet per family`);
    overlapError(c, networks);
    byFamily.set(c.ip.family, c);
  }
  if (!byFamily.has(4)) byFamily.set(4, chooseSubnet([...networks, ...routes]));
  if ((req.ipv6 || byFamily.has(6)) && !byFamily.has(6)) {
    const u = ula64(req.name);
    overlapError(u, networks);
    byFamily.set(6, u);
  }
  const gwFor = new Map<4 | 6, string>();
  for (const g of req.gateways) {
    const fam = g.includes(':') ? 6 : 4;
    if (!req.subnets.some((s) => (s.includes(':') ? 6 : 4) === fam)) throw new UserError(`--gateway ${g} needs a --subnet of the same family to go with it`);
    if (gwFor.has(fam)) throw new UserError(`more than one IPv${fam} --gateway`);
    gwFor.set(fam, g);
  }
  const rangeFor = new Map<4 | 6, string>();
  for (const r of req.ipRanges) {
    const c = parseCIDR(r);
    const fam = c?.ip.family ?? 4;
    if (!req.subnets.some((s) => (s.includes(':') ? 6 : 4) === fam)) throw new UserError(`--ip-range ${r} needs a --subnet of the same family that contains it`);
    rangeFor.set(fam, r);
  }
  return [...byFamily.entries()].sort(([a], [b]) => a - b).map(([fam, subnet]) => planRange(subnet, gwFor.get(fam), rangeFor.get(fam)));
}

/** Docker's bridge names: br-<first 12 hex digits of the network ID>. */
export const bridgeNameFor = (id: string): string => `br-${id.slice(0, 12)}`;

export interface ConflistInput {
  name: string;
  driver: Driver;
  cniVersion: string;
  ranges: readonly RangePlan[];
  internal: boolean;
  options: DriverOptions;
  bridgeName: string;
  /** Of EXTRA_PLUGINS, those on CNI_PATH. */
  extras: readonly string[];
}

export function buildConflist(c: ConflistInput): Obj {
  const ranges = c.ranges.map((r) => {
    const x: Obj = { subnet: formatCIDR(r.subnet), gateway: formatIP(r.gateway) };
    if (r.rangeStart) x.rangeStart = formatIP(r.rangeStart);
    if (r.rangeEnd) x.rangeEnd = formatIP(r.rangeEnd);
    return [x];
  });
  const routes = c.internal ? [] : c.ranges.map((r) => ({ dst: r.subnet.ip.family === 4 ? '0.0.0.0/0' : '::/0' }));
  const ipam: Obj = { type: 'host-local', ranges };
  if (routes.length) ipam.routes = routes;
  let main: Obj;
  if (c.driver === 'bridge') {
    main = { type: 'bridge', bridge: c.options.bridgeName ?? c.bridgeName, isGateway: true, ipMasq: !c.internal && c.options.masquerade, hairpinMode: true };
  } else {
    main = { type: c.driver };
    if (c.options.parent) main.master = c.options.parent;
    main.mode = c.options.mode ?? (c.driver === 'macvlan' ? 'bridge' : 'l2');
  }
  if (c.options.mtu) main.mtu = c.options.mtu;
  main.ipam = ipam;
  main.capabilities = c.driver === 'ipvlan' ? { ips: true } : { ips: true, mac: true };
  const plugins: Obj[] = [main, { type: 'portmap', capabilities: { portMappings: true } }];
  for (const t of EXTRA_PLUGINS) {
    if (!c.extras.includes(t)) continue;
    if (t === 'bandwidth') plugins.push({ type: t, capabilities: { bandwidth: true } });
    // Docker's isolation of bridge networks (the reference firewall's CNI-ISOLATION-STAGE-1/2 for this bridge), and
    // published ports open also where FORWARD's policy is DROP and from other networks (cni-ts's acceptPublishedPorts)
    else if (t === 'firewall' && c.driver === 'bridge') plugins.push({ type: t, ingressPolicy: 'same-bridge', acceptPublishedPorts: true });
    else plugins.push({ type: t });
  }
  return { cniVersion: c.cniVersion, name: c.name, plugins };
}
