/**
 * Go's encoding/gob, as far as the dhcp daemon's net/rpc needs it. Pure: bytes in, values out, and back.
 *
 * A gob stream is a sequence of messages, each `uint length` + payload. A payload starts with a signed type id: a
 * negative id -N is followed by the definition of type N (a `wireType` struct), a positive id by a value of that type.
 * Structs are (field-number delta, value) pairs ended by a 0 delta, zero values left out; a non-struct value at top
 * level is preceded by a 0 byte. Unsigned integers below 128 are one byte, larger ones a negated byte count and the
 * big-endian bytes; a signed integer is its zig-zag-like unsigned form (bit 0 = sign, complemented).
 *
 * The decoder reads any type a Go peer defines (structs, slices, arrays, maps, the basic types and marshaler types as
 * raw bytes) into plain values: a struct becomes an object keyed by field name holding only the fields sent, []byte a
 * Uint8Array, integers numbers. The encoder writes values of the types the caller declares (a table of WireType by
 * id), sending each definition once per stream before its first use, in Go's order (a type, then its components).
 */

/** The predeclared type ids every gob stream shares. */
export const T = { bool: 1, int: 2, uint: 3, float: 4, bytes: 5, string: 6, complex: 7, interface: 8 } as const;

/** The first id a stream's own types get (Go: firstUserId). */
export const FIRST_USER_ID = 65;

export type WireType =
  | { kind: 'struct'; name: string; fields: ReadonlyArray<{ name: string; id: number }> }
  | { kind: 'slice'; name: string; elem: number }
  | { kind: 'array'; name: string; elem: number; len: number }
  | { kind: 'map'; name: string; key: number; elem: number }
  /** GobEncoder / BinaryMarshaler / TextMarshaler: the value is the marshalled bytes. */
  | { kind: 'marshaler'; name: string; how: 'gob' | 'binary' | 'text' };

export type TypeTable = ReadonlyMap<number, WireType>;

export class GobError extends Error {}

/** Largest message accepted (a CNI config is a few KB; Go's own limit is 1 GB). */
export const MAX_MESSAGE = 16 << 20;

// Go's own description of type definitions (ids 16-23 are fixed by the gob package; 24 is ours, never on the wire).
const GOB_ENCODER_TYPE = 24;
const WIRE_TYPE = 16;
const BOOTSTRAP: ReadonlyArray<[number, WireType]> = [
  [WIRE_TYPE, { kind: 'struct', name: 'wireType', fields: [
    { name: 'ArrayT', id: 17 }, { name: 'SliceT', id: 19 }, { name: 'StructT', id: 20 }, { name: 'MapT', id: 23 },
    { name: 'GobEncoderT', id: GOB_ENCODER_TYPE }, { name: 'BinaryMarshalerT', id: GOB_ENCODER_TYPE }, { name: 'TextMarshalerT', id: GOB_ENCODER_TYPE },
  ] }],
  [17, { kind: 'struct', name: 'arrayType', fields: [{ name: 'CommonType', id: 18 }, { name: 'Elem', id: T.int }, { name: 'Len', id: T.int }] }],
  [18, { kind: 'struct', name: 'CommonType', fields: [{ name: 'Name', id: T.string }, { name: 'Id', id: T.int }] }],
  [19, { kind: 'struct', name: 'sliceType', fields: [{ name: 'CommonType', id: 18 }, { name: 'Elem', id: T.int }] }],
  [20, { kind: 'struct', name: 'structType', fields: [{ name: 'CommonType', id: 18 }, { name: 'Field', id: 22 }] }],
  [21, { kind: 'struct', name: 'fieldType', fields: [{ name: 'Name', id: T.string }, { name: 'Id', id: T.int }] }],
  [22, { kind: 'slice', name: '[]fieldType', elem: 21 }],
  [23, { kind: 'struct', name: 'mapType', fields: [{ name: 'CommonType', id: 18 }, { name: 'Key', id: T.int }, { name: 'Elem', id: T.int }] }],
  [GOB_ENCODER_TYPE, { kind: 'struct', name: 'gobEncoderType', fields: [{ name: 'CommonType', id: 18 }] }],
];

const utf8 = new TextDecoder('utf-8', { fatal: false });

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}

  byte(): number {
    if (this.pos >= this.end) throw new GobError('gob: unexpected end of message');
    return this.buf[this.pos++]!;
  }

  /** An unsigned integer; values beyond 2^53 lose precision (none of ours come near). */
  uint(): number {
    const b = this.byte();
    if (b < 0x80) return b;
    const n = 0x100 - b;
    if (n > 8) throw new GobError(`gob: invalid uint length ${n}`);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.byte();
    return v;
  }

  int(): number {
    const u = this.uint();
    return u % 2 === 1 ? -Math.floor(u / 2) - 1 : u / 2;
  }

  bytes(): Uint8Array {
    const n = this.uint();
    if (n > this.end - this.pos) throw new GobError(`gob: ${n} bytes announced, ${this.end - this.pos} left in the message`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  float(): number {
    // Go sends math.Float64bits(f) with its bytes reversed, as a uint.
    const b = this.byte();
    const n = b < 0x80 ? 0 : 0x100 - b;
    const raw = new Uint8Array(8);
    if (b < 0x80) raw[7] = b;
    else for (let i = 0; i < n; i++) raw[8 - n + i] = this.byte();
    raw.reverse();
    return new DataView(raw.buffer).getFloat64(0, false);
  }
}

class Writer {
  private chunks: number[] = [];

  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0) throw new GobError(`gob: cannot encode ${v} as uint`);
    if (v < 0x80) {
      this.chunks.push(v);
      return this;
    }
    const bytes: number[] = [];
    for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x % 256);
    this.chunks.push(0x100 - bytes.length, ...bytes);
    return this;
  }

  int(v: number): this {
    if (!Number.isInteger(v)) throw new GobError(`gob: cannot encode ${v} as int`);
    return this.uint(v < 0 ? -v * 2 - 1 : v * 2);
  }

  bytes(b: Uint8Array): this {
    this.uint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }

  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.chunks.push(x);
    return this;
  }

  get length(): number {
    return this.chunks.length;
  }

  done(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

const nameOf = (o: Record<string, unknown> | undefined): string => (typeof o?.Name === 'string' ? o.Name : '');

/** A decoded wireType struct (as the generic decoder returns it) as a WireType with its id. */
function wireTypeFrom(v: Record<string, unknown>): { id: number; type: WireType } {
  const common = (x: unknown): { name: string; id: number } => {
    const c = (x as Record<string, unknown>)?.CommonType as Record<string, unknown> | undefined;
    return { name: nameOf(c), id: typeof c?.Id === 'number' ? c.Id : 0 };
  };
  const num = (o: unknown, k: string): number => {
    const x = (o as Record<string, unknown>)[k];
    return typeof x === 'number' ? x : 0;
  };
  if (v.StructT) {
    const { name, id } = common(v.StructT);
    const list = ((v.StructT as Record<string, unknown>).Field ?? []) as Array<Record<string, unknown>>;
    return { id, type: { kind: 'struct', name, fields: list.map((f) => ({ name: nameOf(f), id: num(f, 'Id') })) } };
  }
  if (v.SliceT) {
    const { name, id } = common(v.SliceT);
    return { id, type: { kind: 'slice', name, elem: num(v.SliceT, 'Elem') } };
  }
  if (v.ArrayT) {
    const { name, id } = common(v.ArrayT);
    return { id, type: { kind: 'array', name, elem: num(v.ArrayT, 'Elem'), len: num(v.ArrayT, 'Len') } };
  }
  if (v.MapT) {
    const { name, id } = common(v.MapT);
    return { id, type: { kind: 'map', name, key: num(v.MapT, 'Key'), elem: num(v.MapT, 'Elem') } };
  }
  for (const [k, how] of [['GobEncoderT', 'gob'], ['BinaryMarshalerT', 'binary'], ['TextMarshalerT', 'text']] as const) {
    if (v[k]) {
      const { name, id } = common(v[k]);
      return { id, type: { kind: 'marshaler', name, how } };
    }
  }
  throw new GobError('gob: type definition of an unknown kind');
}

/** One decoded message: a value (with its type id), or a type definition (no value). */
export interface GobMessage {
  /** Bytes of the input the message took. */
  used: number;
  typeId?: number;
  value?: unknown;
}

/** Reads a gob stream; keeps the type definitions seen so far (one decoder per stream). */
export class GobDecoder {
  private readonly types = new Map<number, WireType>(BOOTSTRAP);

  /** The definition of `id` received on this stream (or predeclared). */
  typeOf(id: number): WireType | undefined {
    return this.types.get(id);
  }

  /**
   * The first message in `buf`, or undefined when `buf` does not hold a whole message yet. Type definitions are
   * recorded and returned without a value; the caller keeps reading.
   */
  next(buf: Uint8Array): GobMessage | undefined {
    if (buf.length === 0) return undefined;
    const head = new Reader(buf);
    let len: number;
    try {
      len = head.uint();
    } catch {
      return undefined; // the length itself is cut
    }
    if (len > MAX_MESSAGE) throw new GobError(`gob: message of ${len} bytes is too big`);
    if (len === 0) throw new GobError('gob: empty message');
    const end = head.pos + len;
    if (buf.length < end) return undefined;
    const r = new Reader(buf, end);
    r.pos = head.pos;
    const id = r.int();
    if (id < 0) {
      const def = this.decodeStruct(r, WIRE_TYPE) as Record<string, unknown>;
      const { id: defined, type } = wireTypeFrom(def);
      if (defined !== -id) throw new GobError(`gob: definition of type ${-id} names id ${defined}`);
      if (-id < FIRST_USER_ID) throw new GobError(`gob: a stream cannot redefine predeclared type ${-id}`);
      this.types.set(-id, type);
      if (r.pos !== end) throw new GobError('gob: trailing bytes after a type definition');
      return { used: end };
    }
    if (id === 0) throw new GobError('gob: type id 0');
    const t = this.types.get(id);
    let value: unknown;
    if (t?.kind === 'struct') value = this.decodeStruct(r, id);
    else {
      if (r.byte() !== 0) throw new GobError('gob: a top-level non-struct value must start with a 0 byte');
      value = this.decodeValue(r, id);
    }
    if (r.pos !== end) throw new GobError(`gob: ${end - r.pos} bytes left after a value of type ${id}`);
    return { used: end, typeId: id, value };
  }

  private decodeStruct(r: Reader, id: number): Record<string, unknown> {
    const t = this.types.get(id);
    if (t?.kind !== 'struct') throw new GobError(`gob: type ${id} is not a struct`);
    const out: Record<string, unknown> = {};
    for (let field = -1; ; ) {
      const delta = r.uint();
      if (delta === 0) return out;
      field += delta;
      const f = t.fields[field];
      if (!f) throw new GobError(`gob: field ${field} of ${t.name || `type ${id}`} does not exist`);
      out[f.name] = this.decodeValue(r, f.id);
    }
  }

  private decodeValue(r: Reader, id: number, depth = 0): unknown {
    if (depth > 64) throw new GobError('gob: values nested too deeply');
    switch (id) {
      case T.bool: {
        const u = r.uint();
        if (u > 1) throw new GobError(`gob: invalid bool ${u}`);
        return u === 1;
      }
      case T.int:
        return r.int();
      case T.uint:
        return r.uint();
      case T.float:
        return r.float();
      case T.bytes:
        return r.bytes();
      case T.string:
        return utf8.decode(r.bytes());
      case T.complex:
        return [r.float(), r.float()];
      case T.interface:
        throw new GobError('gob: interface values are not supported');
    }
    const t = this.types.get(id);
    if (!t) throw new GobError(`gob: unknown type id ${id}`);
    switch (t.kind) {
      case 'struct':
        return this.decodeStruct(r, id);
      case 'marshaler':
        return r.bytes();
      case 'slice':
      case 'array': {
        const n = r.uint();
        if (t.kind === 'array' && n !== t.len) throw new GobError(`gob: array of ${n} elements, type has ${t.len}`);
        if (n > r.end - r.pos) throw new GobError(`gob: ${n} elements announced, message too short`);
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(this.decodeValue(r, t.elem, depth + 1));
        return out;
      }
      case 'map': {
        const n = r.uint();
        if (n > r.end - r.pos) throw new GobError(`gob: ${n} map entries announced, message too short`);
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) out.set(this.decodeValue(r, t.key, depth + 1), this.decodeValue(r, t.elem, depth + 1));
        return out;
      }
    }
  }
}

const isZero = (id: number, v: unknown, types: TypeTable): boolean => {
  if (v === undefined || v === null) return true;
  if (types.get(id)?.kind === 'struct') return false; // Go sends a struct field even when it is all zero
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'string') return v === '';
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length === 0;
  if (v instanceof Map) return v.size === 0;
  return false;
};

const typeDefinitionOf = (id: number, t: WireType): Record<string, unknown> => {
  const common = { Name: t.name, Id: id };
  switch (t.kind) {
    case 'struct':
      return { StructT: { CommonType: common, Field: t.fields.map((f) => ({ Name: f.name, Id: f.id })) } };
    case 'slice':
      return { SliceT: { CommonType: common, Elem: t.elem } };
    case 'array':
      return { ArrayT: { CommonType: common, Elem: t.elem, Len: t.len } };
    case 'map':
      return { MapT: { CommonType: common, Key: t.key, Elem: t.elem } };
    case 'marshaler':
      return { [{ gob: 'GobEncoderT', binary: 'BinaryMarshalerT', text: 'TextMarshalerT' }[t.how]]: { CommonType: common } };
  }
};

/** Writes a gob stream of the declared types (one encoder per stream: it remembers which definitions it sent). */
export class GobEncoder {
  private readonly types: Map<number, WireType>;
  private readonly sent = new Set<number>();

  constructor(types: TypeTable) {
    this.types = new Map([...BOOTSTRAP, ...types]);
  }

  /** The messages for one value of type `id` (a struct): definitions not sent yet on this stream, then the value. */
  encode(id: number, value: Record<string, unknown>): Uint8Array {
    const out = new Writer();
    this.sendType(id, out);
    out.raw(this.message(id, (w) => this.encodeStruct(w, id, value)));
    return out.done();
  }

  private message(id: number, body: (w: Writer) => void): Uint8Array {
    const payload = new Writer().int(id);
    body(payload);
    const bytes = payload.done();
    return new Writer().uint(bytes.length).raw(bytes).done();
  }

  private sendType(id: number, out: Writer): void {
    if (id < FIRST_USER_ID || this.sent.has(id)) return;
    const t = this.types.get(id);
    if (!t) throw new GobError(`gob: type ${id} is not declared`);
    this.sent.add(id);
    out.raw(this.message(-id, (w) => this.encodeStruct(w, WIRE_TYPE, typeDefinitionOf(id, t))));
    if (t.kind === 'struct') for (const f of t.fields) this.sendType(f.id, out);
    else if (t.kind === 'slice' || t.kind === 'array') this.sendType(t.elem, out);
    else if (t.kind === 'map') {
      this.sendType(t.key, out);
      this.sendType(t.elem, out);
    }
  }

  private encodeStruct(w: Writer, id: number, v: Record<string, unknown>): void {
    const t = this.types.get(id);
    if (t?.kind !== 'struct') throw new GobError(`gob: type ${id} is not a declared struct`);
    let last = -1;
    t.fields.forEach((f, i) => {
      const x = v[f.name];
      if (isZero(f.id, x, this.types)) return;
      w.uint(i - last);
      last = i;
      this.encodeValue(w, f.id, x, `${t.name}.${f.name}`);
    });
    w.uint(0);
  }

  private encodeValue(w: Writer, id: number, v: unknown, where: string): void {
    const bad = (): never => {
      throw new GobError(`gob: ${where}: ${JSON.stringify(v)} does not fit type ${id}`);
    };
    switch (id) {
      case T.bool:
        if (typeof v !== 'boolean') bad();
        w.uint(v ? 1 : 0);
        return;
      case T.int:
        if (typeof v !== 'number') bad();
        w.int(v as number);
        return;
      case T.uint:
        if (typeof v !== 'number') bad();
        w.uint(v as number);
        return;
      case T.bytes:
        if (!(v instanceof Uint8Array)) bad();
        w.bytes(v as Uint8Array);
        return;
      case T.string:
        if (typeof v !== 'string') bad();
        w.bytes(Buffer.from(v as string, 'utf8'));
        return;
    }
    const t = this.types.get(id);
    if (!t) throw new GobError(`gob: ${where}: type ${id} cannot be encoded`);
    switch (t.kind) {
      case 'struct':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) bad();
        this.encodeStruct(w, id, v as Record<string, unknown>);
        return;
      case 'marshaler':
        if (!(v instanceof Uint8Array)) bad();
        w.bytes(v as Uint8Array);
        return;
      case 'slice':
      case 'array':
        if (!Array.isArray(v)) bad();
        w.uint((v as unknown[]).length);
        for (const x of v as unknown[]) this.encodeValue(w, t.elem, x, `${where}[]`);
        return;
      case 'map':
        if (!(v instanceof Map)) bad();
        w.uint((v as Map<unknown, unknown>).size);
        for (const [k, x] of v as Map<unknown, unknown>) {
          this.encodeValue(w, t.key, k, `${where} key`);
          this.encodeValue(w, t.elem, x, `${where} value`);
        }
    }
  }
}
