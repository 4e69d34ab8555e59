/** Typed, validated reads of config keys, with errors that name the key and the value. Pure. */
import { CniError, ErrorCode } from './errors.js';

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

export class Fields {
  constructor(
    readonly obj: Obj,
    readonly where: string,
  ) {}

  fail(key: string, problem: string): never {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${this.where}: "${key}" ${problem}`);
  }

  private present(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  bool(key: string, dflt = false): boolean {
    if (!this.present(key)) return dflt;
    const v = this.obj[key];
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  string(key: string, dflt?: string): string | undefined {
    if (!this.present(key)) return dflt;
    const v = this.obj[key];
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${show(v)}`);
    return v === '' ? dflt : v;
  }

  int(key: string, opts: { min?: number; max?: number; dflt?: number } = {}): number | undefined {
    if (!this.present(key)) return opts.dflt;
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `must be an integer, got ${show(v)}`);
    if (opts.min !== undefined && v < opts.min) this.fail(key, `is ${v}, below the minimum ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(key, `is ${v}, above the maximum ${opts.max}`);
    return v;
  }

  /** An interface MTU: absent or 0 (leave it to the kernel) gives undefined, else 68–65535. */
  mtu(key = 'mtu'): number | undefined {
    const v = this.int(key, { min: 0, max: 65535 });
    if (v !== undefined && v !== 0 && v < 68) this.fail(key, `is ${v}, below the minimum 68`);
    return v || undefined;
  }

  object(key: string): Obj | undefined {
    if (!this.present(key)) return undefined;
    const v = this.obj[key];
    if (!isObject(v)) this.fail(key, `must be an object, got ${show(v)}`);
    return v;
  }

  list(key: string): unknown[] | undefined {
    if (!this.present(key)) return undefined;
    const v = this.obj[key];
    if (!Array.isArray(v)) this.fail(key, `must be a list, got ${show(v)}`);
    return v;
  }

  stringList(key: string): string[] | undefined {
    const l = this.list(key);
    if (l && l.some((x) => typeof x !== 'string')) this.fail(key, `must be a list of strings, got ${show(l)}`);
    return l as string[] | undefined;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], dflt: T): T {
    const v = this.string(key);
    if (v === undefined) return dflt;
    if (!(allowed as readonly string[]).includes(v)) this.fail(key, `is ${show(v)}; allowed: ${allowed.join(', ')}`);
    return v as T;
  }
}

/** Look a key up case-insensitively (runtimes differ: containerd sends HostPort, podman hostPort). */
export function getCI(obj: Obj | undefined, key: string): unknown {
  if (!obj) return undefined;
  if (key in obj) return obj[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/**
 * `obj` with each of `keys` found case-insensitively under its canonical spelling, as Go's encoding/json matches a
 * config's keys to struct fields (the reference reads `vrfName` for `vrfname`, `pciBusId` for `pciBusID`). An exact
 * match wins; the other keys are left as they are.
 */
export function canonicalKeys(obj: Obj, keys: readonly string[]): Obj {
  const out: Obj = { ...obj };
  for (const k of keys) {
    if (k in obj) continue;
    const v = getCI(obj, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
