/**
 * What a runtime hands a plugin, built as libcni builds it (libcni/api.go buildOneConfig, injectRuntimeConfig).
 * Pure: no I/O.
 */
import { hashWithPrefix } from '../../lib/hash.js';
import { isObject, type Obj } from '../../lib/cni/fields.js';

/** JSON as Go marshals a map: keys sorted at every level, compact. */
export function canonicalJSON(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  const o: Obj = {};
  for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
  return o;
}

export interface PluginRequest {
  name: string;
  cniVersion: string;
  /** The previous plugin's result (ADD) or the cached result (CHECK, DEL), as JSON. */
  prevResult?: unknown;
  /** Capability args offered by the runtime; only those the plugin declares go into runtimeConfig. */
  capabilityArgs?: Obj;
}

/**
 * The stdin of one plugin: its object with `name` and `cniVersion` of the list, `prevResult`, and `runtimeConfig`
 * holding the declared capabilities the runtime has arguments for (replacing a static runtimeConfig only then,
 * as libcni does).
 */
export function pluginStdin(plugin: Obj, req: PluginRequest): string {
  const conf: Obj = { ...plugin, name: req.name, cniVersion: req.cniVersion };
  delete conf.prevResult;
  const rc = runtimeConfigFor(plugin, req.capabilityArgs ?? {});
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  const sorted = sortKeys(conf) as Obj;
  if (req.prevResult === undefined) return JSON.stringify(sorted);
  // prevResult keeps its own field order (libcni marshals it from a result struct); it sorts between name and runtimeConfig
  const out: Obj = {};
  for (const k of Object.keys(sorted)) {
    if (k > 'prevResult' && !('prevResult' in out)) out.prevResult = req.prevResult;
    out[k] = sorted[k];
  }
  if (!('prevResult' in out)) out.prevResult = req.prevResult;
  return JSON.stringify(out);
}

export function runtimeConfigFor(plugin: Obj, capabilityArgs: Obj): Obj {
  const caps = isObject(plugin.capabilities) ? plugin.capabilities : {};
  const rc: Obj = {};
  for (const [cap, on] of Object.entries(caps)) if (on === true && cap in capabilityArgs) rc[cap] = capabilityArgs[cap];
  return rc;
}

/** The capabilities a list's plugins declare. */
export function declaredCapabilities(plugins: readonly Obj[]): Set<string> {
  const s = new Set<string>();
  for (const p of plugins) if (isObject(p.capabilities)) for (const [k, on] of Object.entries(p.capabilities)) if (on === true) s.add(k);
  return s;
}

/** cnitool's container ID for a netns path: "cnitool-" + the first 10 bytes of sha512(absolute path), in hex. */
export function cnitoolContainerId(absNetns: string): string {
  return hashWithPrefix(28, 'cnitool-', absNetns);
}

/** CNI_ARGS as cnitool reads it: "K=V;K=V", every pair exactly one "=" with both sides non-empty. */
export function parseCnitoolArgs(s: string): [string, string][] {
  return s.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new Error(`invalid CNI_ARGS pair ${JSON.stringify(pair)}: expected KEY=VALUE`);
    return [kv[0], kv[1]];
  });
}

export const formatCniArgs = (args: readonly (readonly [string, string])[]): string => args.map(([k, v]) => `${k}=${v}`).join(';');
