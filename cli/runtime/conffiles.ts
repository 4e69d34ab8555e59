/**
 * Loading network configs from a directory exactly as libcni does (libcni/conf.go): `.conflist` files first,
 * sorted by file name, matched by their "name"; then `.conf` and `.json` files (single plugin configs), each
 * up-converted to a one-plugin list. A file that does not parse is skipped and reported (libcni stops at it).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { compareVersions, isSupportedVersion } from '../../lib/cni/version.js';
import { canonicalJSON } from './request.js';

export interface ConfList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  /** The plugin objects, as written. */
  plugins: Obj[];
  /** What libcni caches as the config: the file's bytes (a `.conf` up-converted into a list first). */
  bytes: string;
  /** The file it came from. */
  file: string;
}

export class ConfError extends Error {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}`);
  }
}

function boolKey(raw: Obj, key: string, file: string): boolean {
  const v = raw[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfError(file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
}

/** cniVersions (spec 1.1): the highest version this runtime supports wins over cniVersion. */
function pickVersion(raw: Obj, file: string): string {
  const v = raw.cniVersion;
  if (v !== undefined && typeof v !== 'string') throw new ConfError(file, `"cniVersion" must be a string, got ${JSON.stringify(v)}`);
  const list = raw.cniVersions;
  if (Array.isArray(list)) {
    const ok = list.filter((x): x is string => typeof x === 'string' && isSupportedVersion(x)).sort(compareVersions);
    if (ok.length) return ok[ok.length - 1]!;
  }
  return (v as string | undefined) ?? '';
}

function parseObject(text: string, file: string): Obj {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new ConfError(file, 'not a JSON object');
  return raw;
}

/** A conflist's bytes (libcni ConfListFromBytes). */
export function confListFromBytes(text: string, file: string): ConfList {
  const raw = parseObject(text, file);
  if (typeof raw.name !== 'string') throw new ConfError(file, raw.name === undefined ? 'no "name"' : `"name" must be a string`);
  const plugins = raw.plugins;
  if (plugins === undefined) throw new ConfError(file, 'no "plugins" list');
  if (!Array.isArray(plugins)) throw new ConfError(file, '"plugins" must be a list');
  if (plugins.length === 0) throw new ConfError(file, '"plugins" is empty');
  plugins.forEach((p, i) => {
    if (!isObject(p)) throw new ConfError(file, `plugins[${i}] must be an object`);
    if (typeof p.type !== 'string' || p.type === '') throw new ConfError(file, `plugins[${i}] has no "type"`);
  });
  return {
    name: raw.name,
    cniVersion: pickVersion(raw, file),
    disableCheck: boolKey(raw, 'disableCheck', file),
    disableGC: boolKey(raw, 'disableGC', file),
    plugins: plugins as Obj[],
    bytes: text,
    file,
  };
}

/** A single-plugin `.conf` up-converted to a list, with the bytes libcni builds for it (ConfListFromConf). */
export function confListFromConf(text: string, file: string): ConfList {
  const raw = parseObject(text, file);
  if (typeof raw.type !== 'string' || raw.type === '') throw new ConfError(file, 'missing "type"');
  const name = typeof raw.name === 'string' ? raw.name : '';
  const cniVersion = typeof raw.cniVersion === 'string' ? raw.cniVersion : '';
  return confListFromBytes(canonicalJSON({ cniVersion, name, plugins: [raw] }), file);
}

function filesWith(dir: string, exts: readonly string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => n.includes('.') && exts.includes(n.slice(n.lastIndexOf('.'))))
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    })
    .sort();
}

export interface Loaded {
  lists: ConfList[];
  /** Files that did not parse. */
  errors: ConfError[];
}

/** Every network in `dir`, in libcni's lookup order (the first of a name wins). */
export function loadAll(dir: string): Loaded {
  const lists: ConfList[] = [];
  const errors: ConfError[] = [];
  const seen = new Set<string>();
  const take = (file: string, parse: (t: string, f: string) => ConfList) => {
    try {
      const l = parse(readFileSync(file, 'utf8'), file);
      if (seen.has(l.name)) return;
      seen.add(l.name);
      lists.push(l);
    } catch (e) {
      errors.push(e instanceof ConfError ? e : new ConfError(file, (e as Error).message));
    }
  };
  for (const f of filesWith(dir, ['.conflist'])) take(f, confListFromBytes);
  for (const f of filesWith(dir, ['.conf', '.json'])) take(f, confListFromConf);
  return { lists, errors };
}

/** The network called `name` (libcni LoadConfList), or undefined. */
export function findList(dir: string, name: string): { list?: ConfList; errors: ConfError[] } {
  const { lists, errors } = loadAll(dir);
  return { list: lists.find((l) => l.name === name), errors };
}
