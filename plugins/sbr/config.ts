/** sbr network config: the keys of the current reference sbr (Debian's 1.1.1 has none of them), validated. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import type { NetConf } from '../../lib/cni/config.js';
import { canonicalKeys, Fields } from '../../lib/cni/fields.js';
import type { IPConfig, Result } from '../../lib/cni/result.js';
import { isMulticast, isUnspecified, parseIP } from '../../lib/ip.js';

export interface SbrConf {
  /** A fixed routing table: only the `from <ip>` rules are made (upstream's doRoutesWithTable). */
  table?: number;
  /** Static gateways (at most one per family) used instead of the IPs' own. */
  gateways: { 4?: string; 6?: string };
  /** Keep the subnet routes in the main table with the address as source hint, delete only the others. */
  addSourceHints: boolean;
}

const invalid = (msg: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg);

export function parseSbrConf(conf: NetConf): SbrConf {
  const f = new Fields(canonicalKeys(conf.raw, ['table', 'gateways', 'addSourceHints']), 'sbr config');
  const out: SbrConf = { gateways: {}, addSourceHints: f.bool('addSourceHints') };
  const table = f.int('table', { min: 1, max: 4294967295 });
  if (table !== undefined) {
    if (table === 253 || table === 254 || table === 255) f.fail('table', `is ${table}, a table of the kernel's own (default, main, local)`);
    out.table = table;
  }
  const gws = f.stringList('gateways') ?? [];
  if (gws.length > 2) throw invalid('sbr config: "gateways" cannot contain more than 2 entries (one IPv4, one IPv6)');
  for (const g of gws) {
    const ip = parseIP(g.trim());
    if (!ip) throw invalid(`sbr config: invalid static gateway IP address ${JSON.stringify(g)} in "gateways"`);
    const fam = ip.family;
    if (out.gateways[fam]) throw invalid(`sbr config: "gateways" contains multiple IPv${fam} addresses: ${out.gateways[fam]} and ${g}`);
    out.gateways[fam] = g.trim();
  }
  return out;
}

/**
 * The prevResult's IPs that belong to `ifname` (the reference's getIPCfgs): an IP without an interface index, or whose
 * index is out of range, counts; one whose interface has another name does not. No IPs at all is an error.
 */
export function ipsOfInterface(prev: Result, ifname: string): IPConfig[] {
  const ips = prev.ips ?? [];
  if (ips.length === 0) throw new CniError(ErrorCode.Internal, `No IP addresses supplied on interface: ${ifname}`);
  const ifaces = prev.interfaces ?? [];
  return ips.filter((ip) => ip.interface === undefined || ip.interface < 0 || ip.interface >= ifaces.length || ifaces[ip.interface]!.name === ifname);
}

/**
 * An address sbr routes by must be one host's: `from ::` or `from 0.0.0.0` (an unspecified address, e.g. `::/0` in
 * prevResult) would send everything through the new table, and a multicast or broadcast source is no host's. Refused
 * before anything is made (code 7, naming the address).
 */
export function requireHostAddresses(ips: readonly IPConfig[]): void {
  for (const ip of ips) {
    const a = parseIP(ip.address.split('/')[0]!);
    if (!a) continue; // the result parser reports those
    if (isUnspecified(a) || isMulticast(a)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `prevResult address ${JSON.stringify(ip.address)} is not a host address (${isUnspecified(a) ? 'unspecified' : 'multicast or broadcast'}): sbr routes by the source address of one host`);
    }
  }
}
