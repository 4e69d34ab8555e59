/**
 * The runtime half of CNI, as libcni does it (libcni/api.go): ADD runs a list's plugins in order passing each
 * result on as prevResult and caches the final result; CHECK runs them in order and DEL in reverse, both with the
 * cached result (converted to the list's version) as prevResult; GC removes stale cached attachments and then
 * sends GC with the valid ones to every plugin; STATUS asks every plugin.
 */
import { type Obj } from '../../lib/cni/fields.js';
import { formatResult, parseResult } from '../../lib/cni/result.js';
import { compareVersions } from '../../lib/cni/version.js';
import { ResultCache, decodeCache, type CacheEntry } from './cache.js';
import type { ConfList } from './conffiles.js';
import { execPlugin, PluginError } from './invoke.js';
import { formatCniArgs, pluginStdin } from './request.js';

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: [string, string][];
  capabilityArgs?: Obj;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

const atLeast = (v: string, min: string): boolean => compareVersions(v || '0.1.0', min) >= 0;

/** Prefix an error with the network it happened on. */
export class NetworkOpError extends Error {
  constructor(
    readonly network: string,
    override readonly cause: Error,
  ) {
    super(`network "${network}": ${cause.message}`);
  }
}

export class Runtime {
  readonly cache: ResultCache;

  constructor(
    readonly path: readonly string[],
    cacheDir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.cache = new ResultCache(cacheDir);
  }

  private pluginEnv(rt: RuntimeConf) {
    return { containerId: rt.containerId, netns: rt.netns, ifname: rt.ifname, args: formatCniArgs(rt.args ?? []), path: this.path };
  }

  private wrap<T>(list: ConfList, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw e instanceof NetworkOpError ? e : new NetworkOpError(list.name, e as Error);
    }
  }

  /** ADD every plugin in order; caches the final result. Returns it (in the last plugin's version). */
  add(list: ConfList, rt: RuntimeConf): Obj {
    return this.wrap(list, () => {
      let prev: Obj | undefined;
      for (const p of list.plugins) {
        const stdin = pluginStdin(p, { name: list.name, cniVersion: list.cniVersion, prevResult: prev, capabilityArgs: rt.capabilityArgs });
        const res = execPlugin(String(p.type), 'ADD', stdin, this.pluginEnv(rt), this.env)!;
        if (typeof res.cniVersion !== 'string' || !res.cniVersion) res.cniVersion = list.cniVersion || '0.1.0';
        prev = res;
      }
      const entry: CacheEntry = { containerId: rt.containerId, ifName: rt.ifname, networkName: list.name, config: list.bytes, netns: rt.netns, result: prev! };
      if (rt.args?.length) entry.cniArgs = rt.args;
      if (rt.capabilityArgs && Object.keys(rt.capabilityArgs).length) entry.capabilityArgs = rt.capabilityArgs;
      this.cache.write(entry);
      return prev!;
    });
  }

  /** The cached result converted to the list's version (libcni getCachedResult), or undefined. */
  cachedResult(list: ConfList, rt: Pick<RuntimeConf, 'containerId' | 'ifname'>): Obj | undefined {
    const text = this.cache.readRaw(list.name, rt.containerId, rt.ifname);
    if (text === undefined) return undefined;
    const entry = decodeCache(text);
    let raw: unknown = entry ? entry.result : undefined;
    if (!entry) {
      try {
        raw = JSON.parse(text); // legacy cache: the bare result
      } catch {
        return undefined;
      }
    }
    if (raw === undefined) return undefined;
    const version = list.cniVersion || '0.1.0';
    return formatResult(parseResult(raw, version), version);
  }

  cachedEntry(list: ConfList, rt: Pick<RuntimeConf, 'containerId' | 'ifname'>): CacheEntry | undefined {
    return this.cache.read(list.name, rt.containerId, rt.ifname);
  }

  check(list: ConfList, rt: RuntimeConf): void {
    this.wrap(list, () => {
      if (!atLeast(list.cniVersion, '0.4.0')) throw new Error(`configuration version "${list.cniVersion}" does not support the CHECK command`);
      if (list.disableCheck) return;
      const prev = this.cachedResult(list, rt);
      if (!prev) throw new Error(`no cached result for container ${rt.containerId} interface ${rt.ifname}: was it added?`);
      for (const p of list.plugins) {
        const stdin = pluginStdin(p, { name: list.name, cniVersion: list.cniVersion, prevResult: prev, capabilityArgs: rt.capabilityArgs });
        execPlugin(String(p.type), 'CHECK', stdin, this.pluginEnv(rt), this.env);
      }
    });
  }

  /** DEL every plugin in reverse order; removes the cache entry. Idempotent. */
  del(list: ConfList, rt: RuntimeConf): void {
    this.wrap(list, () => {
      let prev: Obj | undefined;
      if (atLeast(list.cniVersion, '0.4.0')) {
        try {
          prev = this.cachedResult(list, rt);
        } catch {
          prev = undefined; // an unreadable cache entry must not block the DEL
        }
      }
      for (let i = list.plugins.length - 1; i >= 0; i--) {
        const p = list.plugins[i]!;
        const stdin = pluginStdin(p, { name: list.name, cniVersion: list.cniVersion, prevResult: prev, capabilityArgs: rt.capabilityArgs });
        execPlugin(String(p.type), 'DEL', stdin, this.pluginEnv(rt), this.env);
      }
      this.cache.remove(list.name, rt.containerId, rt.ifname);
    });
  }

  /**
   * GC (libcni GCNetworkList): DEL every cached attachment of the list that `isValid` rejects, then (spec ≥ 1.1.0,
   * unless disableGC) GC on every plugin with the remaining ones as `cni.dev/valid-attachments`.
   * Returns the attachments removed and the errors met (it goes on after an error).
   */
  gc(list: ConfList, isValid: (e: CacheEntry) => boolean): { removed: CacheEntry[]; valid: Attachment[]; errors: Error[] } {
    const removed: CacheEntry[] = [];
    const valid: Attachment[] = [];
    const errors: Error[] = [];
    for (const e of this.cache.list(list.name)) {
      if (isValid(e)) {
        valid.push({ containerID: e.containerId, ifname: e.ifName });
        continue;
      }
      try {
        this.del(list, { containerId: e.containerId, ifname: e.ifName, netns: e.netns ?? '', args: e.cniArgs ?? [], capabilityArgs: e.capabilityArgs ?? {} });
        removed.push(e);
      } catch (err) {
        errors.push(new Error(`failed to delete stale attachment ${e.containerId} ${e.ifName}: ${(err as Error).message}`));
      }
    }
    if (atLeast(list.cniVersion, '1.1.0') && !list.disableGC) {
      for (const p of list.plugins) {
        const conf = { ...p, name: list.name, cniVersion: list.cniVersion, 'cni.dev/valid-attachments': valid, 'cni.dev/attachments': valid };
        try {
          execPlugin(String(p.type), 'GC', pluginStdin(conf, { name: list.name, cniVersion: list.cniVersion }), { path: this.path }, this.env);
        } catch (err) {
          errors.push(new NetworkOpError(list.name, err as Error));
        }
      }
    }
    return { removed, valid, errors };
  }

  /** STATUS on every plugin (spec ≥ 1.1.0; older lists have no STATUS and are reported ready). Throws on the first failure. */
  status(list: ConfList): boolean {
    if (!atLeast(list.cniVersion, '1.1.0')) return false;
    this.wrap(list, () => {
      for (const p of list.plugins) execPlugin(String(p.type), 'STATUS', pluginStdin(p, { name: list.name, cniVersion: list.cniVersion }), { path: this.path }, this.env);
    });
    return true;
  }
}

export { PluginError };
