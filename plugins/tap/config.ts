/** tap network config: the keys of the reference tap plugin, validated, and the `ip` lines that make the tap. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { Fields } from '../../lib/cni/fields.js';
import { capability, type NetConf } from '../../lib/cni/config.js';
import { parseCniArgs } from '../../lib/cni/args.js';
import { requireAddressesForVersion } from '../../lib/cni/result.js';

export interface TapConf {
  /** The MAC to set: runtimeConfig.mac, else CNI_ARGS MAC=, else the config's "mac" (lower case). */
  mac?: string;
  /** 0: the kernel's default (1500). */
  mtu: number;
  multiQueue: boolean;
  owner?: number;
  group?: number;
  selinuxContext?: string;
  /** A bridge in the container's netns the tap becomes a port of. */
  bridge?: string;
}

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

/** A MAC a link can have: six octets, unicast (the kernel refuses a multicast one), not all zero. */
export function macProblem(mac: string): string | undefined {
  if (!MAC.test(mac)) return 'is not a MAC address (six hex octets separated by colons)';
  if (parseInt(mac.slice(0, 2), 16) & 1) return 'is a multicast address (its first octet is odd): a link needs a unicast MAC';
  if (/^(00:){5}00$/.test(mac)) return 'is all zeros';
  return undefined;
}

const invalid = (msg: string, details?: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg, details);

/** An interface name as the kernel takes it (1–15 bytes, no '/', ':' or whitespace, not . or ..). */
const isIfName = (s: string): boolean => Buffer.byteLength(s) <= 15 && !/[/:\s]/.test(s) && s !== '.' && s !== '..';

/**
 * The config and the runtime's arguments (`cniArgs`: raw CNI_ARGS; its unknown keys are an error without
 * IgnoreUnknown, as the reference's LoadArgs).
 */
export function parseTapConf(conf: NetConf, cniArgs: string): TapConf {
  const f = new Fields(conf.raw, 'tap config');
  const out: TapConf = { mtu: f.mtu() ?? 0, multiQueue: f.bool('multiQueue') };
  const candidates: Array<[unknown, string]> = [
    [capability(conf, 'mac'), 'runtimeConfig.mac'],
    [parseCniArgs(cniArgs, ['MAC']).MAC, 'CNI_ARGS MAC'],
    [f.string('mac'), 'tap config "mac"'],
  ];
  for (const [v, where] of candidates) {
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') throw invalid(`invalid MAC address ${JSON.stringify(v)} in ${where}`, 'it must be a string');
    const problem = macProblem(v);
    if (problem) throw invalid(`invalid MAC address ${JSON.stringify(v)} in ${where}: it ${problem}`);
    out.mac = v.toLowerCase();
    break;
  }
  const owner = f.int('owner', { min: 0, max: 4294967295 });
  if (owner !== undefined) out.owner = owner;
  const group = f.int('group', { min: 0, max: 4294967295 });
  if (group !== undefined) out.group = group;
  const selinux = f.string('selinuxContext');
  if (selinux !== undefined) {
    if (!/^[^\s:]+:[^\s:]+:[^\s:]+(:\S+)?$/.test(selinux)) f.fail('selinuxContext', `is not an SELinux context (user:role:type[:level]): ${JSON.stringify(selinux)}`);
    out.selinuxContext = selinux;
  }
  const bridge = f.string('bridge');
  if (bridge !== undefined) {
    if (!isIfName(bridge)) f.fail('bridge', `is not an interface name: ${JSON.stringify(bridge)}`);
    out.bridge = bridge;
  }
  return out;
}

/**
 * A tap without IPAM has no addresses, which a 0.1.0/0.2.0 result cannot carry: refused before anything is created
 * (the reference creates the tap, then fails to print the result and leaves the tap behind).
 */
export function requireRepresentable(cniVersion: string, hasIpam: boolean): void {
  requireAddressesForVersion(cniVersion, hasIpam, 'a tap');
}

/**
 * `ip tuntap add` arguments for a persistent tap named `name`. With both owner and group the reference creates it
 * through netlink with IFF_VNET_HDR and (unless multi-queue) packet information on: the same flags here, so the device
 * looks the same (a process attaching later sets its own flags anyway).
 */
export function tuntapArgs(c: TapConf, name: string): string[] {
  const args = ['tuntap', 'add', 'mode', 'tap', 'name', name];
  if (c.multiQueue) args.push('multi_queue');
  if (c.owner !== undefined) args.push('user', String(c.owner));
  if (c.group !== undefined) args.push('group', String(c.group));
  if (c.owner !== undefined && c.group !== undefined) args.push('vnet_hdr', ...(c.multiQueue ? [] : ['pi']));
  return args;
}

/** `link set` of the MTU and MAC right after creation (nothing when neither is configured). */
export function settingsLine(c: TapConf, name: string): string[] {
  const opts = [...(c.mtu ? ['mtu', String(c.mtu)] : []), ...(c.mac ? ['address', c.mac] : [])];
  return opts.length ? [`link set dev ${name} ${opts.join(' ')}`] : [];
}
