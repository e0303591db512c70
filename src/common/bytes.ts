/** Byte helpers shared by every layer: encodings for files and logs, comparisons, u128 splits. */

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const base64UrlPattern = /^[A-Za-z0-9_-]*$/;

/** Decodes strict base64url (no padding); returns null on any other character or a bad length. */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!base64UrlPattern.test(text) || text.length % 4 === 1) return null;
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.byteLength;
  if (n !== b.byteLength) return false;
  // Keys, hashes and signatures (≤ 64 bytes) are compared on hot paths: a loop beats wrapping
  // both sides in Buffers; longer inputs go to the native comparison.
  if (n <= 64) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.from(a.buffer, a.byteOffset, n).equals(Buffer.from(b.buffer, b.byteOffset, n));
}

/** Lexicographic byte order: -1, 0 or 1. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).compare(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export const U64_MAX = (1n << 64n) - 1n;
export const U128_MAX = (1n << 128n) - 1n;
export const I128_MIN = -(1n << 127n);
export const I128_MAX = (1n << 127n) - 1n;

/** Splits a u128 into the two u64 halves the wire schemas carry (high word first). */
export function splitU128(value: bigint): { hi: bigint; lo: bigint } {
  if (value < 0n || value > U128_MAX) throw new RangeError(`u128 out of range: ${value}`);
  return { hi: value >> 64n, lo: value & U64_MAX };
}

export function joinU128(hi: bigint, lo: bigint): bigint {
  return (BigInt.asUintN(64, hi) << 64n) | BigInt.asUintN(64, lo);
}

/** Parses a decimal string as used in every file format for 64- and 128-bit values. */
export function parseDecimal(text: string, min: bigint, max: bigint): bigint | null {
  if (!/^-?(0|[1-9][0-9]*)$/.test(text) || text.length > 41) return null;
  const value = BigInt(text);
  return value < min || value > max ? null : value;
}
