/**
 * A bounds-checked FlatBuffers table reader for hot decode paths. The generated TypeScript
 * readers trust their input; codecs that read peer bytes after (or, on the relay's forwarding
 * path, instead of) verifyBuffer read through this class: every offset, vtable, struct and vector
 * is checked against the buffer before use, and any violation throws FlatError, which each codec
 * turns into its typed decode error. The checks follow the FlatBuffers verifier rules for the
 * shapes the schemas use: tables, unions, inline structs, byte vectors, vectors of structs and of
 * tables, strings and scalars.
 */
export class FlatError extends Error {}

/** Nested tables deeper than this are refused, so a crafted buffer cannot recurse without bound. */
const TABLE_DEPTH_MAX = 8;
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export class FlatTable {
  private constructor(
    readonly bytes: Uint8Array,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableBytes: number,
    private readonly tableBytes: number,
    private readonly depth: number,
  ) {}

  /** The root table of a finished buffer (no size prefix). */
  static root(bytes: Uint8Array): FlatTable {
    if (bytes.byteLength < 8) throw new FlatError('buffer too short');
    const root = u32(bytes, 0);
    if (root === 0) throw new FlatError('zero root offset');
    return FlatTable.at(bytes, root, 0);
  }

  static at(bytes: Uint8Array, pos: number, depth: number): FlatTable {
    if (depth > TABLE_DEPTH_MAX) throw new FlatError('nesting too deep');
    if (pos % 4 !== 0 || pos + 4 > bytes.byteLength) throw new FlatError('table out of bounds');
    const vtable = pos - i32(bytes, pos);
    if (vtable < 0 || vtable % 2 !== 0 || vtable + 4 > bytes.byteLength) throw new FlatError('vtable out of bounds');
    const vtableBytes = u16(bytes, vtable);
    const tableBytes = u16(bytes, vtable + 2);
    if (vtableBytes < 4 || vtableBytes % 2 !== 0 || vtable + vtableBytes > bytes.byteLength) {
      throw new FlatError('bad vtable');
    }
    if (tableBytes < 4 || pos + tableBytes > bytes.byteLength) throw new FlatError('table out of bounds');
    return new FlatTable(bytes, pos, vtable, vtableBytes, tableBytes, depth);
  }

  /** Offset of field `index` inside the buffer, or 0 when absent; checks `size` bytes fit the table. */
  private field(index: number, size: number): number {
    const slot = 4 + 2 * index;
    if (slot + 2 > this.vtableBytes) return 0;
    const offset = u16(this.bytes, this.vtable + slot);
    if (offset === 0) return 0;
    if (offset < 4 || offset + size > this.tableBytes) throw new FlatError('field out of table');
    return this.pos + offset;
  }

  has(index: number): boolean {
    const slot = 4 + 2 * index;
    return slot + 2 <= this.vtableBytes && u16(this.bytes, this.vtable + slot) !== 0;
  }

  u8(index: number, fallback = 0): number {
    const at = this.field(index, 1);
    return at === 0 ? fallback : this.bytes[at];
  }

  bool(index: number): boolean {
    const value = this.u8(index, 0);
    if (value > 1) throw new FlatError('bad bool');
    return value === 1;
  }

  u16(index: number, fallback = 0): number {
    const at = this.field(index, 2);
    return at === 0 ? fallback : u16(this.bytes, at);
  }

  u32(index: number, fallback = 0): number {
    const at = this.field(index, 4);
    return at === 0 ? fallback : u32(this.bytes, at);
  }

  i32(index: number, fallback = 0): number {
    const at = this.field(index, 4);
    return at === 0 ? fallback : i32(this.bytes, at);
  }

  u64(index: number, fallback = 0n): bigint {
    const at = this.field(index, 8);
    return at === 0 ? fallback : u64(this.bytes, at);
  }

  /** An inline struct of `size` bytes, as a view (not a copy); null when absent. */
  struct(index: number, size: number): Uint8Array | null {
    const at = this.field(index, size);
    return at === 0 ? null : this.bytes.subarray(at, at + size);
  }

  private target(index: number): number {
    const at = this.field(index, 4);
    if (at === 0) return 0;
    const offset = u32(this.bytes, at);
    const target = at + offset;
    if (offset === 0 || target >= this.bytes.byteLength) throw new FlatError('offset out of bounds');
    return target;
  }

  table(index: number): FlatTable | null {
    const target = this.target(index);
    return target === 0 ? null : FlatTable.at(this.bytes, target, this.depth + 1);
  }

  /** A [ubyte] vector as a view into the buffer (not a copy); null when absent. */
  byteVector(index: number): Uint8Array | null {
    const target = this.target(index);
    if (target === 0) return null;
    const length = vectorLength(this.bytes, target, 1);
    return this.bytes.subarray(target + 4, target + 4 + length);
  }

  /** A NUL-terminated UTF-8 string of at most `maxBytes` bytes; null when absent. */
  string(index: number, maxBytes = Number.MAX_SAFE_INTEGER): string | null {
    const bytes = this.byteVector(index);
    if (bytes === null) return null;
    if (bytes.byteLength > maxBytes) throw new FlatError('string too long');
    const end = bytes.byteOffset - this.bytes.byteOffset + bytes.byteLength;
    if (end >= this.bytes.byteLength || this.bytes[end] !== 0) throw new FlatError('string not terminated');
    return textDecoder.decode(bytes);
  }

  /** A vector of fixed-size structs as one view, `limit` elements at most; null when absent. */
  structVector(index: number, elementBytes: number, limit: number): { bytes: Uint8Array; length: number } | null {
    const target = this.target(index);
    if (target === 0) return null;
    const length = vectorLength(this.bytes, target, elementBytes);
    if (length > limit) throw new FlatError('vector too long');
    return { bytes: this.bytes.subarray(target + 4, target + 4 + length * elementBytes), length };
  }

  /** A vector of tables; `limit` bounds how many elements the caller accepts. */
  tables(index: number, limit: number): FlatTable[] | null {
    const target = this.target(index);
    if (target === 0) return null;
    const length = vectorLength(this.bytes, target, 4);
    if (length > limit) throw new FlatError('vector too long');
    const out: FlatTable[] = [];
    for (let i = 0; i < length; i++) {
      const at = target + 4 + 4 * i;
      out.push(FlatTable.at(this.bytes, at + u32(this.bytes, at), this.depth + 1));
    }
    return out;
  }
}

function vectorLength(bytes: Uint8Array, at: number, elementBytes: number): number {
  if (at % 4 !== 0 || at + 4 > bytes.byteLength) throw new FlatError('vector out of bounds');
  const length = u32(bytes, at);
  if (at + 4 + length * elementBytes > bytes.byteLength) throw new FlatError('vector out of bounds');
  return length;
}

/** Little-endian readers; callers check bounds (u32 and u64 check their own). */
export function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

export function i32(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

export function u32(bytes: Uint8Array, at: number): number {
  if (at + 4 > bytes.byteLength) throw new FlatError('read out of bounds');
  return i32(bytes, at) >>> 0;
}

export function u64(bytes: Uint8Array, at: number): bigint {
  return (BigInt(u32(bytes, at + 4)) << 32n) | BigInt(u32(bytes, at));
}

/** A U128 struct (hi: ulong, lo: ulong, each little-endian). */
export function readU128(bytes: Uint8Array): bigint {
  return (u64(bytes, 0) << 64n) | u64(bytes, 8);
}
