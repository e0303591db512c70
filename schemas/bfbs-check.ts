/**
 * Cross-checks our layouts against flatc's binary schema (`flatc -b --schema`), so the verifier
 * can never silently disagree with the code flatc generates. The .bfbs is itself a FlatBuffer
 * whose shape is fixed by flatc's reflection schema; the field ids below are that schema's.
 */
import * as flatbuffers from 'flatbuffers';
import type { ElementType, FieldType, Layouts, ScalarType } from '../src/wire/layout.js';

// flatc's reflection BaseType numbering.
const baseTypeNames = [
  'None', 'UType', 'Bool', 'Byte', 'UByte', 'Short', 'UShort', 'Int', 'UInt', 'Long', 'ULong', 'Float', 'Double',
  'String', 'Vector', 'Obj', 'Union', 'Array', 'Vector64',
] as const;
const scalarBase: Record<ScalarType, string> = {
  bool: 'Bool', int8: 'Byte', uint8: 'UByte', int16: 'Short', uint16: 'UShort', int32: 'Int', uint32: 'UInt',
  int64: 'Long', uint64: 'ULong', float32: 'Float', float64: 'Double',
};

class Table {
  constructor(readonly bb: flatbuffers.ByteBuffer, readonly pos: number) {}
  private field(id: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * id);
  }
  str(id: number): string | null {
    const o = this.field(id);
    return o ? (this.bb.__string(this.pos + o) as string) : null;
  }
  table(id: number): Table | null {
    const o = this.field(id);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }
  tables(id: number): Table[] {
    const o = this.field(id);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    const n = this.bb.__vector_len(this.pos + o);
    const out: Table[] = [];
    for (let i = 0; i < n; i++) out.push(new Table(this.bb, this.bb.__indirect(start + 4 * i)));
    return out;
  }
  int8(id: number, dflt: number): number {
    const o = this.field(id);
    return o ? this.bb.readInt8(this.pos + o) : dflt;
  }
  uint16(id: number, dflt: number): number {
    const o = this.field(id);
    return o ? this.bb.readUint16(this.pos + o) : dflt;
  }
  int32(id: number, dflt: number): number {
    const o = this.field(id);
    return o ? this.bb.readInt32(this.pos + o) : dflt;
  }
  int64(id: number): bigint {
    const o = this.field(id);
    return o ? this.bb.readInt64(this.pos + o) : 0n;
  }
  bool(id: number): boolean {
    return this.int8(id, 0) !== 0;
  }
}

interface FlatcType { base: string; element: string; index: number; fixedLength: number }

function readType(t: Table | null): FlatcType {
  if (!t) throw new Error('bfbs: field without type');
  return { base: baseTypeNames[t.int8(0, 0)], element: baseTypeNames[t.int8(1, 0)], index: t.int32(2, -1), fixedLength: t.uint16(3, 0) };
}

/** Returns a list of disagreements (empty when flatc and our layouts agree on every type in the bfbs). */
export function compareWithBfbs(bfbs: Uint8Array, layouts: Layouts, seen: Set<string>): string[] {
  const problems: string[] = [];
  const bb = new flatbuffers.ByteBuffer(bfbs);
  const schema = new Table(bb, bb.readInt32(bb.position()) + bb.position());
  const objects = schema.tables(0);
  const enums = schema.tables(1);
  const objectName = (i: number): string => objects[i]?.str(0) ?? `#${i}`;
  const enumName = (i: number): string => enums[i]?.str(0) ?? `#${i}`;

  const sameElement = (where: string, ours: ElementType, base: string, index: number): void => {
    const expected =
      ours.kind === 'scalar' ? scalarBase[ours.scalar] : ours.kind === 'string' ? 'String' : 'Obj';
    if (base !== expected) problems.push(`${where}: flatc type ${base}, ours ${ours.kind}`);
    if (ours.kind === 'struct' && objectName(index) !== ours.struct) problems.push(`${where}: flatc struct ${objectName(index)}, ours ${ours.struct}`);
    if (ours.kind === 'table' && objectName(index) !== ours.table) problems.push(`${where}: flatc table ${objectName(index)}, ours ${ours.table}`);
    if (ours.kind === 'scalar' && (ours.enum ?? null) !== (index >= 0 ? enumName(index) : null)) {
      problems.push(`${where}: flatc enum ${index >= 0 ? enumName(index) : 'none'}, ours ${ours.enum ?? 'none'}`);
    }
  };

  for (const object of objects) {
    const name = object.str(0) as string;
    seen.add(name);
    const isStruct = object.bool(2);
    const fields = object.tables(1);
    if (isStruct) {
      const ours = layouts.structs[name];
      if (!ours) { problems.push(`${name}: flatc has a struct we lack`); continue; }
      if (ours.size !== object.int32(4, 0)) problems.push(`${name}: size ${ours.size}, flatc ${object.int32(4, 0)}`);
      if (ours.align !== object.int32(3, 0)) problems.push(`${name}: align ${ours.align}, flatc ${object.int32(3, 0)}`);
      if (ours.fields.length !== fields.length) problems.push(`${name}: ${ours.fields.length} fields, flatc ${fields.length}`);
      for (const field of fields) {
        const fieldName = field.str(0) as string;
        const mine = ours.fields.find((f) => f.name === fieldName);
        const where = `${name}.${fieldName}`;
        if (!mine) { problems.push(`${where}: missing`); continue; }
        if (mine.offset !== field.uint16(3, 0)) problems.push(`${where}: offset ${mine.offset}, flatc ${field.uint16(3, 0)}`);
        const type = readType(field.table(1));
        if (mine.type.kind === 'array') {
          if (type.base !== 'Array' || type.fixedLength !== mine.type.length) problems.push(`${where}: flatc ${type.base}[${type.fixedLength}], ours array[${mine.type.length}]`);
          else sameElement(where, mine.type.element, type.element, type.index);
        } else {
          sameElement(where, mine.type, type.base, type.index);
        }
      }
    } else {
      const ours = layouts.tables[name];
      if (!ours) { problems.push(`${name}: flatc has a table we lack`); continue; }
      if (ours.fields.length !== fields.length) problems.push(`${name}: ${ours.fields.length} fields, flatc ${fields.length}`);
      for (const field of fields) {
        const fieldName = field.str(0) as string;
        const mine = ours.fields.find((f) => f.name === fieldName);
        const where = `${name}.${fieldName}`;
        if (!mine) { problems.push(`${where}: missing`); continue; }
        if (mine.id !== field.uint16(2, 0)) problems.push(`${where}: id ${mine.id}, flatc ${field.uint16(2, 0)}`);
        if (mine.slot !== field.uint16(3, 0)) problems.push(`${where}: slot ${mine.slot}, flatc ${field.uint16(3, 0)}`);
        if (mine.required !== field.bool(7)) problems.push(`${where}: required ${mine.required}, flatc ${field.bool(7)}`);
        if (mine.deprecated !== field.bool(6)) problems.push(`${where}: deprecated ${mine.deprecated}, flatc ${field.bool(6)}`);
        const type = readType(field.table(1));
        compareFieldType(where, mine.type, type);
      }
    }
  }

  function compareFieldType(where: string, mine: FieldType, type: FlatcType): void {
    if (mine.kind === 'utype') {
      if (type.base !== 'UType' || enumName(type.index) !== mine.union) problems.push(`${where}: flatc ${type.base}, ours union tag of ${mine.union}`);
    } else if (mine.kind === 'union') {
      if (type.base !== 'Union' || enumName(type.index) !== mine.union) problems.push(`${where}: flatc ${type.base}, ours union ${mine.union}`);
    } else if (mine.kind === 'vector') {
      if (type.base !== 'Vector') problems.push(`${where}: flatc ${type.base}, ours vector`);
      else sameElement(`${where}[]`, mine.element, type.element, type.index);
    } else {
      sameElement(where, mine, type.base, type.index);
    }
  }

  for (const e of enums) {
    const name = e.str(0) as string;
    seen.add(name);
    const isUnion = e.bool(2);
    const values = e.tables(1);
    if (isUnion) {
      const ours = layouts.unions[name];
      if (!ours) { problems.push(`${name}: flatc has a union we lack`); continue; }
      const theirs = values
        .map((v) => ({ name: v.str(0) as string, tag: Number(v.int64(1)), table: v.table(3) }))
        .filter((v) => v.tag !== 0)
        .map((v) => `${v.tag}:${v.table ? objectName(readType(v.table).index) : '?'}`);
      const mine = ours.members.map((m) => `${m.tag}:${m.table}`);
      if (theirs.join(',') !== mine.join(',')) problems.push(`${name}: members ${mine.join(',')}, flatc ${theirs.join(',')}`);
    } else {
      const ours = layouts.enums[name];
      if (!ours) { problems.push(`${name}: flatc has an enum we lack`); continue; }
      const theirs = values.map((v) => `${v.str(0)}=${v.int64(1)}`).join(',');
      const mine = ours.values.map((v) => `${v.name}=${BigInt.asIntN(64, BigInt(v.value))}`).join(',');
      if (theirs !== mine) problems.push(`${name}: values ${mine}, flatc ${theirs}`);
      const underlying = readType(e.table(3));
      if (underlying.base !== scalarBase[ours.underlying]) problems.push(`${name}: underlying ${ours.underlying}, flatc ${underlying.base}`);
    }
  }
  return problems;
}
