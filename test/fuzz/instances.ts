/**
 * Builds valid instances of any table straight from its layout, with the flatbuffers Builder
 * the generated code uses, so every schema table can be fuzzed without hand-written samples.
 * A tiny deterministic PRNG drives field presence, lengths and values.
 */
import * as flatbuffers from 'flatbuffers';
import type { ElementType, Layouts, ScalarType, TableLayout } from '../../src/wire/layout.js';

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
}

const scalarBytes: Record<ScalarType, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8,
};

function enumValue(layouts: Layouts, name: string | undefined, rnd: Prng): number | null {
  if (name === undefined) return null;
  const e = layouts.enums[name];
  if (e.bitFlags) return e.values.reduce((acc, v) => (rnd.chance(0.5) ? acc | Number(v.value) : acc), 0);
  return Number(e.values[rnd.below(e.values.length)].value);
}

function scalarValue(scalar: ScalarType, rnd: Prng): number | bigint {
  switch (scalar) {
    case 'bool': return rnd.below(2);
    case 'int64': case 'uint64': return (BigInt(rnd.next()) << 32n) | BigInt(rnd.next());
    case 'float32': case 'float64': return rnd.next() / 7;
    default: return rnd.next();
  }
}

function writeScalar(builder: flatbuffers.Builder, scalar: ScalarType, value: number | bigint): void {
  switch (scalarBytes[scalar]) {
    case 1: builder.writeInt8(Number(value)); break;
    case 2: builder.writeInt16(Number(value)); break;
    case 4: if (scalar === 'float32') builder.writeFloat32(Number(value)); else builder.writeInt32(Number(value)); break;
    default: if (scalar === 'float64') builder.writeFloat64(Number(value)); else builder.writeInt64(BigInt.asIntN(64, BigInt(value))); break;
  }
}

/** Writes a struct inline (random bytes, padding included) and returns its offset. */
function writeStruct(builder: flatbuffers.Builder, layouts: Layouts, name: string, rnd: Prng): flatbuffers.Offset {
  const s = layouts.structs[name];
  builder.prep(s.align, s.size);
  for (let i = 0; i < s.size; i++) builder.writeInt8(rnd.next() & 0xff);
  return builder.offset();
}

export interface InstanceOptions {
  /** Probability an optional field is present. */
  presence: number;
  /** Deepest nested table (optional tables beyond it are left out). */
  depthMax: number;
  /** Longest vector. */
  vectorMax: number;
}

const defaults: InstanceOptions = { presence: 0.7, depthMax: 4, vectorMax: 4 };

export function buildInstance(layouts: Layouts, table: string, seed: number, options: Partial<InstanceOptions> = {}): Uint8Array {
  const opts = { ...defaults, ...options };
  const rnd = new Prng(seed);
  const builder = new flatbuffers.Builder(256);
  const root = buildTable(builder, layouts, layouts.tables[table], rnd, opts, 1);
  builder.finish(root, layouts.tables[table].fileIdentifier);
  return builder.asUint8Array().slice();
}

function buildTable(builder: flatbuffers.Builder, layouts: Layouts, table: TableLayout, rnd: Prng, opts: InstanceOptions, depth: number): flatbuffers.Offset {
  const offsets = new Map<number, flatbuffers.Offset>();
  const unionTags = new Map<number, number>();
  const present = (required: boolean, nested: boolean): boolean => required || ((!nested || depth < opts.depthMax) && rnd.chance(opts.presence));

  const element = (e: ElementType): flatbuffers.Offset => {
    if (e.kind === 'string') return builder.createString(randomText(rnd));
    if (e.kind === 'table') return buildTable(builder, layouts, layouts.tables[e.table], rnd, opts, depth + 1);
    throw new Error('inline element has no offset');
  };

  for (const f of table.fields) {
    if (f.deprecated) continue;
    const t = f.type;
    if (t.kind === 'string' && present(f.required, false)) offsets.set(f.id, element(t));
    else if (t.kind === 'table' && present(f.required, true)) offsets.set(f.id, element(t));
    else if (t.kind === 'union' && present(f.required, true)) {
      const members = layouts.unions[t.union].members;
      const member = members[rnd.below(members.length)];
      offsets.set(f.id, buildTable(builder, layouts, layouts.tables[member.table], rnd, opts, depth + 1));
      unionTags.set(f.id - 1, member.tag);
    } else if (t.kind === 'vector' && present(f.required, t.element.kind === 'table')) {
      const e = t.element;
      const n = rnd.below(opts.vectorMax + 1);
      if (e.kind === 'string' || e.kind === 'table') {
        const items: flatbuffers.Offset[] = [];
        for (let i = 0; i < n; i++) items.push(element(e));
        builder.startVector(4, n, 4);
        for (let i = n - 1; i >= 0; i--) builder.addOffset(items[i]);
        offsets.set(f.id, builder.endVector());
      } else if (e.kind === 'struct') {
        const s = layouts.structs[e.struct];
        builder.startVector(s.size, n, s.align);
        for (let i = 0; i < n; i++) writeStruct(builder, layouts, e.struct, rnd);
        offsets.set(f.id, builder.endVector());
      } else {
        const size = scalarBytes[e.scalar];
        builder.startVector(size, n, size);
        for (let i = 0; i < n; i++) writeScalar(builder, e.scalar, enumValue(layouts, e.enum, rnd) ?? scalarValue(e.scalar, rnd));
        offsets.set(f.id, builder.endVector());
      }
    }
  }

  builder.startObject(table.fields.length);
  for (const f of table.fields) {
    if (f.deprecated) continue;
    const t = f.type;
    const offset = offsets.get(f.id);
    if (offset !== undefined) {
      builder.addFieldOffset(f.id, offset, 0);
    } else if (t.kind === 'utype') {
      const tag = unionTags.get(f.id);
      if (tag !== undefined) builder.addFieldInt8(f.id, tag, 0);
    } else if (t.kind === 'struct' && present(f.required, false)) {
      builder.addFieldStruct(f.id, writeStruct(builder, layouts, t.struct, rnd), 0);
    } else if (t.kind === 'scalar' && rnd.chance(opts.presence)) {
      const value = enumValue(layouts, t.enum, rnd) ?? scalarValue(t.scalar, rnd);
      switch (t.scalar) {
        case 'bool': case 'int8': case 'uint8': builder.addFieldInt8(f.id, Number(value), 0); break;
        case 'int16': case 'uint16': builder.addFieldInt16(f.id, Number(value), 0); break;
        case 'int32': case 'uint32': builder.addFieldInt32(f.id, Number(value), 0); break;
        case 'float32': builder.addFieldFloat32(f.id, Number(value), 0); break;
        case 'float64': builder.addFieldFloat64(f.id, Number(value), 0); break;
        default: builder.addFieldInt64(f.id, BigInt.asIntN(64, BigInt(value)), 0n); break;
      }
    }
  }
  return builder.endObject();
}

function randomText(rnd: Prng): string {
  const alphabet = 'abcXYZ019 -_éü€';
  let s = '';
  const n = rnd.below(12);
  for (let i = 0; i < n; i++) s += alphabet[rnd.below(alphabet.length)];
  return s;
}
