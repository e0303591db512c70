/**
 * A bounds-checked FlatBuffers table reader for the relay's own tables.
 *
 * The generated TypeScript readers trust their input. The relay reads peer bytes on its hot path
 * (one TunnelFrame per forwarded message), so it reads them through this class instead: every
 * offset, vtable, struct and vector is checked against the buffer before use, and any violation
 * makes the read fail (`FlatError`), which the codec turns into a typed decode error. The checks
 * follow the FlatBuffers verifier rules for the shapes used in schemas/relay.fbs (tables, unions,
 * inline structs, byte vectors, vectors of tables, strings); no other shape is read here.
 */
export class FlatError extends Error {}

const MAX_DEPTH = 8;

export class FlatTable {
  private constructor(
    readonly bytes: Uint8Array,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableBytes: number,
    private readonly tableBytes: number,
    private readonly depth: number,
  ) {}

  /** The root table of a finished buffer (no size prefix, no file identifier). */
  static root(bytes: Uint8Array): FlatTable {
    if (bytes.byteLength < 8) throw new FlatError('buffer too short');
    const root = u32(bytes, 0);
    if (root === 0) throw new FlatError('zero root offset');
    return FlatTable.at(bytes, root, 0);
  }

  static at(bytes: Uint8Array, pos: number, depth: number): FlatTable {
    if (depth > MAX_DEPTH) throw new FlatError('nesting too deep');
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

  /** Offset of field `index` inside the table, or 0 when absent; checks `size` bytes fit. */
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

  u16(index: number, fallback = 0): number {
    const at = this.field(index, 2);
    return at === 0 ? fallback : u16(this.bytes, at);
  }

  u32(index: number, fallback = 0): number {
    const at = this.field(index, 4);
    return at === 0 ? fallback : u32(this.bytes, at);
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

  string(index: number): string | null {
    const bytes = this.byteVector(index);
    if (bytes === null) return null;
    const end = (bytes.byteOffset - this.bytes.byteOffset) + bytes.byteLength;
    if (end >= this.bytes.byteLength || this.bytes[end] !== 0) throw new FlatError('string not terminated');
    return textDecoder.decode(bytes);
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

const textDecoder = new TextDecoder('utf-8', { fatal: true });

function vectorLength(bytes: Uint8Array, at: number, elementBytes: number): number {
  if (at % 4 !== 0 || at + 4 > bytes.byteLength) throw new FlatError('vector out of bounds');
  const length = u32(bytes, at);
  if (at + 4 + length * elementBytes > bytes.byteLength) throw new FlatError('vector out of bounds');
  return length;
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

function i32(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

function u32(bytes: Uint8Array, at: number): number {
  if (at + 4 > bytes.byteLength) throw new FlatError('read out of bounds');
  return i32(bytes, at) >>> 0;
}

/**
 * The union tag of a TunnelFrame when it is a well-formed Data frame, without allocating: the
 * relay classifies every forwarded message, and building reader objects for each cost more than
 * the rest of the forwarding path. Returns 1 (Data) only after the same bounds and alignment
 * checks the verifier applies to this shape (root table, vtable, union tag and value, Data table,
 * byte vector); anything else returns 0 and goes through the full decoder.
 */
export function tunnelDataTag(bytes: Uint8Array): number {
  const n = bytes.byteLength;
  if (n < 12) return 0;
  const table = u32(bytes, 0);
  if (table === 0 || table % 4 !== 0 || table + 4 > n) return 0;
  const tagAt = fieldAt(bytes, table, 0, 1);
  const bodyAt = fieldAt(bytes, table, 1, 4);
  if (tagAt <= 0 || bodyAt <= 0 || bytes[tagAt] !== 1) return 0;
  const bodyOffset = u32(bytes, bodyAt);
  const data = bodyAt + bodyOffset;
  if (bodyOffset === 0 || data % 4 !== 0 || data + 4 > n) return 0;
  const vecField = fieldAt(bytes, data, 0, 4);
  if (vecField <= 0) return 0;
  const vecOffset = u32(bytes, vecField);
  const vec = vecField + vecOffset;
  if (vecOffset === 0 || vec % 4 !== 0 || vec + 4 > n) return 0;
  return vec + 4 + u32(bytes, vec) <= n ? 1 : 0;
}

/** Position of field `index` of the table at `pos` (0: absent, -1: malformed). */
function fieldAt(bytes: Uint8Array, pos: number, index: number, size: number): number {
  const vtable = pos - i32(bytes, pos);
  if (vtable < 0 || vtable % 2 !== 0 || vtable + 4 > bytes.byteLength) return -1;
  const vtableBytes = u16(bytes, vtable);
  const tableBytes = u16(bytes, vtable + 2);
  if (vtableBytes < 4 || vtableBytes % 2 !== 0 || vtable + vtableBytes > bytes.byteLength || pos + tableBytes > bytes.byteLength) return -1;
  const slot = 4 + 2 * index;
  if (slot + 2 > vtableBytes) return 0;
  const offset = u16(bytes, vtable + slot);
  if (offset === 0) return 0;
  if (offset < 4 || offset + size > tableBytes) return -1;
  return pos + offset;
}
