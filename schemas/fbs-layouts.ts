/**
 * Turns parsed schema files into verifier layouts (vtable slots, struct offsets/sizes/alignment,
 * union members, enum values) and renders them as a TypeScript module.
 */
import { SchemaError, scalarSize, type FileDecl, type ScalarName, type TypeDecl, type TypeRef } from './fbs-parser.js';
import type {
  ElementType,
  EnumLayout,
  FieldType,
  Layouts,
  StructFieldLayout,
  StructFieldType,
  StructLayout,
  TableFieldLayout,
  TableLayout,
  UnionLayout,
} from '../src/wire/layout.js';

interface Mutable {
  tables: Record<string, TableLayout>;
  structs: Record<string, StructLayout>;
  enums: Record<string, EnumLayout>;
  unions: Record<string, UnionLayout>;
}

function rangeOf(scalar: ScalarName): [bigint, bigint] {
  const bits = BigInt(scalarSize[scalar] * 8);
  if (scalar.startsWith('uint') || scalar === 'bool') return [0n, (1n << bits) - 1n];
  return [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n];
}

export function computeLayouts(files: readonly FileDecl[]): Layouts {
  const decls = new Map<string, TypeDecl>();
  for (const file of files) {
    for (const decl of file.types) {
      if (decls.has(decl.name)) throw new SchemaError(decl.file, decl.line, `${decl.name} declared twice`);
      decls.set(decl.name, decl);
    }
  }

  const resolve = (name: string, namespace: string, file: string, line: number): TypeDecl => {
    const parts = namespace ? namespace.split('.') : [];
    for (let i = parts.length; i >= 0; i--) {
      const candidate = [...parts.slice(0, i), name].join('.');
      const found = decls.get(candidate);
      if (found) return found;
    }
    throw new SchemaError(file, line, `unknown type '${name}'`);
  };

  const out: Mutable = { tables: {}, structs: {}, enums: {}, unions: {} };

  // Enums and unions first: fields refer to them.
  for (const decl of decls.values()) {
    if (decl.kind === 'enum') {
      const underlying = decl.underlying as ScalarName;
      const [min, max] = rangeOf(underlying);
      const bitFlags = decl.attributes.has('bit_flags');
      let nextValue = 0n;
      const values: { name: string; value: string }[] = [];
      const seen = new Set<string>();
      for (const v of decl.values) {
        let value = v.value ?? nextValue;
        if (bitFlags) {
          if (value < 0n || value >= BigInt(scalarSize[underlying] * 8)) throw new SchemaError(decl.file, v.line, `bit_flags bit ${value} out of range`);
          value = 1n << value;
        }
        if (value < min || value > max) throw new SchemaError(decl.file, v.line, `${decl.name}.${v.name} = ${value} does not fit ${underlying}`);
        if (values.length > 0 && !bitFlags && value <= BigInt(values[values.length - 1].value)) {
          throw new SchemaError(decl.file, v.line, `${decl.name} values must be ascending`);
        }
        if (seen.has(v.name)) throw new SchemaError(decl.file, v.line, `duplicate enum value ${v.name}`);
        seen.add(v.name);
        values.push({ name: v.name, value: value.toString() });
        nextValue = (v.value ?? nextValue) + 1n;
      }
      if (values.length === 0) throw new SchemaError(decl.file, decl.line, `${decl.name} has no values`);
      out.enums[decl.name] = { name: decl.name, underlying, bitFlags, values };
    } else if (decl.kind === 'union') {
      const members: { name: string; tag: number; table: string }[] = [];
      let nextTag = 1;
      for (const v of decl.values) {
        const tag = v.value === null ? nextTag : Number(v.value);
        if (tag < 1 || tag > 255 || (members.length > 0 && tag <= members[members.length - 1].tag)) {
          throw new SchemaError(decl.file, v.line, `${decl.name}.${v.name}: union tags must ascend within 1..255`);
        }
        const target = resolve(v.target as string, decl.namespace, decl.file, v.line);
        if (target.kind !== 'table') throw new SchemaError(decl.file, v.line, `union member ${v.name} must be a table`);
        members.push({ name: v.name, tag, table: target.name });
        nextTag = tag + 1;
      }
      if (members.length === 0) throw new SchemaError(decl.file, decl.line, `${decl.name} has no members`);
      out.unions[decl.name] = { name: decl.name, members };
    }
  }

  // Structs, in dependency order (a struct's size depends on the structs it embeds).
  const structInProgress = new Set<string>();
  const layoutStruct = (decl: TypeDecl): StructLayout => {
    const done = out.structs[decl.name];
    if (done) return done;
    if (structInProgress.has(decl.name)) throw new SchemaError(decl.file, decl.line, `struct ${decl.name} contains itself`);
    structInProgress.add(decl.name);
    const fields: StructFieldLayout[] = [];
    let offset = 0;
    let align = 1;
    const scalarOrStruct = (ref: TypeRef, line: number): { type: { kind: 'scalar'; scalar: ScalarName; enum?: string } | { kind: 'struct'; struct: string }; size: number; align: number } => {
      if (ref.kind === 'scalar') return { type: { kind: 'scalar', scalar: ref.scalar }, size: scalarSize[ref.scalar], align: scalarSize[ref.scalar] };
      if (ref.kind === 'named') {
        const target = resolve(ref.name, decl.namespace, decl.file, line);
        if (target.kind === 'enum') {
          const e = out.enums[target.name];
          return { type: { kind: 'scalar', scalar: e.underlying, enum: e.name }, size: scalarSize[e.underlying], align: scalarSize[e.underlying] };
        }
        if (target.kind === 'struct') {
          const s = layoutStruct(target);
          return { type: { kind: 'struct', struct: s.name }, size: s.size, align: s.align };
        }
      }
      throw new SchemaError(decl.file, line, `struct ${decl.name} may only hold scalars, enums, structs and fixed arrays of them`);
    };
    for (const field of decl.fields) {
      let type: StructFieldType;
      let size: number;
      let fieldAlign: number;
      if (field.type.kind === 'array') {
        const element = scalarOrStruct(field.type.element, field.line);
        type = { kind: 'array', element: element.type, length: field.type.length };
        size = element.size * field.type.length;
        fieldAlign = element.align;
      } else {
        const element = scalarOrStruct(field.type, field.line);
        type = element.type;
        size = element.size;
        fieldAlign = element.align;
      }
      offset = Math.ceil(offset / fieldAlign) * fieldAlign;
      fields.push({ name: field.name, offset, size, type });
      offset += size;
      align = Math.max(align, fieldAlign);
    }
    if (fields.length === 0) throw new SchemaError(decl.file, decl.line, `struct ${decl.name} is empty`);
    const layout: StructLayout = { name: decl.name, size: Math.ceil(offset / align) * align, align, fields };
    structInProgress.delete(decl.name);
    out.structs[decl.name] = layout;
    return layout;
  };
  for (const decl of decls.values()) if (decl.kind === 'struct') layoutStruct(decl);

  // Tables.
  const rootOf = new Map<string, string | undefined>();
  for (const file of files) {
    if (file.rootType === null) continue;
    const target = resolve(file.rootType, file.namespace, file.file, 1);
    if (target.kind !== 'table') throw new SchemaError(file.file, 1, `root_type ${file.rootType} is not a table`);
    rootOf.set(target.name, file.fileIdentifier ?? undefined);
  }
  for (const decl of decls.values()) {
    if (decl.kind !== 'table') continue;
    const elementOf = (ref: TypeRef, line: number): ElementType => {
      if (ref.kind === 'scalar') return { kind: 'scalar', scalar: ref.scalar };
      if (ref.kind === 'string') return { kind: 'string' };
      if (ref.kind === 'named') {
        const target = resolve(ref.name, decl.namespace, decl.file, line);
        if (target.kind === 'enum') return { kind: 'scalar', scalar: out.enums[target.name].underlying, enum: target.name };
        if (target.kind === 'struct') return { kind: 'struct', struct: target.name };
        if (target.kind === 'table') return { kind: 'table', table: target.name };
        throw new SchemaError(decl.file, line, `vectors of unions are not supported (${ref.name})`);
      }
      throw new SchemaError(decl.file, line, 'unsupported element type');
    };
    const explicitIds = decl.fields.filter((f) => f.attributes.has('id')).length;
    if (explicitIds !== 0 && explicitIds !== decl.fields.length) {
      throw new SchemaError(decl.file, decl.line, `${decl.name}: either every field has an id or none does`);
    }
    const fields: TableFieldLayout[] = [];
    let nextId = 0;
    for (const field of decl.fields) {
      let type: FieldType;
      const named = field.type.kind === 'named' ? resolve(field.type.name, decl.namespace, decl.file, field.line) : null;
      if (named?.kind === 'union') type = { kind: 'union', union: named.name };
      else if (field.type.kind === 'vector') type = { kind: 'vector', element: elementOf(field.type.element, field.line) };
      else type = elementOf(field.type, field.line);
      let id = nextId;
      if (explicitIds) {
        const raw = field.attributes.get('id');
        if (raw === null || raw === undefined || !/^[0-9]+$/.test(raw)) throw new SchemaError(decl.file, field.line, 'id needs a decimal value');
        id = Number(raw);
      }
      const required = field.attributes.has('required');
      const deprecated = field.attributes.has('deprecated');
      if (required && (type.kind === 'scalar' || type.kind === 'utype')) {
        throw new SchemaError(decl.file, field.line, `scalar field ${field.name} cannot be required`);
      }
      if (field.defaultValue !== null && type.kind !== 'scalar') {
        throw new SchemaError(decl.file, field.line, `only scalar fields may have defaults (${field.name})`);
      }
      if (type.kind === 'union') {
        const tagId = explicitIds ? id - 1 : id;
        if (tagId < 0) throw new SchemaError(decl.file, field.line, `union field ${field.name} needs id >= 1`);
        fields.push({ name: `${field.name}_type`, id: tagId, slot: 4 + 2 * tagId, type: { kind: 'utype', union: type.union }, required: false, deprecated });
        if (!explicitIds) id += 1;
      }
      const entry: TableFieldLayout = { name: field.name, id, slot: 4 + 2 * id, type, required, deprecated };
      fields.push(field.defaultValue === null ? entry : { ...entry, default: field.defaultValue });
      nextId = id + 1;
    }
    fields.sort((a, b) => a.id - b.id);
    for (let i = 0; i < fields.length; i++) {
      if (fields[i].id !== i) throw new SchemaError(decl.file, decl.line, `${decl.name}: field ids must be 0..${fields.length - 1} without gaps`);
    }
    if (fields.length > 32000) throw new SchemaError(decl.file, decl.line, 'too many fields');
    const identifier = rootOf.get(decl.name);
    const table: TableLayout = identifier === undefined ? { name: decl.name, fields } : { name: decl.name, fields, fileIdentifier: identifier };
    out.tables[decl.name] = table;
  }
  return out;
}

function sortedRecord<T>(record: Record<string, T>): [string, T][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Renders the layouts module; `layoutTypesImport` is the relative path to src/wire/layout.js. */
export function renderLayouts(layouts: Layouts, layoutTypesImport: string): string {
  const section = (name: string, typeName: string, record: Record<string, unknown>): string => {
    const entries = sortedRecord(record).map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`);
    return `export const ${name} = {\n${entries.join('\n')}\n} satisfies Record<string, ${typeName}>;\n`;
  };
  return [
    '/* Verifier layouts derived from the schemas: vtable slots, struct offsets, union members. */',
    `import type { EnumLayout, Layouts, StructLayout, TableLayout, UnionLayout } from '${layoutTypesImport}';`,
    '',
    section('tables', 'TableLayout', layouts.tables),
    section('structs', 'StructLayout', layouts.structs),
    section('enums', 'EnumLayout', layouts.enums),
    section('unions', 'UnionLayout', layouts.unions),
    'export type TableName = keyof typeof tables;',
    'export type StructName = keyof typeof structs;',
    '',
    'export const layouts: Layouts = { tables, structs, enums, unions };',
    '',
  ].join('\n');
}
