import { I128_MAX, I128_MIN, U128_MAX, U64_MAX } from '../common/bytes.js';

/**
 * Canonical encoding of values that get hashed or signed. Integers are fixed-width
 * big-endian; every variable-length item (strings, byte strings, lists) carries a u32 length
 * first, so two different sequences never encode to the same bytes (the original hashed
 * strings without their length, so ["AB","C"] and ["A","BC"] collided).
 */
export class CanonicalWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
    return this;
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  u32(value: number): this {
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
    return this;
  }

  u64(value: bigint): this {
    if (value < 0n || value > U64_MAX) throw new RangeError(`u64 out of range: ${value}`);
    this.reserve(8);
    this.buffer.writeBigUInt64BE(value, this.length);
    this.length += 8;
    return this;
  }

  u128(value: bigint): this {
    if (value < 0n || value > U128_MAX) throw new RangeError(`u128 out of range: ${value}`);
    this.reserve(16);
    this.buffer.writeBigUInt64BE(value >> 64n, this.length);
    this.buffer.writeBigUInt64BE(value & U64_MAX, this.length + 8);
    this.length += 16;
    return this;
  }

  i128(value: bigint): this {
    if (value < I128_MIN || value > I128_MAX) throw new RangeError(`i128 out of range: ${value}`);
    return this.u128(BigInt.asUintN(128, value));
  }

  /** Bytes whose length is fixed by the type (keys, hashes, signatures): no length prefix. */
  fixed(bytes: Uint8Array, expectedLength: number): this {
    if (bytes.byteLength !== expectedLength) {
      throw new RangeError(`expected ${expectedLength} bytes, got ${bytes.byteLength}`);
    }
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
    return this;
  }

  /** Variable-length bytes: u32 length, then the bytes. */
  bytes(bytes: Uint8Array): this {
    this.u32(bytes.byteLength);
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
    return this;
  }

  string(text: string): this {
    return this.bytes(Buffer.from(text, 'utf8'));
  }

  /** A list: u32 count, then each item written by `writeItem`. */
  list<T>(items: readonly T[], writeItem: (writer: this, item: T) => void): this {
    this.u32(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  optional<T>(value: T | null | undefined, writeValue: (writer: this, value: T) => void): this {
    if (value === null || value === undefined) return this.u8(0);
    this.u8(1);
    writeValue(this, value);
    return this;
  }

  finish(): Uint8Array {
    return new Uint8Array(this.buffer.subarray(0, this.length));
  }
}
