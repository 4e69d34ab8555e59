/**
 * iproute2's names for route protocols, scopes, tables and types (lib/rt_names.c, ip/rtm_map.c): built-in names,
 * extended by /etc/iproute2/rt_protos, rt_scopes, rt_tables (and their `.d/*.conf`) exactly as `ip` reads them, so
 * `ip -j` output and the names `ip` accepts come out the same in-process. With `numeric` (ip -N) numbers are printed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from '../paths.js';

const CONFDIR = '/etc/iproute2';

/** `id name` lines (id decimal or 0x-hex), `#` comments, as fread_id_name. Pure. */
export function parseIdNames(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(0x[0-9a-fA-F]+|-?\d+)[ \t]+(\S+)/.exec(line);
    if (!m) continue;
    out.push([m[1]!.startsWith('0x') ? parseInt(m[1]!, 16) : Number(m[1]), m[2]!]);
  }
  return out;
}

function readTab(base: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const read = (f: string): void => {
    try {
      out.push(...parseIdNames(readFileSync(f, 'utf8')));
    } catch {
      /* missing: built-ins only */
    }
  };
  read(join(CONFDIR, base));
  try {
    for (const f of readdirSync(join(CONFDIR, `${base}.d`))) if (!f.startsWith('.') && f.length > 5 && f.endsWith('.conf')) read(join(CONFDIR, `${base}.d`, f));
  } catch {
    /* no .d directory */
  }
  return out;
}

class NameTable {
  private loaded = false;
  private readonly byId = new Map<number, string>();

  constructor(
    private readonly file: string,
    builtin: Record<number, string>,
    private readonly max: number,
  ) {
    for (const [k, v] of Object.entries(builtin)) this.byId.set(Number(k), v);
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const [id, name] of readTab(this.file)) if (id >= 0 && id <= this.max) this.byId.set(id, name);
  }

  name(id: number): string | undefined {
    if (!this.byId.has(id)) this.load();
    return this.byId.get(id);
  }

  /** The number for `arg`: a known name, or a number (decimal, 0x-hex, 0-octal) up to `max`. */
  id(arg: string): number | undefined {
    this.load();
    for (const [id, name] of this.byId) if (name === arg) return id;
    return strtoul(arg, this.max);
  }
}

/** strtoul(arg, &end, 0) accepted whole and ≤ max; undefined otherwise. */
export function strtoul(arg: string, max: number): number | undefined {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(arg)) v = parseInt(arg.slice(2), 16);
  else if (/^0[0-7]*$/.test(arg)) v = parseInt(arg, 8);
  else if (/^[1-9]\d*$/.test(arg)) v = Number(arg);
  else return undefined;
  return v <= max ? v : undefined;
}

const protos = new NameTable('rt_protos', {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird',
  42: 'babel', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 186: 'bgp', 187: 'isis', 188: 'ospf',
  189: 'rip', 192: 'eigrp',
}, 255);
const scopes = new NameTable('rt_scopes', { 0: 'global', 255: 'nowhere', 254: 'host', 253: 'link', 200: 'site' }, 255);
const tables = new NameTable('rt_tables', { 253: 'default', 254: 'main', 255: 'local' }, 0xffffffff);

const RTN_NAMES = ['none', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];

export const protoName = (id: number, numeric: boolean): string => (numeric ? String(id) : (protos.name(id) ?? String(id)));
export const scopeName = (id: number, numeric: boolean): string => (numeric ? String(id) : (scopes.name(id) ?? String(id)));
export const tableName = (id: number, numeric: boolean): string => (numeric ? String(id) : (tables.name(id) ?? String(id)));
export const rtnTypeName = (id: number, numeric: boolean): string => (numeric ? String(id) : (RTN_NAMES[id] ?? String(id)));

export const protoId = (arg: string): number | undefined => protos.id(arg);
export const scopeId = (arg: string): number | undefined => scopes.id(arg);
export const tableId = (arg: string): number | undefined => tables.id(arg);
