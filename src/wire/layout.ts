/**
 * Shapes of the schema metadata that `npm run gen` derives from schemas/*.fbs into
 * src/wire/generated/layouts.ts. The verifier compiles these into per-table plans; decoders and
 * tests may read them (e.g. to build instances generically). All names are fully qualified.
 */

export type ScalarType =
  | 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64';

/** What a vector may hold (FlatBuffers forbids vectors of vectors; we do not use vectors of unions). */
export type ElementType =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType; readonly enum?: string }
  | { readonly kind: 'struct'; readonly struct: string }
  | { readonly kind: 'string' }
  | { readonly kind: 'table'; readonly table: string };

export type FieldType =
  | ElementType
  /** The hidden `<name>_type` tag field flatc adds before a union field. */
  | { readonly kind: 'utype'; readonly union: string }
  | { readonly kind: 'union'; readonly union: string }
  | { readonly kind: 'vector'; readonly element: ElementType };

export interface TableFieldLayout {
  readonly name: string;
  readonly id: number;
  /** Byte offset of this field's entry in the vtable (4 + 2 * id). */
  readonly slot: number;
  readonly type: FieldType;
  readonly required: boolean;
  readonly deprecated: boolean;
  /** Default as written in the schema (`null` for optional scalars), absent when unspecified. */
  readonly default?: string;
}

export interface TableLayout {
  readonly name: string;
  readonly fields: readonly TableFieldLayout[];
  /** Set when this table is its file's root_type and the file declares a file_identifier. */
  readonly fileIdentifier?: string;
}

export type StructFieldType =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType; readonly enum?: string }
  | { readonly kind: 'struct'; readonly struct: string }
  | { readonly kind: 'array'; readonly element: { readonly kind: 'scalar'; readonly scalar: ScalarType; readonly enum?: string } | { readonly kind: 'struct'; readonly struct: string }; readonly length: number };

export interface StructFieldLayout {
  readonly name: string;
  /** Byte offset inside the struct. */
  readonly offset: number;
  readonly size: number;
  readonly type: StructFieldType;
}

export interface StructLayout {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  readonly fields: readonly StructFieldLayout[];
}

export interface EnumLayout {
  readonly name: string;
  readonly underlying: ScalarType;
  readonly bitFlags: boolean;
  /** Values as decimal strings so 64-bit values survive. */
  readonly values: readonly { readonly name: string; readonly value: string }[];
}

export interface UnionLayout {
  readonly name: string;
  /** Tag 0 (NONE) is implicit and not listed. */
  readonly members: readonly { readonly name: string; readonly tag: number; readonly table: string }[];
}

export interface Layouts {
  readonly tables: Readonly<Record<string, TableLayout>>;
  readonly structs: Readonly<Record<string, StructLayout>>;
  readonly enums: Readonly<Record<string, EnumLayout>>;
  readonly unions: Readonly<Record<string, UnionLayout>>;
}
