/**
 * A bounds-checked FlatBuffers reader for the transport tables. The TypeScript FlatBuffers
 * runtime reads without checks, so every inbound buffer is walked here first: each offset,
 * vtable, vector and string is checked against the buffer before it is read, and a malformed
 * buffer yields null instead of garbage or an exception. Decoders in codec.ts read only through
 * this class and return plain values, never half-read generated objects.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class FbReader {
  private readonly view: DataView;
  readonly length: number;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  private inBounds(position: number, size: number): boolean {
    return Number.isInteger(position) && position >= 0 && size >= 0 && position + size <= this.length;
  }

  /** Position of the root table, or null. */
  root(): TableRef | null {
    if (!this.inBounds(0, 4)) return null;
    return this.table(this.view.getUint32(0, true));
  }

  /** Validates the table at `position` (its vtable and inline size). */
  table(position: number): TableRef | null {
    if (!this.inBounds(position, 4)) return null;
    const vtable = position - this.view.getInt32(position, true);
    if (!this.inBounds(vtable, 4)) return null;
    const vtableBytes = this.view.getUint16(vtable, true);
    const tableBytes = this.view.getUint16(vtable + 2, true);
    if (vtableBytes < 4 || vtableBytes % 2 !== 0 || !this.inBounds(vtable, vtableBytes)) return null;
    if (tableBytes < 4 || !this.inBounds(position, tableBytes)) return null;
    return { position, vtable, vtableBytes, tableBytes };
  }

  /** Absolute position of field `index` holding `size` bytes; 0 when absent; null when malformed. */
  private field(table: TableRef, index: number, size: number): number | null {
    const slot = 4 + 2 * index;
    if (slot + 2 > table.vtableBytes) return 0;
    const offset = this.view.getUint16(table.vtable + slot, true);
    if (offset === 0) return 0;
    if (offset < 4 || offset + size > table.tableBytes) return null;
    return table.position + offset;
  }

  u8(table: TableRef, index: number, fallback = 0): number | null {
    const at = this.field(table, index, 1);
    if (at === null) return null;
    return at === 0 ? fallback : this.view.getUint8(at);
  }

  u16(table: TableRef, index: number, fallback = 0): number | null {
    const at = this.field(table, index, 2);
    if (at === null) return null;
    return at === 0 ? fallback : this.view.getUint16(at, true);
  }

  u32(table: TableRef, index: number, fallback = 0): number | null {
    const at = this.field(table, index, 4);
    if (at === null) return null;
    return at === 0 ? fallback : this.view.getUint32(at, true);
  }

  /** An inline struct of `size` bytes, as a view; undefined when absent. */
  struct(table: TableRef, index: number, size: number): Uint8Array | undefined | null {
    const at = this.field(table, index, size);
    if (at === null) return null;
    if (at === 0) return undefined;
    return this.bytes.subarray(at, at + size);
  }

  /** Target of an offset field; 0 when absent; null when malformed. */
  private target(table: TableRef, index: number): number | null {
    const at = this.field(table, index, 4);
    if (at === null || at === 0) return at;
    const target = at + this.view.getUint32(at, true);
    return this.inBounds(target, 4) ? target : null;
  }

  /** A byte vector as a view into the buffer; undefined when absent. */
  byteVector(table: TableRef, index: number, lengthMax: number): Uint8Array | undefined | null {
    const target = this.target(table, index);
    if (target === null) return null;
    if (target === 0) return undefined;
    const length = this.view.getUint32(target, true);
    if (length > lengthMax || !this.inBounds(target + 4, length)) return null;
    return this.bytes.subarray(target + 4, target + 4 + length);
  }

  /** A vector of u32, copied out (its alignment in the buffer is not trusted). */
  u32Vector(table: TableRef, index: number, lengthMax: number): Uint32Array | undefined | null {
    const target = this.target(table, index);
    if (target === null) return null;
    if (target === 0) return undefined;
    const length = this.view.getUint32(target, true);
    if (length > lengthMax || !this.inBounds(target + 4, length * 4)) return null;
    const out = new Uint32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.view.getUint32(target + 4 + 4 * i, true);
    return out;
  }

  /** A UTF-8 string; undefined when absent; null when malformed, overlong or not UTF-8. */
  string(table: TableRef, index: number, bytesMax: number): string | undefined | null {
    const target = this.target(table, index);
    if (target === null) return null;
    if (target === 0) return undefined;
    const length = this.view.getUint32(target, true);
    if (length > bytesMax || !this.inBounds(target + 4, length + 1)) return null;
    if (this.view.getUint8(target + 4 + length) !== 0) return null;
    try {
      return utf8.decode(this.bytes.subarray(target + 4, target + 4 + length));
    } catch {
      return null;
    }
  }

  /** A nested table; undefined when absent. */
  subtable(table: TableRef, index: number): TableRef | undefined | null {
    const target = this.target(table, index);
    if (target === null) return null;
    if (target === 0) return undefined;
    return this.table(target);
  }
}

export interface TableRef {
  readonly position: number;
  readonly vtable: number;
  readonly vtableBytes: number;
  readonly tableBytes: number;
}
