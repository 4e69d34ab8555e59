/**
 * Go's text/template (the syntax of Docker's `--format`), over plain JSON-like values. Pure.
 *
 * Supported: text and actions with `{{-`/`-}}` trimming and comments; field chains (`.A.B`, `$x.A`, `(pipe).A`);
 * variables (`$x := …`, `$x = …`, `$`); pipelines (`a | b`); `if`/`else if`/`else`, `range` (arrays, maps in key order,
 * integers; `$i, $v :=`; `else`; `break`/`continue`), `with`/`else with`/`else`; Go's functions and, or, not, len,
 * index, slice, eq, ne, lt, le, gt, ge, print, printf, println; Docker's json, split, join, title, lower, upper, pad,
 * truncate. Not supported (an error says so): define, template, block, call, html, js, urlquery.
 *
 * Values print as Go's fmt %v prints them (`[a b]`, `map[k:v]`, `<no value>` for a missing key, `<nil>` for null).
 * Objects are structs unless marked with `asMap` (Go maps): a missing struct field is an error, as in Docker
 * ("can't evaluate field X"), a missing map key prints `<no value>`; maps range and marshal in key order.
 */

export class TemplateError extends Error {}

// ------------------------------------------------------------------------------------------------ values

const MAPS = new WeakSet<object>();

/** Mark an object as a Go map (keys sorted when ranged or printed; a missing key is no error). */
export function asMap<T extends object>(o: T): T {
  MAPS.add(o);
  return o;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && MAPS.has(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeName(v: unknown): string {
  if (v === undefined || v === null) return 'nil';
  if (Array.isArray(v)) return '[]interface {}';
  if (isMap(v)) return 'map[string]interface {}';
  if (typeof v === 'object') return 'struct';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  return typeof v === 'boolean' ? 'bool' : 'string';
}

/** Go's truth: false, 0, nil, and empty strings, arrays and maps are false; a struct is true. */
export function truth(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function fmtNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const s = String(n);
  return s.includes('e') ? s.replace(/e([+-])(\d)$/, 'e$10$2') : s;
}

/** fmt's %v. */
export function formatValue(v: unknown, top = true): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return fmtNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, false)).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${formatValue(v[k], false)}`).join(' ')}]`;
  if (typeof v === 'object') return `{${Object.values(v as object).map((x) => formatValue(x, false)).join(' ')}}`;
  void top;
  return String(v);
}

/** JSON as Go's encoder writes it (maps with sorted keys; no HTML escaping, as Docker's json function). */
export function toJson(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (x === undefined) return null;
    if (Array.isArray(x)) return x.map(norm);
    if (isObj(x)) {
      const keys = isMap(x) ? Object.keys(x).sort() : Object.keys(x);
      const o: Record<string, unknown> = {};
      for (const k of keys) o[k] = norm(x[k]);
      return o;
    }
    return x;
  };
  return JSON.stringify(norm(v));
}

// ------------------------------------------------------------------------------------------------ lexing and parsing

type Arg =
  | { k: 'dot'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'fn'; name: string }
  | { k: 'lit'; value: unknown }
  | { k: 'pipe'; pipe: Pipe; path: string[] };

interface Cmd {
  args: Arg[];
}

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
  src: string;
}

type Node =
  | { k: 'text'; text: string }
  | { k: 'action'; pipe: Pipe; pos: string }
  | { k: 'if' | 'with'; pipe: Pipe; body: Node[]; orElse: Node[]; pos: string }
  | { k: 'range'; pipe: Pipe; body: Node[]; orElse: Node[]; pos: string }
  | { k: 'break' | 'continue' };

interface Tok {
  t: 'field' | 'var' | 'ident' | 'str' | 'num' | 'lp' | 'rp' | 'bar' | 'decl' | 'assign' | 'comma' | 'chain';
  v: string;
  num?: number;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

function unquote(s: string, pos: string): string {
  try {
    return JSON.parse(s.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1').replace(/\\'/g, "'").replace(/\\a/g, '\\u0007').replace(/\\v/g, '\\u000b')) as string;
  } catch {
    throw new TemplateError(`template: ${pos}: invalid quoted string ${s}`);
  }
}

function lexAction(src: string, pos: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const adjacentPath = (): string[] => {
    const path: string[] = [];
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      IDENT.lastIndex = i + 1;
      const m = IDENT.exec(src)!;
      path.push(m[0]);
      i = IDENT.lastIndex;
    }
    return path;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(') (toks.push({ t: 'lp', v: c }), i++);
    else if (c === ')') {
      toks.push({ t: 'rp', v: c });
      i++;
      const path = adjacentPath();
      if (path.length) toks.push({ t: 'chain', v: path.join('.') });
    } else if (c === '|') (toks.push({ t: 'bar', v: c }), i++);
    else if (c === ',') (toks.push({ t: 'comma', v: c }), i++);
    else if (c === ':' && src[i + 1] === '=') (toks.push({ t: 'decl', v: ':=' }), (i += 2));
    else if (c === '=') (toks.push({ t: 'assign', v: '=' }), i++);
    else if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) toks.push({ t: 'field', v: adjacentPath().join('.') });
      else if (/[0-9]/.test(src[i + 1] ?? '')) {
        const m = /\.[0-9]+([eE][+-]?[0-9]+)?/y;
        m.lastIndex = i;
        const x = m.exec(src)!;
        toks.push({ t: 'num', v: x[0], num: Number(x[0]) });
        i = m.lastIndex;
      } else (toks.push({ t: 'field', v: '' }), i++);
    } else if (c === '$') {
      IDENT.lastIndex = i + 1;
      const m = IDENT.exec(src);
      const name = m && m.index === i + 1 ? m[0] : '';
      i += 1 + name.length;
      toks.push({ t: 'var', v: `$${name}` });
      const path = adjacentPath();
      if (path.length) toks.push({ t: 'chain', v: path.join('.') });
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError(`template: ${pos}: unterminated quoted string`);
      toks.push({ t: 'str', v: unquote(src.slice(i, j + 1), pos) });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`template: ${pos}: unterminated raw quoted string`);
      toks.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "'") {
      const m = /'(\\.|[^\\'])'/y;
      m.lastIndex = i;
      const x = m.exec(src);
      if (!x) throw new TemplateError(`template: ${pos}: invalid character constant`);
      const ch = x[1]!.length === 2 ? unquote(`"${x[1]}"`, pos) : x[1]!;
      toks.push({ t: 'num', v: x[0], num: ch.codePointAt(0)! });
      i = m.lastIndex;
    } else if (/[0-9+-]/.test(c)) {
      const m = /[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*(\.[0-9]*)?([eE][+-]?[0-9]+)?)/y;
      m.lastIndex = i;
      const x = m.exec(src);
      if (!x) throw new TemplateError(`template: ${pos}: bad number syntax: ${JSON.stringify(src.slice(i, i + 10))}`);
      const text = x[0].replace(/_/g, '');
      const n = /^[+-]?0[oO]/.test(text) ? parseInt(text.replace(/0[oO]/, ''), 8) : Number(text);
      if (Number.isNaN(n)) throw new TemplateError(`template: ${pos}: bad number syntax: ${JSON.stringify(x[0])}`);
      toks.push({ t: 'num', v: x[0], num: n });
      i = m.lastIndex;
    } else if (/[A-Za-z_]/.test(c)) {
      IDENT.lastIndex = i;
      const m = IDENT.exec(src)!;
      toks.push({ t: 'ident', v: m[0] });
      i = IDENT.lastIndex;
    } else throw new TemplateError(`template: ${pos}: unexpected ${JSON.stringify(c)} in command`);
  }
  return toks;
}

class PipeParser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly pos: string,
    private readonly src: string,
  ) {}

  private err(msg: string): never {
    throw new TemplateError(`template: ${this.pos}: ${msg}`);
  }

  parse(allowDecl: 'one' | 'two' | 'none'): Pipe {
    const pipe: Pipe = { decl: [], assign: false, cmds: [], src: this.src.trim() };
    // declarations: $x := / $x = / $i, $v :=
    const t = this.toks;
    if (allowDecl !== 'none' && t[0]?.t === 'var') {
      if (t[1]?.t === 'decl' || t[1]?.t === 'assign') {
        pipe.decl = [t[0].v];
        pipe.assign = t[1].t === 'assign';
        this.i = 2;
      } else if (allowDecl === 'two' && t[1]?.t === 'comma' && t[2]?.t === 'var' && (t[3]?.t === 'decl' || t[3]?.t === 'assign')) {
        pipe.decl = [t[0].v, t[2].v];
        pipe.assign = t[3].t === 'assign';
        this.i = 4;
      }
    }
    this.pipeline(pipe, false);
    if (this.i < t.length) this.err(`unexpected ${JSON.stringify(t[this.i]!.v)} in operand`);
    return pipe;
  }

  private pipeline(pipe: Pipe, inParens: boolean): void {
    for (;;) {
      const cmd: Cmd = { args: [] };
      while (this.i < this.toks.length) {
        const tok = this.toks[this.i]!;
        if (tok.t === 'bar' || tok.t === 'rp') break;
        cmd.args.push(this.operand());
      }
      if (cmd.args.length === 0) this.err(pipe.cmds.length ? 'missing command after "|"' : 'missing value for command');
      pipe.cmds.push(cmd);
      const next = this.toks[this.i];
      if (next?.t === 'bar') {
        this.i++;
        continue;
      }
      if (next?.t === 'rp' && !inParens) this.err('unexpected ")" in operand');
      return;
    }
  }

  private operand(): Arg {
    const tok = this.toks[this.i++]!;
    const chain = (): string[] => {
      const n = this.toks[this.i];
      if (n?.t === 'chain') {
        this.i++;
        return n.v.split('.');
      }
      return [];
    };
    switch (tok.t) {
      case 'field':
        return { k: 'dot', path: tok.v ? tok.v.split('.') : [] };
      case 'var':
        return { k: 'var', name: tok.v, path: chain() };
      case 'str':
        return { k: 'lit', value: tok.v };
      case 'num':
        return { k: 'lit', value: tok.num };
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') return { k: 'lit', value: tok.v === 'true' };
        if (tok.v === 'nil') return { k: 'lit', value: null };
        if (!(tok.v in FUNCS)) this.err(`function ${JSON.stringify(tok.v)} not defined`);
        return { k: 'fn', name: tok.v };
      case 'lp': {
        const inner: Pipe = { decl: [], assign: false, cmds: [], src: '' };
        this.pipeline(inner, true);
        if (this.toks[this.i]?.t !== 'rp') this.err('unclosed left paren');
        this.i++;
        return { k: 'pipe', pipe: inner, path: chain() };
      }
      default:
        return this.err(`unexpected ${JSON.stringify(tok.v)} in operand`);
    }
  }
}

interface Segment {
  text?: string;
  action?: string;
  pos: string;
}

/** Split into text and actions, applying the trim markers; comments dropped. */
function segments(src: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  let trimNext = false;
  const posOf = (at: number): string => {
    const before = src.slice(0, at);
    const line = before.split('\n').length;
    return `:${line}:${at - before.lastIndexOf('\n') - 1}`;
  };
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) out.push({ text, pos: posOf(i) });
      break;
    }
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 2;
    }
    if (text) out.push({ text, pos: posOf(i) });
    // the action runs to the first "}}" outside quotes
    let j = start;
    let close = -1;
    while (j < src.length) {
      const c = src[j];
      if (c === '"') {
        j++;
        while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
        j++;
      } else if (c === '`') j = src.indexOf('`', j + 1) < 0 ? src.length : src.indexOf('`', j + 1) + 1;
      else if (c === '}' && src[j + 1] === '}') {
        close = j;
        break;
      } else j++;
    }
    if (close < 0) throw new TemplateError(`template: ${posOf(open)}: unclosed action`);
    let body = src.slice(start, close);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -2);
      trimNext = true;
    } else if (body === '-') body = '';
    const comment = body.trim();
    if (!(comment.startsWith('/*') && comment.endsWith('*/'))) out.push({ action: body, pos: posOf(open) });
    i = close + 2;
  }
  return out;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue', 'define', 'template', 'block']);

function parseNodes(segs: Segment[]): Node[] {
  let idx = 0;
  let rangeDepth = 0;
  // returns the list and the keyword segment that ended it ("end", "else", "else if …")
  const list = (): { nodes: Node[]; end?: { word: string; rest: string; pos: string } } => {
    const nodes: Node[] = [];
    while (idx < segs.length) {
      const s = segs[idx++]!;
      if (s.text !== undefined) {
        nodes.push({ k: 'text', text: s.text });
        continue;
      }
      const body = s.action!.trim();
      const word = /^[A-Za-z]+/.exec(body)?.[0] ?? '';
      if (!KEYWORDS.has(word) || (body.length > word.length && !/\s/.test(body[word.length]!))) {
        nodes.push({ k: 'action', pipe: pipeOf(body, s.pos, 'one'), pos: s.pos });
        continue;
      }
      const rest = body.slice(word.length).trim();
      if (word === 'end' || word === 'else') return { nodes, end: { word, rest, pos: s.pos } };
      if (word === 'break' || word === 'continue') {
        if (!rangeDepth) throw new TemplateError(`template: ${s.pos}: {{${word}}} outside {{range}}`);
        nodes.push({ k: word });
        continue;
      }
      if (word === 'define' || word === 'template' || word === 'block') throw new TemplateError(`template: ${s.pos}: {{${word}}} is not supported by cnictl's templates`);
      nodes.push(control(word as 'if' | 'with' | 'range', rest, s.pos));
    }
    return { nodes };
  };
  const control = (word: 'if' | 'with' | 'range', rest: string, pos: string): Node => {
    if (!rest) throw new TemplateError(`template: ${pos}: missing value for ${word}`);
    const pipe = pipeOf(rest, pos, word === 'range' ? 'two' : 'one');
    if (word === 'range') rangeDepth++;
    const body = list();
    if (word === 'range') rangeDepth--;
    let orElse: Node[] = [];
    if (!body.end) throw new TemplateError(`template: ${pos}: unexpected EOF: {{${word}}} has no {{end}}`);
    if (body.end.word === 'else') {
      const chained = /^(if|with)\s/.exec(body.end.rest);
      if (chained) {
        if (chained[1] !== word) throw new TemplateError(`template: ${body.end.pos}: {{else ${chained[1]}}} in {{${word}}}`);
        // "else if X" is an if inside the else branch that shares this end
        orElse = [control(word, body.end.rest.slice(chained[0].length).trim(), body.end.pos)];
      } else {
        if (body.end.rest) throw new TemplateError(`template: ${body.end.pos}: unexpected ${JSON.stringify(body.end.rest)} in else`);
        const e = list();
        if (e.end?.word !== 'end') throw new TemplateError(`template: ${body.end.pos}: expected {{end}} after {{else}}`);
        orElse = e.nodes;
      }
    } else if (body.end.rest) throw new TemplateError(`template: ${body.end.pos}: unexpected ${JSON.stringify(body.end.rest)} in end`);
    return { k: word, pipe, body: body.nodes, orElse, pos } as Node;
  };
  const top = list();
  if (top.end) throw new TemplateError(`template: ${top.end.pos}: unexpected {{${top.end.word}}}`);
  return top.nodes;
}

function pipeOf(src: string, pos: string, decl: 'one' | 'two'): Pipe {
  return new PipeParser(lexAction(src, pos), pos, src).parse(decl);
}

// ------------------------------------------------------------------------------------------------ functions

type Fn = (...args: unknown[]) => unknown;

function need(name: string, args: unknown[], n: number | [number, number]): void {
  const [lo, hi] = typeof n === 'number' ? [n, n] : n;
  if (args.length < lo || args.length > hi) throw new Error(`wrong number of args for ${name}: want ${lo === hi ? lo : `${lo}-${hi}`} got ${args.length}`);
}

function basicCompare(name: string, a: unknown, b: unknown): number {
  const ka = typeof a;
  const kb = typeof b;
  if ((a === null || a === undefined) && (b === null || b === undefined)) return 0;
  if (ka !== kb || (ka !== 'number' && ka !== 'string' && ka !== 'boolean')) throw new Error(`${name}: incompatible types for comparison`);
  if (ka === 'boolean' && name !== 'eq' && name !== 'ne') throw new Error(`${name}: invalid type for comparison`);
  return a === b ? 0 : (a as number) < (b as number) ? -1 : 1;
}

function indexOne(x: unknown, k: unknown): unknown {
  if (Array.isArray(x) || typeof x === 'string') {
    if (typeof k !== 'number' || !Number.isInteger(k)) throw new Error(`cannot index slice/array with type ${typeName(k)}`);
    if (k < 0 || k >= x.length) throw new Error(`index out of range: ${k}`);
    return typeof x === 'string' ? x.charCodeAt(k) : x[k];
  }
  if (isObj(x)) {
    if (typeof k !== 'string') throw new Error(`value has type ${typeName(k)}; should be string`);
    return Object.prototype.hasOwnProperty.call(x, k) ? x[k] : undefined;
  }
  if (x === null || x === undefined) throw new Error('index of untyped nil');
  throw new Error(`can't index item of type ${typeName(x)}`);
}

const strArg = (name: string, v: unknown): string => {
  if (typeof v !== 'string') throw new Error(`${name}: expected a string, got ${typeName(v)} (${formatValue(v)})`);
  return v;
};

/** fmt.Sprint: a space between operands when neither is a string. */
function sprint(args: unknown[]): string {
  let s = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') s += ' ';
    s += formatValue(a);
  });
  return s;
}

/** A subset of fmt.Sprintf: %v %s %d %q %t %x %X %f %e %g %c %%, flags -+0 and space, width and precision. */
export function sprintf(format: string, args: unknown[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])/g, (_m, flags: string, w: string | undefined, p: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const width = w === '*' ? Number(args[n++]) : w ? Number(w) : 0;
    const prec = p === '*' ? Number(args[n++]) : p !== undefined ? Number(p) : undefined;
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 'v':
      case 's':
        s = formatValue(a);
        if (prec !== undefined) s = s.slice(0, prec);
        break;
      case 'q':
        s = JSON.stringify(typeof a === 'string' ? a : formatValue(a));
        break;
      case 'd':
        s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeName(a)}=${formatValue(a)})`;
        if (flags.includes('+') && typeof a === 'number' && a >= 0) s = `+${s}`;
        break;
      case 't':
        s = typeof a === 'boolean' ? String(a) : `%!t(${typeName(a)}=${formatValue(a)})`;
        break;
      case 'x':
      case 'X':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(String(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 'f':
      case 'e':
      case 'g':
        if (typeof a !== 'number') s = `%!${verb}(${typeName(a)}=${formatValue(a)})`;
        else s = verb === 'f' ? a.toFixed(prec ?? 6) : verb === 'e' ? a.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2') : fmtNumber(a);
        break;
      case 'c':
        s = typeof a === 'number' ? String.fromCodePoint(a) : `%!c(${typeName(a)}=${formatValue(a)})`;
        break;
      default:
        s = `%!${verb}(${typeName(a)}=${formatValue(a)})`;
    }
    if (s.length < width) s = flags.includes('-') ? s.padEnd(width) : flags.includes('0') && /[dfxXe]/.test(verb) ? s.padStart(width, '0') : s.padStart(width);
    return s;
  }) + (n < args.length ? `%!(EXTRA ${args.slice(n).map((a) => `${typeName(a)}=${formatValue(a)}`).join(', ')})` : '');
}

const FUNCS: Record<string, Fn> = {
  // and/or/not are evaluated lazily in `call`; these are the eager fallbacks
  and: (...a) => a.find((x) => !truth(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truth(x)) ?? a[a.length - 1],
  not: (...a) => (need('not', a, 1), !truth(a[0])),
  len: (...a) => {
    need('len', a, 1);
    const x = a[0];
    if (typeof x === 'string') return Buffer.byteLength(x);
    if (Array.isArray(x)) return x.length;
    if (isObj(x) && isMap(x)) return Object.keys(x).length;
    throw new Error(`len of type ${typeName(x)}`);
  },
  index: (...a) => {
    if (a.length < 1) throw new Error('wrong number of args for index: want at least 1 got 0');
    return a.slice(1).reduce((x, k) => indexOne(x, k), a[0]);
  },
  slice: (...a) => {
    need('slice', a, [1, 3]);
    const x = a[0];
    if (typeof x !== 'string' && !Array.isArray(x)) throw new Error(`can't slice item of type ${typeName(x)}`);
    const i = (a[1] as number | undefined) ?? 0;
    const j = (a[2] as number | undefined) ?? x.length;
    if (i < 0 || j < i || j > x.length) throw new Error(`index out of range: ${j}`);
    return x.slice(i, j);
  },
  eq: (...a) => {
    if (a.length < 2) throw new Error('missing argument for comparison');
    return a.slice(1).some((b) => basicCompare('eq', a[0], b) === 0);
  },
  ne: (...a) => (need('ne', a, 2), basicCompare('ne', a[0], a[1]) !== 0),
  lt: (...a) => (need('lt', a, 2), basicCompare('lt', a[0], a[1]) < 0),
  le: (...a) => (need('le', a, 2), basicCompare('le', a[0], a[1]) <= 0),
  gt: (...a) => (need('gt', a, 2), basicCompare('gt', a[0], a[1]) > 0),
  ge: (...a) => (need('ge', a, 2), basicCompare('ge', a[0], a[1]) >= 0),
  print: (...a) => sprint(a),
  println: (...a) => `${a.map((x) => formatValue(x)).join(' ')}\n`,
  printf: (...a) => {
    if (a.length < 1) throw new Error('wrong number of args for printf: want at least 1 got 0');
    return sprintf(strArg('printf', a[0]), a.slice(1));
  },
  // Docker's (cli/templates): json, split, join, title, lower, upper, pad, truncate
  json: (...a) => (need('json', a, 1), toJson(a[0])),
  split: (...a) => (need('split', a, 2), strArg('split', a[0]).split(strArg('split', a[1]))),
  join: (...a) => {
    need('join', a, 2);
    if (!Array.isArray(a[0])) throw new Error(`join: expected a list, got ${typeName(a[0])}`);
    return a[0].map((x) => formatValue(x)).join(strArg('join', a[1]));
  },
  title: (...a) => (need('title', a, 1), strArg('title', a[0]).replace(/(^|[^A-Za-z0-9_'])([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase())),
  lower: (...a) => (need('lower', a, 1), strArg('lower', a[0]).toLowerCase()),
  upper: (...a) => (need('upper', a, 1), strArg('upper', a[0]).toUpperCase()),
  pad: (...a) => (need('pad', a, 3), `${' '.repeat(Number(a[1]))}${strArg('pad', a[0])}${' '.repeat(Number(a[2]))}`),
  truncate: (...a) => {
    need('truncate', a, 2);
    const s = [...strArg('truncate', a[0])];
    return s.length > Number(a[1]) ? s.slice(0, Number(a[1])).join('') : s.join('');
  },
};

// ------------------------------------------------------------------------------------------------ execution

class Break {}
class Continue {}

interface Var {
  name: string;
  value: unknown;
}

export interface Template {
  /** Run on `data`; `funcs` replace or add functions (Docker's header functions for table headers). */
  execute(data: unknown, funcs?: Record<string, Fn>): string;
}

/** Parse a template; a syntax error throws TemplateError ("template: :LINE:COL: …"). */
export function parseTemplate(src: string): Template {
  const nodes = parseNodes(segments(src));
  return {
    execute(data: unknown, funcs: Record<string, Fn> = {}): string {
      return new Exec(data, { ...FUNCS, ...funcs }).run(nodes);
    },
  };
}

class Exec {
  private vars: Var[];
  private out = '';
  private at = '';
  private atSrc = '';

  constructor(
    root: unknown,
    private readonly funcs: Record<string, Fn>,
  ) {
    this.vars = [{ name: '$', value: root }];
  }

  run(nodes: Node[]): string {
    this.list(nodes, this.vars[0]!.value);
    return this.out;
  }

  private fail(msg: string): never {
    throw new TemplateError(`template: ${this.at}: executing "" at <${this.atSrc}>: ${msg}`);
  }

  private list(nodes: Node[], dot: unknown): void {
    for (const n of nodes) this.node(n, dot);
  }

  private scoped(fn: () => void): void {
    const mark = this.vars.length;
    try {
      fn();
    } finally {
      this.vars.length = mark;
    }
  }

  private node(n: Node, dot: unknown): void {
    switch (n.k) {
      case 'text':
        this.out += n.text;
        return;
      case 'action': {
        this.at = n.pos;
        const v = this.pipe(n.pipe, dot);
        if (!n.pipe.decl.length) this.out += formatValue(v);
        return;
      }
      case 'break':
        throw new Break();
      case 'continue':
        throw new Continue();
      case 'if':
      case 'with':
        this.scoped(() => {
          this.at = n.pos;
          const v = this.pipe(n.pipe, dot);
          if (truth(v)) this.list(n.body, n.k === 'with' ? v : dot);
          else this.list(n.orElse, dot);
        });
        return;
      case 'range':
        this.scoped(() => this.range(n, dot));
    }
  }

  private range(n: Extract<Node, { k: 'range' }>, dot: unknown): void {
    this.at = n.pos;
    const decl = n.pipe.decl;
    const v = this.pipe({ ...n.pipe, decl: [] }, dot);
    let items: Array<[unknown, unknown]>;
    if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
    else if (isObj(v)) {
      if (!isMap(v)) this.fail(`range can't iterate over ${formatValue(v)}`);
      items = Object.keys(v).sort().map((k) => [k, v[k]]);
    } else if (typeof v === 'number' && Number.isInteger(v)) items = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else if (v === null || v === undefined) items = [];
    else this.fail(`range can't iterate over ${formatValue(v)}`);
    if (!items.length) {
      this.list(n.orElse, dot);
      return;
    }
    for (const [k, x] of items) {
      const mark = this.vars.length;
      if (decl.length === 1) this.setVar(decl[0]!, typeof v === 'number' ? k : x, n.pipe.assign);
      if (decl.length === 2) {
        this.setVar(decl[0]!, k, n.pipe.assign);
        this.setVar(decl[1]!, x, n.pipe.assign);
      }
      try {
        this.list(n.body, x);
      } catch (e) {
        if (e instanceof Break) break;
        if (!(e instanceof Continue)) throw e;
      } finally {
        this.vars.length = mark;
      }
    }
  }

  private setVar(name: string, value: unknown, assign: boolean): void {
    if (!assign) {
      this.vars.push({ name, value });
      return;
    }
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.fail(`undefined variable: ${name}`);
  }

  private pipe(p: Pipe, dot: unknown): unknown {
    const prevSrc = this.atSrc;
    let v: unknown = undefined;
    p.cmds.forEach((c, i) => {
      this.atSrc = p.src || prevSrc;
      v = this.cmd(c, dot, i === 0 ? NONE : v);
    });
    for (const d of p.decl) this.setVar(d, v, p.assign);
    return v;
  }

  private cmd(c: Cmd, dot: unknown, final: unknown): unknown {
    const [first, ...rest] = c.args;
    if (first!.k === 'fn') return this.call(first!.name, rest, dot, final);
    if (rest.length || final !== NONE) {
      const what = first!.k === 'dot' && first!.path.length ? `.${first!.path.join('.')}` : formatValue(this.arg(first!, dot));
      this.fail(first!.k === 'dot' && first!.path.length ? `${what} is not a method but has arguments` : `can't give argument to non-function ${what}`);
    }
    return this.arg(first!, dot);
  }

  private call(name: string, argNodes: Arg[], dot: unknown, final: unknown): unknown {
    const fn = this.funcs[name];
    if (!fn) this.fail(`function "${name}" not defined`);
    try {
      if ((name === 'and' || name === 'or') && this.funcs[name] === FUNCS[name]) {
        // short-circuit, as Go 1.18+
        const all: Array<() => unknown> = [...argNodes.map((a) => () => this.arg(a, dot)), ...(final !== NONE ? [() => final] : [])];
        if (!all.length) throw new Error(`wrong number of args for ${name}: want at least 1 got 0`);
        let v: unknown;
        for (const get of all) {
          v = get();
          if (name === 'and' ? !truth(v) : truth(v)) return v;
        }
        return v;
      }
      const args = argNodes.map((a) => this.arg(a, dot));
      if (final !== NONE) args.push(final);
      return fn(...args);
    } catch (e) {
      if (e instanceof TemplateError || e instanceof Break || e instanceof Continue) throw e;
      this.fail(`error calling ${name}: ${(e as Error).message}`);
    }
  }

  private arg(a: Arg, dot: unknown): unknown {
    switch (a.k) {
      case 'lit':
        return a.value;
      case 'dot':
        return this.fields(dot, a.path);
      case 'var': {
        const v = [...this.vars].reverse().find((x) => x.name === a.name);
        if (!v) this.fail(`undefined variable: ${a.name}`);
        return this.fields(v.value, a.path);
      }
      case 'pipe':
        return this.fields(this.pipe(a.pipe, dot), a.path);
      case 'fn':
        return this.call(a.name, [], dot, NONE);
    }
  }

  private fields(v: unknown, path: string[]): unknown {
    let x = v;
    for (const f of path) {
      if (x === undefined) return undefined;
      if (x === null) this.fail(`nil pointer evaluating interface {}.${f}`);
      if (isMap(x)) x = Object.prototype.hasOwnProperty.call(x, f) ? x[f] : undefined;
      else if (isObj(x)) {
        if (!Object.prototype.hasOwnProperty.call(x, f)) this.fail(`can't evaluate field ${f} in type ${typeName(x)}`);
        x = x[f];
      } else this.fail(`can't evaluate field ${f} in type ${typeName(x)}`);
    }
    return x;
  }
}

const NONE = Symbol('no final argument');
