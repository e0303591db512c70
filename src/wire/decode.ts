/**
 * Building blocks for the per-area codecs: the DecodeResult shape, a verify-then-read wrapper,
 * zero-copy readers for the common.fbs structs and validated currency names, and builder helpers
 * that write the fixed-size structs with one bulk copy instead of flatc's per-byte calls.
 *
 * Readers take a ByteBuffer and the absolute position of the struct, as flatc's accessors know it
 * (`fieldPos(table, slot)` finds it for a table field). Byte views returned here alias the
 * inbound buffer: copy them (`copyBytes`) before keeping them past that buffer's lifetime.
 */
import * as flatbuffers from 'flatbuffers';
import { assert, errorMessage, OffsetError } from '../common/errors.js';
import { I128_MAX, I128_MIN, U128_MAX, U64_MAX } from '../common/bytes.js';
import type { Rate } from '../common/rate.js';
import { WireError } from './errors.js';
import { verifyBuffer, type VerifyLimits } from './verify.js';
import type { TableName } from './generated/layouts.js';

export { WireError };

export type DecodeResult<T, E extends OffsetError = WireError> = { ok: true; value: T } | { ok: false; error: E };

export function decoded<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function malformed(path: string, problem: string): { ok: false; error: WireError } {
  return { ok: false, error: new WireError(path, problem) };
}

/** Prefix of the problem text when a reader threw after verification: always a bug, never input. */
export const READER_THREW = 'reader threw after verification';

/**
 * Verifies `bytes` as `rootTable`, then runs `read` on the root position. `read` makes its
 * semantic checks (enum values, currency names, lengths) by throwing a WireError (see `unwrap`
 * and `check`), which becomes the failed result. Any other throw is turned into a WireError
 * too, so no peer input can crash a server, but it is marked as a bug and fails the fuzz harness.
 */
export function decodeRoot<T>(
  bytes: Uint8Array,
  rootTable: TableName,
  read: (bb: flatbuffers.ByteBuffer, rootPos: number) => T,
  limits?: VerifyLimits,
): DecodeResult<T> {
  const error = verifyBuffer(bytes, rootTable, limits);
  if (error !== null) return { ok: false, error };
  const bb = new flatbuffers.ByteBuffer(bytes);
  try {
    return decoded(read(bb, bb.readUint32(0)));
  } catch (err) {
    if (err instanceof WireError) return { ok: false, error: err };
    return malformed(rootTable, `${READER_THREW}: ${errorMessage(err)}`);
  }
}

/** The value of an ok result; throws the WireError of a failed one (for use inside decodeRoot). */
export function unwrap<T>(result: DecodeResult<T>): T {
  if (result.ok) return result.value;
  throw result.error;
}

/** Throws a WireError for `path` unless `condition` holds (for use inside decodeRoot). */
export function check(condition: boolean, path: string, problem: string): asserts condition {
  if (!condition) throw new WireError(path, problem);
}

/** Absolute position of field `slot` (vtable offset, see layouts.ts) of the table at `tablePos`; 0 if absent. */
export function fieldPos(bb: flatbuffers.ByteBuffer, tablePos: number, slot: number): number {
  const o = bb.__offset(tablePos, slot);
  return o === 0 ? 0 : tablePos + o;
}

/** Absolute position of the object a uoffset field points at; 0 if the field is absent. */
export function refPos(bb: flatbuffers.ByteBuffer, tablePos: number, slot: number): number {
  const p = fieldPos(bb, tablePos, slot);
  return p === 0 ? 0 : p + bb.readUint32(p);
}

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const HASH_BYTES = 32;
export const UID_BYTES = 16;
export const CURRENCY_BYTES_MAX = 16;

function view(bb: flatbuffers.ByteBuffer, pos: number, size: number): Uint8Array {
  return bb.bytes().subarray(pos, pos + size);
}

export const readPublicKey = (bb: flatbuffers.ByteBuffer, pos: number): Uint8Array => view(bb, pos, PUBLIC_KEY_BYTES);
export const readSignature = (bb: flatbuffers.ByteBuffer, pos: number): Uint8Array => view(bb, pos, SIGNATURE_BYTES);
export const readHash32 = (bb: flatbuffers.ByteBuffer, pos: number): Uint8Array => view(bb, pos, HASH_BYTES);
export const readUid = (bb: flatbuffers.ByteBuffer, pos: number): Uint8Array => view(bb, pos, UID_BYTES);

/** A copy that does not keep the inbound buffer alive. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function readU128(bb: flatbuffers.ByteBuffer, pos: number): bigint {
  return (bb.readUint64(pos) << 64n) | bb.readUint64(pos + 8);
}

export function readI128(bb: flatbuffers.ByteBuffer, pos: number): bigint {
  return BigInt.asIntN(128, readU128(bb, pos));
}

export function readRate(bb: flatbuffers.ByteBuffer, pos: number): Rate {
  return { mul: bb.readUint32(pos), add: bb.readUint32(pos + 4) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Raw bytes of the string at absolute position `strPos` (the length prefix). */
export function stringBytes(bb: flatbuffers.ByteBuffer, strPos: number): Uint8Array {
  return view(bb, strPos + 4, bb.readUint32(strPos));
}

/**
 * A string field as strict UTF-8 of at most `bytesMax` bytes. Absent fields yield null when
 * `optional`, otherwise an error; `path` names the field in the error.
 */
export function readText(
  bb: flatbuffers.ByteBuffer,
  tablePos: number,
  slot: number,
  path: string,
  options: { bytesMax: number; bytesMin?: number; optional?: boolean },
): DecodeResult<string | null> {
  const p = refPos(bb, tablePos, slot);
  if (p === 0) return options.optional ? decoded(null) : malformed(path, 'missing');
  const raw = stringBytes(bb, p);
  if (raw.byteLength > options.bytesMax) return malformed(path, `${raw.byteLength} bytes, more than ${options.bytesMax}`);
  if (raw.byteLength < (options.bytesMin ?? 0)) return malformed(path, `${raw.byteLength} bytes, fewer than ${options.bytesMin}`);
  try {
    return decoded(utf8.decode(raw));
  } catch {
    return malformed(path, 'not valid UTF-8');
  }
}

/** Why `name` is not a valid currency name (1..16 bytes of UTF-8, no control characters), or null. */
export function currencyProblem(name: string): string | null {
  const length = Buffer.byteLength(name, 'utf8');
  if (length < 1 || length > CURRENCY_BYTES_MAX) return `currency name of ${length} bytes (must be 1..${CURRENCY_BYTES_MAX})`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'currency name contains a control character';
  if (Buffer.from(name, 'utf8').toString('utf8') !== name) return 'currency name is not well-formed Unicode';
  return null;
}

/** A required currency-name string field. */
export function readCurrency(bb: flatbuffers.ByteBuffer, tablePos: number, slot: number, path: string): DecodeResult<string> {
  const text = readText(bb, tablePos, slot, path, { bytesMax: CURRENCY_BYTES_MAX, bytesMin: 1 });
  if (!text.ok) return text;
  const name = text.value as string;
  const problem = currencyProblem(name);
  return problem === null ? decoded(name) : malformed(path, problem);
}

/** Whether `value` is one of the declared values of a (non-bit_flags) enum given as its value list. */
export function enumChecker(values: readonly { readonly value: string }[]): (value: number) => boolean {
  const allowed = new Set(values.map((v) => Number(v.value)));
  return (value) => allowed.has(value);
}

// ---- builders -------------------------------------------------------------------------------

interface BuilderInternals {
  space: number;
}

/**
 * Writes `bytes.length` bytes as an inline struct (alignment 1) and returns its offset, ready
 * for the generated `addX(builder, offset)` right after. One bulk copy instead of one call per byte.
 */
export function writeFixedBytes(builder: flatbuffers.Builder, bytes: Uint8Array, size: number): flatbuffers.Offset {
  // The message is built only on failure: these writers run for every key, hash and amount.
  if (bytes.byteLength !== size) assert(false, `expected ${size} bytes, got ${bytes.byteLength}`);
  builder.prep(1, size);
  // The runtime keeps its write cursor private; moving it directly is what its own writeInt8
  // does one byte at a time (pinned by a test against the generated createPublicKey).
  const internals = builder as unknown as BuilderInternals;
  internals.space -= size;
  builder.dataBuffer().bytes().set(bytes, internals.space);
  return builder.offset();
}

export const writePublicKey = (builder: flatbuffers.Builder, key: Uint8Array): flatbuffers.Offset => writeFixedBytes(builder, key, PUBLIC_KEY_BYTES);
export const writeSignature = (builder: flatbuffers.Builder, sig: Uint8Array): flatbuffers.Offset => writeFixedBytes(builder, sig, SIGNATURE_BYTES);
export const writeHash32 = (builder: flatbuffers.Builder, hash: Uint8Array): flatbuffers.Offset => writeFixedBytes(builder, hash, HASH_BYTES);
export const writeUid = (builder: flatbuffers.Builder, uid: Uint8Array): flatbuffers.Offset => writeFixedBytes(builder, uid, UID_BYTES);

export function writeU128(builder: flatbuffers.Builder, value: bigint): flatbuffers.Offset {
  if (value < 0n || value > U128_MAX) assert(false, `u128 out of range: ${value}`);
  builder.prep(8, 16);
  builder.writeInt64(value & U64_MAX);
  builder.writeInt64(value >> 64n);
  return builder.offset();
}

export function writeI128(builder: flatbuffers.Builder, value: bigint): flatbuffers.Offset {
  if (value < I128_MIN || value > I128_MAX) assert(false, `i128 out of range: ${value}`);
  return writeU128(builder, BigInt.asUintN(128, value));
}

export function writeRate(builder: flatbuffers.Builder, rate: Rate): flatbuffers.Offset {
  builder.prep(4, 8);
  builder.writeInt32(rate.add | 0);
  builder.writeInt32(rate.mul | 0);
  return builder.offset();
}

/** A currency name string, checked like readCurrency checks it (a bad name is a programmer error here). */
export function createCurrency(builder: flatbuffers.Builder, name: string): flatbuffers.Offset {
  const problem = currencyProblem(name);
  assert(problem === null, problem ?? '');
  return builder.createString(name);
}

/** Finishes `root` and returns a copy of exactly the finished bytes (the builder may be reused). */
export function finishBytes(builder: flatbuffers.Builder, root: flatbuffers.Offset, fileIdentifier?: string): Uint8Array {
  builder.finish(root, fileIdentifier);
  return builder.asUint8Array().slice();
}
