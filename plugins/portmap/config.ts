/** portmap's configuration: keys, runtimeConfig.portMappings and the container addresses, validated. Pure. */
import { capability, type NetConf } from '../../lib/cni/config.js';
import { configError } from '../../lib/cni/errors.js';
import { Fields, getCI, isObject } from '../../lib/cni/fields.js';
import type { Result } from '../../lib/cni/result.js';
import { formatIP, isUnspecified, parseCIDR, parseIP, type Family } from '../../lib/ip.js';
import type { Backend } from '../../lib/netfilter.js';

export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
  /** Canonical address, or undefined for "any" (absent, "", 0.0.0.0, ::). */
  hostIP?: string;
  /** Family of hostIP when one is given (also for 0.0.0.0 / ::, which restrict the mapping to that family). */
  hostFamily?: Family;
}

export interface ContainerAddress {
  family: Family;
  /** The address alone, e.g. "10.0.0.2". */
  ip: string;
  /** As in the result, e.g. "10.0.0.2/24" (the iptables hairpin rule uses it, as the reference does). */
  cidr: string;
}

export interface PortMapConf {
  name: string;
  snat: boolean;
  masqAll: boolean;
  markMasqBit: number;
  externalSetMarkChain?: string;
  conditionsV4: string[];
  conditionsV6: string[];
  backend: Backend;
  /** Set net.ipv4.conf.<iface>.route_localnet=1 so 127.0.0.1:hostPort works (reference behaviour). */
  routeLocalnet: boolean;
  mappings: PortMapping[];
}

export const DEFAULT_MARK_BIT = 13;

const isIptablesSyntax = (conds: string[]): boolean => conds.length > 0 && /^[-!]/.test(conds[0]!);

function parseMapping(raw: unknown, i: number): PortMapping {
  const where = `runtimeConfig.portMappings[${i}]`;
  if (!isObject(raw)) throw configError(`${where} must be an object, got ${JSON.stringify(raw)}`);
  const port = (key: 'hostPort' | 'containerPort'): number => {
    const v = getCI(raw, key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
      throw configError(`${where}: invalid ${key === 'hostPort' ? 'host' : 'container'} port number ${JSON.stringify(v ?? null)} ("${key}" must be an integer from 1 to 65535)`);
    }
    return v;
  };
  const hostPort = port('hostPort');
  const containerPort = port('containerPort');
  const protoRaw = getCI(raw, 'protocol') ?? 'tcp';
  if (typeof protoRaw !== 'string') throw configError(`${where}: "protocol" must be a string, got ${JSON.stringify(protoRaw)}`);
  const protocol = (protoRaw === '' ? 'tcp' : protoRaw.toLowerCase()) as Protocol;
  if (!PROTOCOLS.includes(protocol)) {
    throw configError(`${where}: unsupported protocol ${JSON.stringify(protoRaw)} (allowed: ${PROTOCOLS.join(', ')})`);
  }
  const m: PortMapping = { hostPort, containerPort, protocol };
  const hostIPRaw = getCI(raw, 'hostIP');
  if (hostIPRaw !== undefined && hostIPRaw !== null && hostIPRaw !== '') {
    const ip = typeof hostIPRaw === 'string' ? parseIP(hostIPRaw) : undefined;
    if (!ip) throw configError(`${where}: "hostIP" is not an IP address: ${JSON.stringify(hostIPRaw)}`);
    m.hostFamily = ip.family;
    if (!isUnspecified(ip)) m.hostIP = formatIP(ip);
  }
  return m;
}

/** The port mappings a runtime passed (none when the capability is absent). */
export function parseMappings(conf: NetConf): PortMapping[] {
  const raw = capability(conf, 'portMappings');
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw configError(`runtimeConfig.portMappings must be a list, got ${JSON.stringify(raw)}`);
  return raw.map(parseMapping);
}

export function parseConf(conf: NetConf, defaultBackend: () => Backend): PortMapConf {
  const f = new Fields(conf.raw, 'portmap');
  const snat = f.bool('snat', true);
  const masqAll = f.bool('masqAll', false);
  const markGiven = conf.raw.markMasqBit !== undefined && conf.raw.markMasqBit !== null;
  const externalSetMarkChain = f.string('externalSetMarkChain');
  if (markGiven && externalSetMarkChain !== undefined) {
    throw configError('Cannot specify externalSetMarkChain and markMasqBit', `got markMasqBit ${JSON.stringify(conf.raw.markMasqBit)} and externalSetMarkChain ${JSON.stringify(externalSetMarkChain)}`);
  }
  const markMasqBit = f.int('markMasqBit', { min: 0, max: 31, dflt: DEFAULT_MARK_BIT })!;
  const conditionsV4 = f.stringList('conditionsV4') ?? [];
  const conditionsV6 = f.stringList('conditionsV6') ?? [];
  const requested = f.string('backend');
  if (requested !== undefined && requested !== 'nftables' && requested !== 'iptables') {
    f.fail('backend', `is ${JSON.stringify(requested)}; allowed: nftables, iptables`);
  }
  const iptOnly: string[] = [];
  const nftOnly: string[] = [];
  for (const [key, conds] of [['conditionsV4', conditionsV4], ['conditionsV6', conditionsV6]] as const) {
    if (conds.length) (isIptablesSyntax(conds) ? iptOnly : nftOnly).push(key);
  }
  if (markGiven) iptOnly.push('markMasqBit');
  if (externalSetMarkChain !== undefined) iptOnly.push('externalSetMarkChain');
  if (iptOnly.length && nftOnly.length) {
    throw configError(`configuration mixes iptables-specific options [${iptOnly.join(', ')}] and nftables-specific options [${nftOnly.join(', ')}]`);
  }
  let backend: Backend;
  if (requested) {
    const other = requested === 'nftables' ? iptOnly : nftOnly;
    if (other.length) {
      throw configError(`${requested} backend was requested but configuration contains ${requested === 'nftables' ? 'iptables' : 'nftables'}-specific options [${other.join(', ')}]`);
    }
    backend = requested as Backend;
  } else if (iptOnly.length) backend = 'iptables';
  else if (nftOnly.length) backend = 'nftables';
  else backend = defaultBackend();
  const out: PortMapConf = {
    name: conf.name,
    snat,
    masqAll,
    markMasqBit,
    conditionsV4,
    conditionsV6,
    backend,
    routeLocalnet: f.bool('routeLocalnet', true),
    mappings: parseMappings(conf),
  };
  if (externalSetMarkChain !== undefined) out.externalSetMarkChain = externalSetMarkChain;
  return out;
}

/**
 * The container's first IPv4 and first IPv6 address from prevResult, skipping addresses that belong to a known
 * interface other than the sandboxed CNI_IFNAME (as the reference's parseConfig does).
 */
export function containerAddresses(result: Result | undefined, ifname: string): ContainerAddress[] {
  if (!result) return [];
  const found = new Map<Family, ContainerAddress>();
  const ifaces = result.interfaces ?? [];
  for (const ipc of result.ips ?? []) {
    const c = parseCIDR(ipc.address);
    if (!c || found.has(c.ip.family)) continue;
    const idx = ipc.interface;
    if (idx !== undefined && idx >= 0 && idx < ifaces.length && (ifaces[idx]!.name !== ifname || !ifaces[idx]!.sandbox)) continue;
    found.set(c.ip.family, { family: c.ip.family, ip: formatIP(c.ip), cidr: ipc.address });
  }
  return [4, 6].flatMap((fam) => (found.has(fam as Family) ? [found.get(fam as Family)!] : []));
}

/** Does a mapping apply to a container address of `family`? (hostIPs of the other family are skipped.) */
export const appliesTo = (m: PortMapping, family: Family): boolean => m.hostFamily === undefined || m.hostFamily === family;

