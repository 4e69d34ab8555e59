/**
 * tuning's configuration: sysctls, interface attributes and where they come from (config, args.cni, runtimeConfig,
 * CNI_ARGS), validated. Pure.
 */
import { argsCni, capability, type NetConf } from '../../lib/cni/config.js';
import { configError } from '../../lib/cni/errors.js';
import { Fields, isObject, type Obj } from '../../lib/cni/fields.js';

/** The reference keeps the originals of changed attributes here (plugins/meta/tuning defaultDataDir). */
export const DEFAULT_DATA_DIR = '/run/cni/tuning';

export interface Sysctl {
  /** The key as configured, e.g. "net.ipv4.conf.IFNAME.arp_filter". */
  key: string;
  /** Path under /proc/sys with IFNAME substituted, e.g. "net/ipv4/conf/eth0/arp_filter". */
  path: string;
  value: string;
}

/** Interface attributes to set; undefined = leave alone. */
export interface LinkSettings {
  mac?: string;
  mtu?: number;
  /** From the config only `true` (promisc false is "not requested", as in the reference); a restore may turn it off. */
  promisc?: boolean;
  allmulti?: boolean;
  txQLen?: number;
}

export interface TuningConf extends LinkSettings {
  dataDir: string;
  sysctls: Sysctl[];
}

export const wantsLinkChange = (s: LinkSettings): boolean =>
  s.mac !== undefined || s.mtu !== undefined || s.promisc !== undefined || s.allmulti !== undefined || s.txQLen !== undefined;

const MAC_PATTERN = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** A 6-byte MAC (colons or dashes), lowercased with colons; a config error naming `where` otherwise. */
export function parseMac(v: unknown, where: string): string {
  if (typeof v !== 'string' || !MAC_PATTERN.test(v)) throw configError(`${where}: invalid MAC address ${JSON.stringify(v)} (expected six hex bytes like "c2:11:22:33:44:55")`);
  return v.toLowerCase().replaceAll('-', ':');
}

/** Characters a sysctl path segment may not contain: whitespace, "=" (sysctl(8) splits on it), glob characters, NUL. */
const BAD_SEGMENT = /[\s=*?[\]\0]/;

/**
 * Where a sysctl key points under /proc/sys, as the reference computes it: dots become slashes (unless the key is
 * already a path — its first separator a slash, the sysctl(8) convention, so "net/ipv4/conf/eth0.100/rp_filter"
 * works), then the first "IFNAME" becomes the interface name. Anything that is not a plain path inside net/ is
 * refused: "..", ".", empty segments (path tricks such as "net/../kernel/..." or "net.ipv4.conf.eth0/../../.."),
 * and characters sysctl(8) would interpret.
 */
export function sysctlPath(key: string, ifname: string): string {
  const bad = (why: string): never => {
    throw configError(`invalid net sysctl key ${JSON.stringify(key)}: ${why}`, 'tuning sets only net.* sysctls of the container network namespace');
  };
  if (key.includes('..')) bad('".." is not allowed');
  const firstSep = /[./]/.exec(key)?.[0];
  const path = (firstSep === '/' ? key : key.replaceAll('.', '/')).replace('IFNAME', () => ifname);
  const segments = path.split('/');
  if (segments[0] !== 'net') bad('only keys under net. (net/) may be set');
  if (segments.length < 2) bad('it names no setting under net');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') bad('empty, "." and ".." path segments are not allowed');
    if (BAD_SEGMENT.test(s)) bad(`segment ${JSON.stringify(s)} contains whitespace, "=", a glob character or NUL`);
  }
  return segments.join('/');
}

function sysctlMap(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw configError(`${where} must be an object of "key": "value" strings, got ${JSON.stringify(v)}`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw configError(`${where}: the value of ${JSON.stringify(k)} must be a string, got ${JSON.stringify(val)}`);
  }
  return v as Record<string, string>;
}

function optInt(f: Fields, key: string, min: number, max: number): number | undefined {
  return f.int(key, { min, max });
}

const MAX_U32 = 0xffffffff;

/**
 * Decode the config. `cniArgsMac` is CNI_ARGS MAC=. Precedence as the reference: args.cni over runtimeConfig.mac
 * over CNI_ARGS over the config's own keys; args.cni.sysctl entries are added to (and override) "sysctl".
 */
export function parseTuningConf(conf: NetConf, ifname: string, cniArgsMac: string | undefined): TuningConf {
  const f = new Fields(conf.raw, 'tuning');
  const cni = isObject(conf.args?.cni) ? (conf.args!.cni as Obj) : {};
  const a = new Fields(cni, 'args.cni');

  const sysctl = { ...sysctlMap(conf.raw.sysctl, 'tuning: "sysctl"'), ...sysctlMap(cni.sysctl, 'args.cni: "sysctl"') };
  const sysctls = Object.entries(sysctl).map(([key, value]) => ({ key, path: sysctlPath(key, ifname), value }));

  let mac: string | undefined;
  const macSources: Array<[unknown, string]> = [
    [argsCni(conf, 'mac'), 'args.cni.mac'],
    [capability(conf, 'mac'), 'runtimeConfig.mac'],
    [cniArgsMac, 'CNI_ARGS MAC'],
    [conf.raw.mac, 'tuning: "mac"'],
  ];
  for (const [v, where] of macSources) {
    if (v === undefined || v === null || v === '') continue;
    mac = parseMac(v, where);
    break;
  }

  const mtu = optInt(a, 'mtu', 0, MAX_U32) ?? optInt(f, 'mtu', 0, MAX_U32);
  const txQLen = optInt(a, 'txQLen', 0, MAX_U32) ?? optInt(f, 'txQLen', 0, MAX_U32);
  const promisc = cni.promisc !== undefined && cni.promisc !== null ? a.bool('promisc') : f.bool('promisc');
  const allmultiGiven = (o: Obj): boolean => o.allmulti !== undefined && o.allmulti !== null;
  const allmulti = allmultiGiven(cni) ? a.bool('allmulti') : allmultiGiven(conf.raw) ? f.bool('allmulti') : undefined;

  const out: TuningConf = { dataDir: f.string('dataDir', DEFAULT_DATA_DIR)!, sysctls };
  if (promisc) out.promisc = true;
  if (mac !== undefined) out.mac = mac;
  if (mtu) out.mtu = mtu; // 0 means "not set", as in the reference
  if (allmulti !== undefined) out.allmulti = allmulti;
  if (txQLen !== undefined) out.txQLen = txQLen;
  return out;
}

/** The dataDir of a config that may not validate any more (DEL must still find the backup). */
export function dataDirOf(raw: Obj): string {
  return typeof raw.dataDir === 'string' && raw.dataDir !== '' ? raw.dataDir : DEFAULT_DATA_DIR;
}

/**
 * The sysctl allowlist (/etc/cni/tuning/allowlist.conf in the reference): one regular expression per line; when the
 * file exists every configured key must match one of them (unanchored, as Go's regexp.MatchString).
 */
export function parseAllowlist(text: string): RegExp[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      try {
        return new RegExp(l);
      } catch (e) {
        throw configError(`invalid regular expression ${JSON.stringify(l)} in the tuning sysctl allowlist`, (e as Error).message);
      }
    });
}

export function checkAllowlist(sysctls: readonly Sysctl[], allow: readonly RegExp[]): void {
  for (const s of sysctls) {
    if (!allow.some((re) => re.test(s.key))) {
      throw configError(`Sysctl ${s.key} is not allowed. Only the following sysctls are allowed: [${allow.map((r) => r.source).join(' ')}]`);
    }
  }
}
