/** The bridge plugin's configuration keys (reference plugins/main/bridge/bridge.go NetConf), validated. Pure. */
import { configError } from '../../lib/cni/errors.js';
import { Fields, isObject } from '../../lib/cni/fields.js';
import type { NetConf } from '../../lib/cni/config.js';
import { ipMasqBackendOf } from '../../lib/ipmasq.js';
import type { Backend } from '../../lib/netfilter.js';

export const DEFAULT_BRIDGE = 'cni0';

export interface BridgeConf {
  network: string;
  brName: string;
  isGW: boolean;
  isDefaultGW: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: Backend;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  portIsolation: boolean;
  /** Access VLAN (PVID, untagged) of the port; 0 = none. */
  vlan: number;
  /** Tagged VLANs of the port (trunk), sorted and unique. */
  vlans: number[];
  preserveDefaultVlan: boolean;
  macspoofchk: boolean;
  enableDad: boolean;
  disableContainerInterface: boolean;
  /** An IPAM type is configured: L3 mode. Otherwise L2 only (no addresses). */
  layer3: boolean;
  /** Container MAC requested by the runtime. */
  mac?: string;
}

/** Interface names the kernel accepts: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
export function checkLinkName(name: string, key: string): void {
  const bad = (why: string): never => {
    throw configError(`bridge config: "${key}" ${JSON.stringify(name)} is not a valid interface name: ${why}`);
  };
  if (Buffer.byteLength(name) > 15) bad(`it is ${Buffer.byteLength(name)} bytes long, at most 15 are allowed`);
  if (name === '.' || name === '..') bad('it is . or ..');
  if (/[/:\s]/.test(name)) bad('it contains / or : or whitespace');
}

const vlanTrunkError = (msg: string): never => {
  throw configError(`bridge config: "vlanTrunk": ${msg}`);
};

function trunkInt(item: Record<string, unknown>, key: string): number | undefined {
  const v = item[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) vlanTrunkError(`"${key}" must be an integer, got ${JSON.stringify(v)}`);
  return v as number;
}

/** The reference's collectVlanTrunk: [{id} | {minID, maxID}] → sorted unique VLAN ids. */
export function collectVlanTrunk(raw: unknown[] | undefined): number[] {
  if (!raw) return [];
  const set = new Set<number>();
  const inRange = (v: number): boolean => v > 0 && v <= 4094;
  for (const item of raw) {
    if (!isObject(item)) vlanTrunkError(`each entry must be an object, got ${JSON.stringify(item)}`);
    const it = item as Record<string, unknown>;
    const min = trunkInt(it, 'minID');
    const max = trunkInt(it, 'maxID');
    const id = trunkInt(it, 'id');
    if (min !== undefined && max !== undefined) {
      if (!inRange(min)) vlanTrunkError(`incorrect trunk minID parameter ${min} (must be between 1 and 4094)`);
      if (!inRange(max)) vlanTrunkError(`incorrect trunk maxID parameter ${max} (must be between 1 and 4094)`);
      if (max < min) vlanTrunkError(`minID is greater than maxID in trunk parameter (${min} > ${max})`);
      for (let v = min; v <= max; v++) set.add(v);
    } else if (min === undefined && max !== undefined) {
      vlanTrunkError('minID and maxID should be configured simultaneously, minID is missing');
    } else if (min !== undefined && max === undefined) {
      vlanTrunkError('minID and maxID should be configured simultaneously, maxID is missing');
    }
    if (id !== undefined) {
      if (!inRange(id)) vlanTrunkError(`incorrect trunk id parameter ${id} (must be between 1 and 4094)`);
      set.add(id);
    }
  }
  return [...set].sort((a, b) => a - b);
}

/** Parse and validate; `mac` is the runtime's requested MAC (runtimeConfig > args.cni > CNI_ARGS), already validated. */
export function parseBridgeConf(conf: NetConf, mac?: string): BridgeConf {
  const f = new Fields(conf.raw, 'bridge config');
  const brName = f.string('bridge') ?? DEFAULT_BRIDGE;
  checkLinkName(brName, 'bridge');
  const isDefaultGW = f.bool('isDefaultGateway');
  const mtu = f.mtu();
  const vlan = f.int('vlan') ?? 0;
  if (vlan < 0 || vlan > 4094) f.fail('vlan', `invalid VLAN ID ${vlan} (must be between 0 and 4094)`);
  const vlans = collectVlanTrunk(f.list('vlanTrunk'));
  if (vlan > 0 && vlans.length > 0) throw configError('bridge config: cannot set "vlan" and "vlanTrunk" at the same time');
  const hairpinMode = f.bool('hairpinMode');
  const promiscMode = f.bool('promiscMode');
  if (hairpinMode && promiscMode) throw configError('bridge config: cannot set hairpin mode and promiscuous mode at the same time ("hairpinMode" and "promiscMode" are both true)');
  const backend = ipMasqBackendOf(f);
  const ipamType = conf.ipam?.type;
  if (ipamType !== undefined && typeof ipamType !== 'string') throw configError(`bridge config: "ipam.type" must be a string, got ${JSON.stringify(ipamType)}`);
  const layer3 = typeof ipamType === 'string' && ipamType !== '';
  const disableContainerInterface = f.bool('disableContainerInterface');
  if (disableContainerInterface && layer3) throw configError('bridge config: cannot use IPAM when "disableContainerInterface" is set');
  const out: BridgeConf = {
    network: conf.name,
    brName,
    isGW: f.bool('isGateway') || isDefaultGW,
    isDefaultGW,
    forceAddress: f.bool('forceAddress'),
    ipMasq: f.bool('ipMasq'),
    hairpinMode,
    promiscMode,
    portIsolation: f.bool('portIsolation'),
    vlan,
    vlans,
    // The reference defaults this to true ("maintain existing behavior").
    preserveDefaultVlan: f.bool('preserveDefaultVlan', true),
    macspoofchk: f.bool('macspoofchk'),
    enableDad: f.bool('enabledad'),
    disableContainerInterface,
    layer3,
  };
  if (backend) out.ipMasqBackend = backend;
  if (mtu) out.mtu = mtu;
  if (mac) out.mac = mac;
  return out;
}

export const needsVlanFiltering = (c: BridgeConf): boolean => c.vlan !== 0 || c.vlans.length > 0;
