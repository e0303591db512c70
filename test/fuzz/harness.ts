/**
 * Shared fuzzing harness for every decoder of inbound bytes. It feeds fully random buffers and
 * mutations of valid samples (bit flips, byte and word overwrites, offset nudges and splices,
 * truncation, extension, cross-sample splices), sometimes as a view into a larger buffer, and
 * asserts the decoder never throws and always returns `{ ok: true }` or `{ ok: false }` with a
 * coded OffsetError. Hangs cannot be asserted without timing; the verifier's depth and object
 * limits are what bound the work, and tap's per-file timeout is the backstop.
 *
 *   fuzzDecoder(t, { name: 'relay client message', decode: decodeClientMessage, samples })
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import type { Test } from 'tap';
import { OffsetError } from '../../src/common/errors.js';

export type AnyDecodeResult<T> = { ok: true; value: T } | { ok: false; error: OffsetError };

export interface FuzzDecoderOptions<T> {
  name: string;
  decode: (bytes: Uint8Array) => AnyDecodeResult<T>;
  /** Valid encodings; each must decode ok. At least one is needed for mutation. */
  samples: readonly Uint8Array[];
  /** Total buffers fed (a fifth fully random, the rest mutated samples). */
  runs?: number;
  /** Default: derived from `name`, so runs are reproducible. */
  seed?: number;
  /** When given, every sample must survive decode -> encode -> decode unchanged. */
  encode?: (value: T) => Uint8Array;
  /**
   * Also hold every fuzzed buffer the decoder accepts to that round trip: proves the decoder
   * admits nothing the encoder cannot write back (needs `encode`; default false).
   */
  reencodeAccepted?: boolean;
  /** Codes a failed decode may carry (default: any ERR_* code). */
  errorCode?: RegExp;
}

/** Problem texts that reveal a decoder bug even though no exception escaped. */
const bugMarkers = [/reader threw/i];

function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

export type Op =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; byte: number }
  | { k: 'word'; pos: number; value: number; aligned: boolean }
  | { k: 'nudge'; pos: number; delta: number }
  | { k: 'splice'; from: number; to: number }
  | { k: 'truncate'; len: number }
  | { k: 'extend'; bytes: Uint8Array }
  | { k: 'cross'; other: number; at: number; from: number };

const interesting = [0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), pos: fc.nat(), byte: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff), fc.integer({ min: 0, max: 255 })) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('word' as const), pos: fc.nat(), value: fc.oneof(fc.constantFrom(...interesting), fc.nat()), aligned: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('nudge' as const), pos: fc.nat(), delta: fc.integer({ min: -32, max: 32 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('splice' as const), from: fc.nat(), to: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('truncate' as const), len: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('extend' as const), bytes: fc.uint8Array({ maxLength: 24 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cross' as const), other: fc.nat(), at: fc.nat(), from: fc.nat() }) },
);

function writeU32(b: Uint8Array, p: number, v: number): void {
  if (p + 4 > b.length) return;
  b[p] = v & 0xff;
  b[p + 1] = (v >>> 8) & 0xff;
  b[p + 2] = (v >>> 16) & 0xff;
  b[p + 3] = (v >>> 24) & 0xff;
}

function readU32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
}

export function mutate(samples: readonly Uint8Array[], index: number, ops: readonly Op[]): Uint8Array {
  let b = samples[index % samples.length].slice();
  for (const op of ops) {
    const n = b.length;
    switch (op.k) {
      case 'flip': if (n) b[op.pos % n] ^= 1 << op.bit; break;
      case 'set': if (n) b[op.pos % n] = op.byte; break;
      case 'word': if (n >= 4) writeU32(b, op.aligned ? (op.pos % (n - 3)) & ~3 : op.pos % (n - 3), op.value); break;
      case 'nudge': if (n >= 4) { const p = (op.pos % (n - 3)) & ~3; writeU32(b, p, readU32(b, p) + op.delta); } break;
      case 'splice': if (n >= 4) { const from = (op.from % (n - 3)) & ~3; const to = (op.to % (n - 3)) & ~3; writeU32(b, to, readU32(b, from)); } break;
      case 'truncate': b = b.subarray(0, n === 0 ? 0 : op.len % n).slice(); break;
      case 'extend': { const c = new Uint8Array(n + op.bytes.length); c.set(b); c.set(op.bytes, n); b = c; break; }
      case 'cross': {
        const other = samples[op.other % samples.length];
        if (!n || !other.length) break;
        const at = op.at % n;
        const tail = other.subarray(op.from % other.length);
        const c = new Uint8Array(at + tail.length);
        c.set(b.subarray(0, at));
        c.set(tail, at);
        b = c;
        break;
      }
    }
  }
  return b;
}

/** The same bytes as a view at an odd offset into a larger buffer, to catch byteOffset mistakes. */
function offsetView(bytes: Uint8Array, shift: number): Uint8Array {
  const backing = new Uint8Array(bytes.length + shift + 3).fill(0xa5);
  backing.set(bytes, shift);
  return backing.subarray(shift, shift + bytes.length);
}

export interface FuzzStats {
  ok: number;
  rejected: number;
}

/** Runs `decode` on `bytes` and throws a descriptive Error if it misbehaves. */
export function checkOne<T>(
  decode: (bytes: Uint8Array) => AnyDecodeResult<T>,
  bytes: Uint8Array,
  errorCode: RegExp,
  stats: FuzzStats,
  encode?: (value: T) => Uint8Array,
): void {
  let result: AnyDecodeResult<T>;
  try {
    result = decode(bytes);
  } catch (err) {
    throw new Error(`decoder threw: ${err instanceof Error ? err.stack : String(err)}`);
  }
  if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean') throw new Error('decoder returned no DecodeResult');
  if (result.ok) {
    stats.ok++;
    if (encode) {
      // Whatever the decoder accepts, the encoder must be able to write back, unchanged.
      let again: AnyDecodeResult<T>;
      try {
        again = decode(encode(result.value));
      } catch (err) {
        throw new Error(`accepted value does not re-encode: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!isDeepStrictEqual(again, result)) throw new Error('accepted value changes when re-encoded');
    }
    return;
  }
  const error = result.error;
  if (!(error instanceof OffsetError)) throw new Error(`decoder failed without an OffsetError: ${String(error)}`);
  if (!errorCode.test(error.code)) throw new Error(`unexpected error code ${error.code}: ${error.message}`);
  if (!error.message) throw new Error('error without a message');
  for (const marker of bugMarkers) if (marker.test(error.message)) throw new Error(`decoder bug surfaced as an error: ${error.message}`);
  stats.rejected++;
}

export function fuzzDecoder<T>(t: Test, options: FuzzDecoderOptions<T>): void {
  const { name, decode, samples, encode } = options;
  const reencode = options.reencodeAccepted ? encode : undefined;
  const runs = options.runs ?? 100_000;
  const seed = options.seed ?? seedOf(name);
  const errorCode = options.errorCode ?? /^ERR_[A-Z0-9_]+$/;

  void t.test(`${name}: every sample decodes${encode ? ' and round-trips' : ''}`, async (t) => {
    t.ok(samples.length > 0, 'has samples');
    for (const [i, sample] of samples.entries()) {
      const first = decode(sample);
      t.ok(first.ok, `sample ${i} decodes${first.ok ? '' : `: ${first.error.message}`}`);
      if (!first.ok) continue;
      const shifted = decode(offsetView(sample, 3));
      t.same(shifted, first, `sample ${i} decodes the same from a view at an offset`);
      if (encode) {
        const again = decode(encode(first.value));
        t.same(again, first, `sample ${i} round-trips`);
      }
    }
  });

  void t.test(`${name}: random and mutated buffers never make the decoder throw`, async (t) => {
    const randomRuns = Math.ceil(runs / 5);
    const stats: FuzzStats = { ok: 0, rejected: 0 };
    const random = fc.record({ bytes: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 64, maxLength: 2048 })), shift: fc.integer({ min: 0, max: 7 }) });
    try {
      fc.assert(
        fc.property(random, ({ bytes, shift }) => {
          checkOne(decode, shift ? offsetView(bytes, shift) : bytes, errorCode, stats, reencode);
        }),
        { numRuns: randomRuns, seed, endOnFailure: true },
      );
    } catch (err) {
      t.fail(`random buffers: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (samples.length > 0) {
      const mutated = fc.record({ sample: fc.nat(), ops: fc.array(opArb, { minLength: 1, maxLength: 6 }), shift: fc.integer({ min: 0, max: 7 }) });
      try {
        fc.assert(
          fc.property(mutated, ({ sample, ops, shift }) => {
            const bytes = mutate(samples, sample, ops);
            checkOne(decode, shift === 0 || shift > 4 ? bytes : offsetView(bytes, shift), errorCode, stats, reencode);
          }),
          { numRuns: runs - randomRuns, seed: seed ^ 0x5bd1e995, endOnFailure: true },
        );
      } catch (err) {
        t.fail(`mutated samples: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    t.ok(stats.ok + stats.rejected >= runs || samples.length === 0, `fed ${stats.ok + stats.rejected} buffers`);
    t.comment(`${name}: ${stats.ok} decoded, ${stats.rejected} rejected`);
  });
}
