/**
 * The byte-level encoding of the payment core's stored records: varint lengths, fixed-size byte
 * fields, and amounts as a length byte plus minimal big-endian magnitude (almost every stored
 * amount fits in a few bytes). Independent of any runtime's serialiser, so a record written
 * today reads the same under any later Node or any other implementation.
 */

export class RecordFormatError extends Error {}

export class RecordWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(sizeHint = 128) {
    this.buf = Buffer.allocUnsafe(sizeHint);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** Unsigned LEB128 of a safe integer. */
  uint(v: number): this {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  fixed(bytes: Uint8Array, length: number): this {
    if (bytes.byteLength !== length) throw new RangeError(`expected ${length} bytes, got ${bytes.byteLength}`);
    this.room(length);
    this.buf.set(bytes, this.pos);
    this.pos += length;
    return this;
  }

  bytes(bytes: Uint8Array): this {
    this.uint(bytes.byteLength);
    return this.fixed(bytes, bytes.byteLength);
  }

  string(text: string): this {
    const length = Buffer.byteLength(text, 'utf8');
    this.uint(length);
    this.room(length);
    this.pos += this.buf.write(text, this.pos, 'utf8');
    return this;
  }

  /** A non-negative bigint below 2^128: a length byte, then the minimal big-endian magnitude. */
  unsigned(v: bigint): this {
    if (v < 0n || v >= 1n << 128n) throw new RangeError('amount out of range');
    if (v <= 0xffff_ffffn) {
      let n = Number(v);
      const length = n === 0 ? 0 : n < 0x100 ? 1 : n < 0x1_0000 ? 2 : n < 0x100_0000 ? 3 : 4;
      this.room(1 + length);
      this.buf[this.pos++] = length;
      for (let i = length - 1; i >= 0; i--) {
        this.buf[this.pos + i] = n & 0xff;
        n >>>= 8;
      }
      this.pos += length;
      return this;
    }
    const hex = v.toString(16);
    const padded = hex.length % 2 === 0 ? hex : `0${hex}`;
    const length = padded.length / 2;
    this.room(1 + length);
    this.buf[this.pos++] = length;
    this.pos += this.buf.write(padded, this.pos, 'hex');
    return this;
  }

  /** A signed bigint in [-2^127, 2^127), zigzag-mapped onto `unsigned`. */
  signed(v: bigint): this {
    return this.unsigned(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }

  /** Fixed 8 bytes, for counters that use the whole u64 range. */
  u64(v: bigint): this {
    this.room(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  list<T>(items: readonly T[], each: (w: this, item: T) => void): this {
    this.uint(items.length);
    for (const item of items) each(this, item);
    return this;
  }

  optional<T>(value: T | null, each: (w: this, value: T) => void): this {
    if (value === null) return this.u8(0);
    this.u8(1);
    each(this, value);
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class RecordReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RecordFormatError(`truncated at byte ${this.pos} (needs ${n} more of ${this.buf.length})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new RecordFormatError(`bad boolean ${v} at byte ${this.pos - 1}`);
    return v === 1;
  }

  uint(): number {
    let out = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      out += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(out)) break;
        return out;
      }
      scale *= 0x80;
    }
    throw new RecordFormatError(`bad integer ending at byte ${this.pos}`);
  }

  /** A copy, so state never aliases the database's buffers. */
  fixed(length: number): Uint8Array {
    this.need(length);
    const out = new Uint8Array(length);
    out.set(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    return out;
  }

  bytes(max: number): Uint8Array {
    const length = this.uint();
    if (length > max) throw new RecordFormatError(`byte field of ${length} bytes exceeds ${max}`);
    return this.fixed(length);
  }

  string(maxBytes: number): string {
    const length = this.uint();
    if (length > maxBytes) throw new RecordFormatError(`string of ${length} bytes exceeds ${maxBytes}`);
    this.need(length);
    const out = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  unsigned(): bigint {
    const length = this.u8();
    if (length > 16) throw new RecordFormatError(`amount of ${length} bytes`);
    this.need(length);
    if (length <= 4) {
      let n = 0;
      for (let i = 0; i < length; i++) n = n * 0x100 + this.buf[this.pos + i];
      this.pos += length;
      return BigInt(n);
    }
    const out = BigInt(`0x${this.buf.toString('hex', this.pos, this.pos + length)}`);
    this.pos += length;
    return out;
  }

  signed(): bigint {
    const z = this.unsigned();
    return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
  }

  u64(): bigint {
    this.need(8);
    const out = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return out;
  }

  list<T>(max: number, each: (r: this) => T): T[] {
    const length = this.uint();
    if (length > max) throw new RecordFormatError(`list of ${length} items exceeds ${max}`);
    const out: T[] = [];
    for (let i = 0; i < length; i++) out.push(each(this));
    return out;
  }

  optional<T>(each: (r: this) => T): T | null {
    return this.bool() ? each(this) : null;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new RecordFormatError(`${this.buf.length - this.pos} unexpected trailing bytes`);
  }
}
