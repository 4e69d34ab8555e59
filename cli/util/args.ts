/**
 * A small getopt for Docker-style flags. Pure.
 * `-f VALUE`, `--flag VALUE`, `--flag=VALUE`, grouped booleans (`-df`), repeated flags collect into lists,
 * `--` ends the options; the first non-option ends them too when `stopAtPositional` (so `run IMAGE -x` keeps -x).
 */
import { usageError } from './errors.js';

export interface FlagSpec {
  /** Long name without dashes (e.g. "network"). */
  name: string;
  short?: string;
  /** Takes a value (otherwise boolean). */
  value?: boolean;
  /** May repeat: values collect into a list. */
  multi?: boolean;
}

export interface Parsed {
  flags: Record<string, string | boolean | string[] | undefined>;
  positional: string[];
  /** Everything after `--` (or after the first positional with stopAtPositional). */
  rest: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: { stopAtPositional?: boolean } = {}): Parsed {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: Parsed['flags'] = {};
  const positional: string[] = [];
  const set = (spec: FlagSpec, v: string | boolean) => {
    if (!spec.multi) flags[spec.name] = v;
    else ((flags[spec.name] ??= []) as string[]).push(String(v));
  };
  let i = 0;
  const takeValue = (shown: string): string => {
    const v = argv[++i];
    if (v === undefined) throw usageError(`flag ${shown} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return { flags, positional, rest: argv.slice(i + 1) };
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw usageError(`unknown flag: --${name}`);
      if (spec.value) set(spec, eq < 0 ? takeValue(`--${name}`) : a.slice(eq + 1));
      else if (eq >= 0) {
        const v = a.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw usageError(`flag --${name} is a switch: --${name}=${v} must be true or false`);
        set(spec, v === 'true');
      } else set(spec, true);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && a !== '-') {
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]!);
        if (!spec) throw usageError(`unknown shorthand flag: '${a[j]}' in ${a}`);
        if (spec.value) {
          const inline = a.slice(j + 1);
          set(spec, inline !== '' ? inline.replace(/^=/, '') : takeValue(`-${a[j]}`));
          break;
        }
        set(spec, true);
      }
      continue;
    }
    if (opts.stopAtPositional) return { flags, positional, rest: argv.slice(i) };
    positional.push(a);
  }
  return { flags, positional, rest: [] };
}

export const str = (p: Parsed, name: string): string | undefined => p.flags[name] as string | undefined;
export const bool = (p: Parsed, name: string): boolean => p.flags[name] === true;
export const list = (p: Parsed, name: string): string[] => (p.flags[name] as string[] | undefined) ?? [];

/** `--json` or `--format json`. */
export const JSON_FLAGS: FlagSpec[] = [{ name: 'json' }, { name: 'format', value: true }];
export function wantsJson(p: Parsed): boolean {
  const f = str(p, 'format');
  if (f !== undefined && f !== 'json' && f !== 'table') throw usageError(`--format ${JSON.stringify(f)}: only "json" and "table" are supported`);
  return bool(p, 'json') || f === 'json';
}
