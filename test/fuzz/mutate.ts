/**
 * Mutations of one plugin invocation's input: the config (any key, at any depth), the prevResult, the CNI_*
 * environment, and stdin's raw bytes. Each returns a one-line description for the report. Pure (given the Rng).
 */
import type { Rng } from './rng.js';
import { HOSTILE_CIDRS, HOSTILE_STRINGS, deepNest, hostileValue, type Json } from './values.js';
import { MAIN_TYPES, NETNS } from './targets.js';

export type Env = Record<string, string | undefined>;

/** An invocation's input while it is being mutated. `raw` replaces the JSON text of `conf` once set. */
export interface Doc {
  conf: Json;
  env: Env;
  raw?: string;
  /** `raw` holds bytes (one char per byte), not text: for stdin that is not UTF-8. */
  rawBytes?: boolean;
}

type Path = Array<string | number>;

const isObj = (v: Json): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every path in `v` (objects and arrays, depth-first), up to `max` deep. */
export function pathsOf(v: Json, max = 6, at: Path = []): Path[] {
  const out: Path[] = [];
  if (at.length >= max) return out;
  if (Array.isArray(v)) v.slice(0, 20).forEach((x, i) => out.push([...at, i], ...pathsOf(x, max, [...at, i])));
  else if (isObj(v)) for (const k of Object.keys(v)) out.push([...at, k], ...pathsOf(v[k]!, max, [...at, k]));
  return out;
}

export function getAt(v: Json, path: Path): Json | undefined {
  let cur: Json | undefined = v;
  for (const p of path) {
    if (Array.isArray(cur) && typeof p === 'number') cur = cur[p];
    else if (cur && isObj(cur) && typeof p === 'string') cur = cur[p];
    else return undefined;
  }
  return cur;
}

/** A copy of `v` with `path` set to `value` (undefined: removed). */
export function setAt(v: Json, path: Path, value: Json | undefined): Json {
  if (!path.length) return value ?? null;
  const [head, ...rest] = path;
  if (Array.isArray(v) && typeof head === 'number') {
    const copy = [...v];
    if (value === undefined && !rest.length) copy.splice(head, 1);
    else copy[head] = setAt(copy[head] ?? {}, rest, value);
    return copy;
  }
  const obj: { [k: string]: Json } = isObj(v) ? { ...v } : {};
  const key = String(head);
  if (value === undefined && !rest.length) delete obj[key];
  else obj[key] = setAt(obj[key] ?? {}, rest, value);
  return obj;
}

const show = (path: Path): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('') || '(root)';
const brief = (v: Json | undefined): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 60 ? `${s.slice(0, 40)}…(${s.length} chars)` : s;
};

/** Strings that look like addresses: the places a bad CIDR hurts most. */
const ADDRESS_LIKE = /^[0-9a-f:.]+(\/\d+)?$/i;

export interface Mutator {
  name: string;
  weight: number;
  /** Undefined when it does not apply to this doc. */
  apply(doc: Doc, rng: Rng, ctx: MutationContext): { doc: Doc; what: string } | undefined;
}

export interface MutationContext {
  /** The plugin's own type (for the ipam.type loop). */
  self: string;
  delegates: boolean;
  chained: boolean;
}

const onConf = (doc: Doc, conf: Json): Doc => ({ ...doc, conf });

export const MUTATORS: readonly Mutator[] = [
  {
    name: 'delete-key',
    weight: 3,
    apply(doc, rng) {
      if (doc.raw !== undefined) return undefined;
      const paths = pathsOf(doc.conf);
      if (!paths.length) return undefined;
      const p = rng.pick(paths);
      return { doc: onConf(doc, setAt(doc.conf, p, undefined)), what: `delete ${show(p)}` };
    },
  },
  {
    name: 'hostile-value',
    weight: 6,
    apply(doc, rng) {
      if (doc.raw !== undefined) return undefined;
      const paths = pathsOf(doc.conf);
      if (!paths.length) return undefined;
      const p = rng.pick(paths);
      const v = hostileValue(rng);
      return { doc: onConf(doc, setAt(doc.conf, p, v)), what: `${show(p)} = ${brief(v)}` };
    },
  },
  {
    name: 'hostile-string',
    weight: 3,
    apply(doc, rng) {
      if (doc.raw !== undefined) return undefined;
      const paths = pathsOf(doc.conf).filter((p) => typeof getAt(doc.conf, p) === 'string');
      if (!paths.length) return undefined;
      const p = rng.pick(paths);
      const v = rng.pick(HOSTILE_STRINGS);
      return { doc: onConf(doc, setAt(doc.conf, p, v)), what: `${show(p)} = ${brief(v)}` };
    },
  },
  {
    name: 'bad-address',
    weight: 4,
    apply(doc, rng) {
      if (doc.raw !== undefined) return undefined;
      const paths = pathsOf(doc.conf).filter((p) => {
        const v = getAt(doc.conf, p);
        return typeof v === 'string' && ADDRESS_LIKE.test(v) && /[.:]/.test(v);
      });
      if (!paths.length) return undefined;
      const p = rng.pick(paths);
      const v = rng.pick(HOSTILE_CIDRS);
      return { doc: onConf(doc, setAt(doc.conf, p, v)), what: `${show(p)} = ${brief(v)}` };
    },
  },
  {
    name: 'unknown-key',
    weight: 1,
    apply(doc, rng) {
      if (doc.raw !== undefined) return undefined;
      const objects = [[], ...pathsOf(doc.conf)].filter((p) => isObj(getAt(doc.conf, p) ?? null));
      if (!objects.length) return undefined;
      const p = [...rng.pick(objects), rng.pick(['x', '__proto__', 'constructor', 'toString', 'IPAM', 'Type', ''])];
      const v = hostileValue(rng);
      return { doc: onConf(doc, setAt(doc.conf, p, v)), what: `add ${show(p)} = ${brief(v)}` };
    },
  },
  {
    name: 'ipam-loop',
    weight: 3,
    apply(doc, rng, ctx) {
      if (doc.raw !== undefined || !ctx.delegates || !isObj(doc.conf)) return undefined;
      const t = rng.chance(0.4) ? ctx.self : rng.pick(MAIN_TYPES);
      const ipam = isObj(doc.conf.ipam ?? null) ? (doc.conf.ipam as Record<string, Json>) : {};
      return { doc: onConf(doc, { ...doc.conf, ipam: { ...ipam, type: t } }), what: `ipam.type = ${JSON.stringify(t)}` };
    },
  },
  {
    name: 'bad-prevResult',
    weight: 2,
    apply(doc, rng, ctx) {
      if (doc.raw !== undefined || !isObj(doc.conf)) return undefined;
      const prev = doc.conf.prevResult;
      const options: Array<[string, Json]> = [
        ['null', null],
        ['a string', 'x'],
        ['an array', []],
        ['{}', {}],
        ['ips with a bad address', { cniVersion: doc.conf.cniVersion ?? '1.0.0', ips: [{ address: rng.pick(HOSTILE_CIDRS) }] }],
        ['an interface index out of range', { cniVersion: doc.conf.cniVersion ?? '1.0.0', interfaces: [{ name: 'eth0', sandbox: NETNS }], ips: [{ address: '10.88.0.2/24', interface: 7 }] }],
        ['null entries', { cniVersion: doc.conf.cniVersion ?? '1.0.0', interfaces: [null], ips: [null], routes: [null], dns: null }],
        ['another version', isObj(prev ?? null) ? { ...(prev as Record<string, Json>), cniVersion: rng.pick(['0.1.0', '0.2.0', '9.9.9', '']) } : { cniVersion: '0.2.0' }],
      ];
      if (!ctx.chained && prev === undefined && !rng.chance(0.5)) return undefined;
      const [what, v] = rng.pick(options);
      return { doc: onConf(doc, { ...doc.conf, prevResult: v }), what: `prevResult = ${what}` };
    },
  },
  {
    name: 'env-ifname',
    weight: 2,
    apply(doc, rng) {
      const v = rng.pick(['', 'x'.repeat(16), 'eth0/x', '..', '.', 'eth 0', 'lo', 'fzm0', 'fzveth0', 'eth0:1', 'é', '-e', 'eth0\n']);
      return { doc: { ...doc, env: { ...doc.env, CNI_IFNAME: v } }, what: `CNI_IFNAME=${JSON.stringify(v)}` };
    },
  },
  {
    name: 'env-netns',
    weight: 2,
    apply(doc, rng) {
      const v = rng.pick(['', '/nonexistent', '/proc/self/ns/net', '/proc/1/ns/net', '/dev/null', 'relative/path', '/run/netns', `${NETNS}/..`, '/proc/self/ns/mnt']);
      return { doc: { ...doc, env: { ...doc.env, CNI_NETNS: v } }, what: `CNI_NETNS=${JSON.stringify(v)}` };
    },
  },
  {
    name: 'env-args',
    weight: 2,
    apply(doc, rng) {
      const v = rng.pick(['=', ';;', 'a', 'IgnoreUnknown=1;IP=300.1.1.1', 'IgnoreUnknown=1;IP=10.89.0.77', 'K8S_POD_NAME=x;MAC=zz', 'MAC=02:00:00:00:00:01', 'IgnoreUnknown=true;K8S_POD_NAMESPACE=a=b', 'x=' + 'y'.repeat(5000), 'IP=10.89.0.300']);
      return { doc: { ...doc, env: { ...doc.env, CNI_ARGS: v } }, what: `CNI_ARGS=${JSON.stringify(v.length > 60 ? v.slice(0, 40) + '…' : v)}` };
    },
  },
  {
    name: 'env-path',
    weight: 1,
    apply(doc, rng) {
      const v = rng.pick(['', ':', '/nonexistent', 'relative', '/etc', '/dev/null', '@BIN@:/nonexistent', '/nonexistent:@BIN@']);
      return { doc: { ...doc, env: { ...doc.env, CNI_PATH: v } }, what: `CNI_PATH=${JSON.stringify(v)}` };
    },
  },
  {
    name: 'env-containerid',
    weight: 1,
    apply(doc, rng) {
      const v = rng.pick(['', '-', 'a b', '../x', 'x'.repeat(300), 'é', 'a;b', '.hidden']);
      return { doc: { ...doc, env: { ...doc.env, CNI_CONTAINERID: v } }, what: `CNI_CONTAINERID=${JSON.stringify(v.length > 40 ? v.slice(0, 20) + '…' : v)}` };
    },
  },
  {
    name: 'env-unset',
    weight: 1,
    apply(doc, rng) {
      const k = rng.pick(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH', 'CNI_ARGS']);
      const env = { ...doc.env };
      delete env[k];
      return { doc: { ...doc, env }, what: `unset ${k}` };
    },
  },
  {
    name: 'raw-stdin',
    weight: 2,
    apply(doc, rng) {
      const text = doc.raw ?? JSON.stringify(doc.conf);
      const kinds: Array<[string, () => string]> = [
        ['truncated', () => text.slice(0, rng.int(0, Math.max(0, text.length - 1)))],
        ['empty', () => ''],
        ['not JSON', () => rng.pick(['x', '{', '}', 'null', '[]', '"s"', '1', '\u0000', '\ufeff'])],
        ['with a BOM', () => `\ufeff${text}`],
        ['a duplicate key', () => text.replace(/^\{/, '{"type":"x",')],
        ['padded with 1 MB of spaces', () => text + ' '.repeat(1 << 20)],
        ['nested 100000 deep', () => JSON.stringify(deepNest(1000)).replace('[]', '['.repeat(100_000) + ']'.repeat(100_000))],
      ];
      if (rng.chance(0.1)) {
        // bytes that are not UTF-8 inside the network name
        const bytes = Buffer.from(text, 'utf8').toString('latin1').replace(/"name":"/, '"name":"\xff\xfe\xc0');
        return { doc: { ...doc, raw: bytes, rawBytes: true }, what: 'stdin with invalid UTF-8' };
      }
      const [what, make] = rng.pick(kinds);
      return { doc: { ...doc, raw: make(), rawBytes: false }, what: `stdin ${what}` };
    },
  },
];

/** Apply `n` mutations drawn by weight; a raw-stdin mutation, when drawn, comes last (nothing structured after it). */
export function mutate(doc: Doc, n: number, rng: Rng, ctx: MutationContext): { doc: Doc; mutations: string[] } {
  const mutations: string[] = [];
  let cur = doc;
  for (let i = 0; i < n * 4 && mutations.length < n; i++) {
    const m = rng.weighted(MUTATORS.map((x) => [x.weight, x] as const));
    if (m.name === 'raw-stdin' && mutations.length < n - 1) continue;
    const r = m.apply(cur, rng, ctx);
    if (!r) continue;
    cur = r.doc;
    mutations.push(r.what);
  }
  return { doc: cur, mutations };
}

/** What goes to the plugin's stdin. */
export const stdinOf = (doc: Doc): { stdin: string; bytes?: true } => (doc.raw !== undefined ? { stdin: doc.raw, ...(doc.rawBytes ? { bytes: true as const } : {}) } : { stdin: JSON.stringify(doc.conf) });
