/** Decoding the network configuration a plugin receives on stdin. Pure. */
import { CniError, ErrorCode } from './errors.js';
import { Fields, getCI, isObject, type Obj } from './fields.js';
import { parseDNS, parseResult, type DNS, type Result } from './result.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from './version.js';

export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export interface NetConf {
  /** The whole decoded stdin object (plugin-specific keys are read from here). */
  raw: Obj;
  cniVersion: string;
  name: string;
  type: string;
  ipam?: Obj;
  dns: DNS;
  args?: Obj;
  runtimeConfig?: Obj;
  prevResult?: Result;
}

/** Decode stdin JSON into an object, with code 6 on malformed input. */
export function decodeJSON(stdin: Buffer | string): Obj {
  const text = stdin.toString();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CniError(ErrorCode.DecodingFailure, `error decoding network config from stdin: ${why}`, text.length ? undefined : 'stdin is empty');
  }
  if (!isObject(v)) throw new CniError(ErrorCode.DecodingFailure, 'error decoding network config: expected a JSON object');
  return v;
}

export function configVersion(raw: Obj): string {
  const v = raw.cniVersion;
  if (v === undefined || v === null || v === '') return '0.1.0';
  if (typeof v !== 'string') throw new CniError(ErrorCode.DecodingFailure, `"cniVersion" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** `supported`: the plugin's own versions when it supports fewer than the library (e.g. firewall: 0.4.0 on). */
export function checkVersionSupported(v: string, supported: readonly string[] = SUPPORTED_VERSIONS): void {
  if (!isSupportedVersion(v) || !supported.includes(v)) {
    throw new CniError(ErrorCode.IncompatibleVersion, 'incompatible CNI versions', `config is ${JSON.stringify(v)}, plugin supports ${JSON.stringify(supported)}`);
  }
}

export function checkNetworkName(raw: Obj): string {
  const name = raw.name;
  if (name === undefined || name === null || name === '') throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  if (typeof name !== 'string') throw new CniError(ErrorCode.InvalidNetworkConfig, `network "name" must be a string, got ${JSON.stringify(name)}`);
  if (!NAME_PATTERN.test(name)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid characters found in network name ${JSON.stringify(name)}`, `it must match ${NAME_PATTERN}`);
  }
  return name;
}

/** A prevResult is read in its own cniVersion (the config's when it has none) and converted internally. */
export function parsePrevResult(raw: unknown, confVersion: string): Result | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw new CniError(ErrorCode.DecodingFailure, '"prevResult" must be an object');
  if (Object.keys(raw).length === 0) return undefined;
  return parseResult(raw, confVersion);
}

/** Decode the common keys of a plugin's network config. */
export function parseNetConf(raw: Obj): NetConf {
  const cniVersion = configVersion(raw);
  const name = checkNetworkName(raw);
  const f = new Fields(raw, 'network config');
  const conf: NetConf = {
    raw,
    cniVersion,
    name,
    type: f.string('type') ?? '',
    dns: parseDNS(raw.dns),
  };
  const ipam = f.object('ipam');
  if (ipam) conf.ipam = ipam;
  const args = f.object('args');
  if (args) conf.args = args;
  const rc = f.object('runtimeConfig');
  if (rc) conf.runtimeConfig = rc;
  const prev = parsePrevResult(raw.prevResult, cniVersion);
  if (prev) conf.prevResult = prev;
  return conf;
}

/** A runtimeConfig capability value, key matched case-insensitively. */
export function capability(conf: NetConf, name: string): unknown {
  return getCI(conf.runtimeConfig, name);
}

/** `args.cni.<key>` (CNI conventions). */
export function argsCni(conf: NetConf, key: string): unknown {
  const cni = conf.args?.cni;
  return isObject(cni) ? cni[key] : undefined;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The attachments a GC must keep: `cni.dev/valid-attachments` (or the older `cni.dev/attachments`). */
export function validAttachments(raw: Obj): Attachment[] {
  const list = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new CniError(ErrorCode.InvalidNetworkConfig, '"cni.dev/valid-attachments" must be a list');
  return list.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `"cni.dev/valid-attachments"[${i}] must be {"containerID": string, "ifname": string}`);
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
