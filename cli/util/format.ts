/**
 * Docker's `--format` for listings and inspect: "table" (the default columns), "json" (one object per line), a Go
 * template per row, or "table TEMPLATE" (a header row, then columns aligned by a tabwriter as Docker's). `\t` and
 * `\n` written literally in the format are tabs and newlines, as in Docker. Pure.
 */
import { asMap, parseTemplate, TemplateError, toJson, type Template } from './template.js';
import { UserError } from './errors.js';

/** Go's text/tabwriter as Docker configures it: minwidth 10, tabwidth 1, padding 3, spaces. */
export function tabwrite(text: string, minwidth = 10, padding = 3): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[] = [];
  let out = '';
  const width = (s: string) => [...s].length;
  const emit = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i]!;
      out += cells.map((c, j) => (j < cells.length - 1 && j < widths.length ? c + ' '.repeat(Math.max(0, widths[j]! - width(c))) : c)).join('');
      if (i < lines.length - 1) out += '\n';
    }
  };
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue;
      emit(line0, t);
      line0 = t;
      let w = minwidth;
      for (; t < line1; t++) {
        const cells = lines[t]!;
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column]!) + padding);
      }
      widths.push(w);
      format(line0, t);
      widths.pop();
      line0 = t;
      t--;
    }
    emit(line0, line1);
  };
  format(0, lines.length);
  return out;
}

const unescape = (f: string): string => f.replace(/\\t/g, '\t').replace(/\\n/g, '\n');

export function compile(format: string): Template {
  try {
    return parseTemplate(format);
  } catch (e) {
    throw new UserError(`template parsing error: ${(e as Error).message}`);
  }
}

export function run(t: Template, data: unknown, funcs?: Record<string, (...a: unknown[]) => unknown>): string {
  try {
    return t.execute(data, funcs);
  } catch (e) {
    if (e instanceof TemplateError) throw new UserError(e.message);
    throw e;
  }
}

/** In a header row every function returns its (first) argument: the column's name. */
const HEADER_FUNCS: Record<string, (...a: unknown[]) => unknown> = Object.fromEntries(
  ['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate'].map((f) => [f, (...a: unknown[]) => a[0]]),
);

export interface ListFormat {
  /** The default table, e.g. "table {{.ID}}\t{{.Names}}". */
  table: string;
  /** Field -> column header (Docker's: ID -> "CONTAINER ID", Names -> "NAMES"…). */
  headers: Record<string, string>;
}

/** A listing (ps, network ls…) in `format` (undefined: the default table). */
export function formatList(format: string | undefined, rows: readonly object[], spec: ListFormat): string {
  const f = format === undefined || format === '' || format === 'table' ? spec.table : format === 'json' ? '{{json .}}' : format;
  const isTable = f.startsWith('table');
  const t = compile(unescape(isTable ? f.slice('table'.length).trim() : f));
  const body = rows.map((r) => `${run(t, r)}\n`).join('');
  if (!isTable) return body;
  const header = run(t, asMap({ ...spec.headers }), HEADER_FUNCS);
  return tabwrite(`${header}\n${body}`);
}

/** Inspect output: the JSON array (default, or "json"), or the template once per object. */
export function formatEach(format: string | undefined, objs: readonly unknown[], pretty: (v: unknown) => string): string {
  if (format === undefined || format === '' || format === 'json') return pretty(objs);
  const t = compile(unescape(format));
  return objs.map((o) => `${run(t, o)}\n`).join('');
}

export { toJson };
