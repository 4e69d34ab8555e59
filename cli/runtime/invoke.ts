/** Executing a plugin from CNI_PATH as libcni's invoke package does: CNI_* env on top of ours, config on stdin. */
import { spawnSync } from 'node:child_process';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { findInPath } from '../../lib/cni/invoke.js';
import { sleepSync } from '../../lib/exec.js';

export type Verb = 'ADD' | 'CHECK' | 'DEL' | 'GC' | 'STATUS' | 'VERSION';

export interface PluginEnv {
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path: readonly string[];
}

/** A plugin failed: its CNI error (code, msg, details) or what it printed. */
export class PluginError extends Error {
  constructor(
    readonly type: string,
    readonly verb: Verb,
    readonly code: number | undefined,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`plugin ${type} failed (${verb}): ${details ? `${msg}: ${details}` : msg}`);
  }
}

export class PluginNotFound extends Error {
  constructor(
    readonly type: string,
    readonly path: readonly string[],
  ) {
    super(`plugin "${type}" not found in CNI_PATH ${path.join(':') || '(empty)'}`);
  }
}

export function findPlugin(type: string, path: readonly string[]): string {
  try {
    return findInPath(type, path);
  } catch {
    throw new PluginNotFound(type, path);
  }
}

export const havePlugin = (type: string, path: readonly string[]): boolean => {
  try {
    findPlugin(type, path);
    return true;
  } catch {
    return false;
  }
};

/** Run one plugin; returns its parsed stdout for ADD (and VERSION), throws PluginError on failure. */
export function execPlugin(type: string, verb: Verb, stdin: string, e: PluginEnv, baseEnv: NodeJS.ProcessEnv): Obj | undefined {
  const exe = findPlugin(type, e.path);
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    CNI_COMMAND: verb,
    CNI_CONTAINERID: e.containerId ?? '',
    CNI_NETNS: e.netns ?? '',
    CNI_IFNAME: e.ifname ?? '',
    CNI_ARGS: e.args ?? '',
    CNI_PATH: e.path.join(':'),
  };
  if (!env.PATH) env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  let r = spawnSync(exe, [], { input: stdin, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // libcni retries "text file busy" (a plugin being replaced while we start it)
  for (let i = 0; i < 5 && (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETXTBSY'; i++) {
    sleepSync(50);
    r = spawnSync(exe, [], { input: stdin, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  }
  // EPIPE: the plugin exited without reading all of stdin (VERSION needs none); its exit status still tells
  if (r.error && !((r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)) throw new PluginError(type, verb, undefined, `cannot run ${exe}`, r.error.message);
  const stdout = r.stdout ?? '';
  if (r.status !== 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(stdout);
    } catch {
      /* not JSON */
    }
    if (isObject(parsed) && typeof parsed.msg === 'string') {
      throw new PluginError(type, verb, typeof parsed.code === 'number' ? parsed.code : undefined, parsed.msg, typeof parsed.details === 'string' && parsed.details ? parsed.details : undefined);
    }
    const text = (r.stderr || stdout).trim() || `exit status ${r.status ?? r.signal}`;
    throw new PluginError(type, verb, undefined, text);
  }
  if (verb !== 'ADD' && verb !== 'VERSION') return undefined;
  try {
    const res = JSON.parse(stdout);
    if (!isObject(res)) throw new Error('not an object');
    return res;
  } catch {
    throw new PluginError(type, verb, undefined, 'printed a result that is not a JSON object', stdout.slice(0, 200));
  }
}
