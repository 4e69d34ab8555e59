/**
 * libcni's result cache (libcni/api.go cacheAdd / getCachedResult / GetCachedAttachments):
 * `<cacheDir>/results/<network>-<containerID>-<ifname>`, mode 0600, JSON of kind "cniCacheV1" holding the config
 * bytes (base64, as Go marshals []byte), the CNI_ARGS pairs, the capability args and the final ADD result, so a
 * later CHECK/DEL — by cnictl, cnitool, containerd or podman — gets its prevResult.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/files.js';
import { join } from 'node:path';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { canonicalJSON } from './request.js';

export const CACHE_KIND = 'cniCacheV1';

export interface CacheEntry {
  containerId: string;
  ifName: string;
  networkName: string;
  /** The network config list bytes the attachment was made with. */
  config: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Obj;
  result?: Obj;
}

export const cacheFileName = (network: string, containerId: string, ifname: string): string => `${network}-${containerId}-${ifname}`;

/** The file's JSON (field order of libcni's cachedInfo struct; maps with sorted keys, as Go writes them). */
export function encodeCache(e: CacheEntry): string {
  const o: Obj = {
    kind: CACHE_KIND,
    containerId: e.containerId,
    config: Buffer.from(e.config).toString('base64'),
    ifName: e.ifName,
    networkName: e.networkName,
  };
  if (e.netns) o.netns = e.netns;
  if (e.cniArgs?.length) o.cniArgs = e.cniArgs;
  if (e.capabilityArgs && Object.keys(e.capabilityArgs).length) o.capabilityArgs = JSON.parse(canonicalJSON(e.capabilityArgs));
  if (e.result) o.result = JSON.parse(canonicalJSON(e.result));
  return JSON.stringify(o);
}

/** Decode a cache file; undefined when it is not cniCacheV1 (a legacy cache file is the bare result). */
export function decodeCache(text: string): CacheEntry | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw) || raw.kind !== CACHE_KIND) return undefined;
  const str = (k: string) => (typeof raw[k] === 'string' ? (raw[k] as string) : '');
  const e: CacheEntry = {
    containerId: str('containerId'),
    ifName: str('ifName'),
    networkName: str('networkName'),
    config: raw.config ? Buffer.from(str('config'), 'base64').toString() : '',
  };
  if (str('netns')) e.netns = str('netns');
  if (Array.isArray(raw.cniArgs)) e.cniArgs = raw.cniArgs.filter((p) => Array.isArray(p) && p.length === 2).map((p) => [String(p[0]), String(p[1])]);
  if (isObject(raw.capabilityArgs)) e.capabilityArgs = raw.capabilityArgs;
  if (isObject(raw.result)) e.result = raw.result;
  return e;
}

export class ResultCache {
  constructor(readonly cacheDir: string) {}

  get dir(): string {
    return join(this.cacheDir, 'results');
  }

  path(network: string, containerId: string, ifname: string): string {
    return join(this.dir, cacheFileName(network, containerId, ifname));
  }

  write(e: CacheEntry): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const p = this.path(e.networkName, e.containerId, e.ifName);
    writeFileAtomic(p, encodeCache(e), 0o600);
  }

  /** The raw file (cniCacheV1 entry or a legacy bare result), or undefined when there is none. */
  readRaw(network: string, containerId: string, ifname: string): string | undefined {
    try {
      return readFileSync(this.path(network, containerId, ifname), 'utf8');
    } catch {
      return undefined;
    }
  }

  read(network: string, containerId: string, ifname: string): CacheEntry | undefined {
    const t = this.readRaw(network, containerId, ifname);
    return t === undefined ? undefined : decodeCache(t);
  }

  remove(network: string, containerId: string, ifname: string): void {
    rmSync(this.path(network, containerId, ifname), { force: true });
  }

  /** Every cniCacheV1 attachment (optionally of one network), sorted by file name as libcni lists them. */
  list(network?: string): CacheEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).sort();
    } catch {
      return [];
    }
    const out: CacheEntry[] = [];
    for (const n of names) {
      if (network !== undefined && !n.startsWith(`${network}-`)) continue;
      let e: CacheEntry | undefined;
      try {
        e = decodeCache(readFileSync(join(this.dir, n), 'utf8'));
      } catch {
        continue;
      }
      if (!e || !e.ifName || !e.networkName) continue;
      if (network !== undefined && e.networkName !== network) continue;
      out.push(e);
    }
    return out;
  }
}
