import { MAX_CURRENCY_BYTES, MAX_MUTATIONS_PER_UPDATE } from './constants.js';
import type { Rate } from '../common/rate.js';
import { randomBytes } from '../crypto/primitives.js';
import type { IndexMutation, MutationsUpdate } from './types.js';
import { u16 } from '../wire/flat_table.js';

/**
 * The ingest hot path's reader of a MutationsUpdate table (schemas/index.fbs), straight from
 * the bytes of a buffer that src/wire/verify.ts has already passed: the verifier guarantees
 * every offset, vtable, vector, string and scalar reachable from the root lies inside the
 * buffer, so this reads without building a table object, a view or a BigInt per field. It
 * applies the checks the schema cannot express (required fields, kinds, currency names, the
 * mutation count) and returns null on any of them. test/fuzz/index-update.test.ts holds it to
 * the generated accessors plus the same checks, buffer for buffer.
 *
 * Byte fields of the result (keys, hashes, ids, signature) are views of `b`, except friend keys
 * (shared copies, see friendKey): the caller owns `b` for as long as the result lives (see
 * decodeClientMessage's copy option).
 */

const TWO_POW_32 = 0x100000000;
/** Below 2^21 in the high word, a u64 is an exact double: one BigInt conversion. */
const SAFE_HIGH_WORD = 0x200000;

/** Unchecked, unlike flat_table's u32: every read here lies inside a buffer the verifier passed. */
function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
}

function u64(b: Uint8Array, at: number): bigint {
  const hi = u32(b, at + 4);
  const lo = u32(b, at);
  if (hi < SAFE_HIGH_WORD) return BigInt(hi * TWO_POW_32 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** U128 struct {hi: ulong, lo: ulong}, each little-endian; nearly every amount is below 2^53. */
function u128(b: Uint8Array, at: number): bigint {
  const hiHi = u32(b, at + 4);
  const hiLo = u32(b, at);
  const loHi = u32(b, at + 12);
  const loLo = u32(b, at + 8);
  if ((hiHi | hiLo) === 0 && loHi < SAFE_HIGH_WORD) return BigInt(loHi * TWO_POW_32 + loLo);
  const hi = (BigInt(hiHi) << 32n) | BigInt(hiLo);
  const lo = (BigInt(loHi) << 32n) | BigInt(loLo);
  return (hi << 64n) | lo;
}

/**
 * The table being read (module state: reading is synchronous and allocates nothing per table).
 * The verifier has checked the vtable and every field's bounds and alignment.
 */
let vt = 0;
let vsize = 0;
let tpos = 0;

function openTable(b: Uint8Array, t: number): void {
  tpos = t;
  vt = t - (b[t] | (b[t + 1] << 8) | (b[t + 2] << 16) | (b[t + 3] << 24));
  vsize = u16(b, vt);
}

/** Absolute position of field `index`, 0 when absent. */
function field(b: Uint8Array, index: number): number {
  const slot = 4 + 2 * index;
  if (slot + 2 > vsize) return 0;
  const offset = u16(b, vt + slot);
  return offset === 0 ? 0 : tpos + offset;
}

/** Target of the uoffset field `index`, 0 when absent. */
function target(b: Uint8Array, index: number): number {
  const at = field(b, index);
  return at === 0 ? 0 : at + u32(b, at);
}

/**
 * Currency names of recent updates, so a busy ingest path does not rebuild the same few
 * strings. Keyed by a hash of the bytes; a hit is compared byte for byte, so a collision only
 * costs a miss. Bounded: cleared when full.
 */
const CURRENCY_CACHE_MAX = 4096;
const currencyNames = new Map<number, string>();

/** A currency name of 1-16 printable ASCII bytes at string position `s`, or null. */
export function internCurrency(b: Uint8Array, s: number): string | null {
  const length = u32(b, s);
  if (length < 1 || length > MAX_CURRENCY_BYTES) return null;
  const start = s + 4;
  let hash = length;
  for (let i = start; i < start + length; i++) {
    const c = b[i];
    if (c < 0x21 || c > 0x7e) return null;
    hash = (Math.imul(hash, 31) + c) | 0;
  }
  const known = currencyNames.get(hash);
  if (known !== undefined && known.length === length) {
    let same = true;
    for (let i = 0; i < length && same; i++) same = known.charCodeAt(i) === b[start + i];
    if (same) return known;
  }
  let name = '';
  for (let i = start; i < start + length; i++) name += String.fromCharCode(b[i]);
  if (currencyNames.size >= CURRENCY_CACHE_MAX) currencyNames.clear();
  currencyNames.set(hash, name);
  return name;
}

/**
 * Friend keys of recent updates: a node reports the same few friends again and again, so the
 * reader hands out one long-lived copy per key instead of a new view per mutation (a queued
 * update then holds ten fewer young objects for the collector to copy). Direct-mapped under a
 * random per-process seed, a slot replaced on a miss: senders choose keys, and the worst they
 * can do is miss every time, which costs one copy of 32 bytes per mutation. Nothing may modify
 * a returned key (nothing does: every consumer copies or compares).
 */
const FRIEND_SLOTS = 4096;
const friendSlots: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(FRIEND_SLOTS).fill(undefined);
const friendSeed = (() => {
  const bytes = randomBytes(36);
  const words = new Int32Array(9);
  for (let i = 0; i < 9; i++) words[i] = bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24);
  return words;
})();

function friendKey(b: Uint8Array, at: number): Uint8Array {
  const seed = friendSeed;
  let h = seed[8];
  for (let w = 0; w < 8; w++) {
    const p = at + 4 * w;
    h = Math.imul(h ^ ((b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) ^ seed[w]), 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  const slot = (h ^ (h >>> 16)) & (FRIEND_SLOTS - 1);
  const known = friendSlots[slot];
  if (known !== undefined) {
    let same = true;
    for (let i = 0; i < 32 && same; i++) same = known[i] === b[at + i];
    if (same) return known;
  }
  const key = b.slice(at, at + 32);
  friendSlots[slot] = key;
  return key;
}

/**
 * Rates of recent mutations, frozen and shared: nodes charge a few distinct rates, so a queued
 * update holds no rate object of its own. Direct-mapped by a hash of the two words, replaced
 * on a miss (a sender choosing rates can only make every lookup miss).
 */
const RATE_SLOTS = 1024;
const rateSlots: (Rate | undefined)[] = new Array<Rate | undefined>(RATE_SLOTS).fill(undefined);

function sharedRate(mul: number, add: number): Rate {
  const slot = (Math.imul(mul ^ Math.imul(add, 0x85ebca6b), 0x9e3779b1) >>> 22) & (RATE_SLOTS - 1);
  const known = rateSlots[slot];
  if (known !== undefined && known.mul === mul && known.add === add) return known;
  const rate: Rate = Object.freeze({ mul, add });
  rateSlots[slot] = rate;
  return rate;
}

/** Struct field `index` of `size` bytes as a view, or null when absent. */
function structView(b: Uint8Array, index: number, size: number): Uint8Array | null {
  const at = field(b, index);
  return at === 0 ? null : b.subarray(at, at + size);
}

function readMutation(b: Uint8Array, t: number): IndexMutation | null {
  openTable(b, t);
  const kindAt = field(b, 0);
  const kind = kindAt === 0 ? 0 : b[kindAt];
  const friendAt = field(b, 1);
  const currencyAt = target(b, 2);
  if (friendAt === 0 || currencyAt === 0) return null;
  let capacityAt = 0;
  let rateAt = 0;
  if (kind === 0) {
    capacityAt = field(b, 3);
    rateAt = field(b, 4);
    if (capacityAt === 0 || rateAt === 0) return null;
  } else if (kind !== 1) return null;
  const currency = internCurrency(b, currencyAt);
  if (currency === null) return null;
  const friend = friendKey(b, friendAt);
  if (kind === 1) return { kind: 'remove', friend, currency };
  return { kind: 'update', friend, currency, recvCapacity: u128(b, capacityAt), rate: sharedRate(u32(b, rateAt), u32(b, rateAt + 4)) };
}

/**
 * The MutationsUpdate table at `t` of a verified buffer, or null when it is not a valid update.
 * One mutation more than the limit is read, so the core counts "too many" as its own reason.
 */
export function readVerifiedMutationsUpdate(b: Uint8Array, t: number): MutationsUpdate | null {
  openTable(b, t);
  const node = structView(b, 0, 32);
  const timeHash = structView(b, 2, 32);
  const sessionId = structView(b, 4, 16);
  const randNonce = structView(b, 6, 16);
  const signature = structView(b, 7, 64);
  const epochAt = field(b, 3);
  const counterAt = field(b, 5);
  const list = target(b, 1);
  if (node === null || timeHash === null || sessionId === null || randNonce === null || signature === null || list === 0) return null;
  const sessionEpoch = epochAt === 0 ? 0n : u64(b, epochAt);
  const counter = counterAt === 0 ? 0n : u64(b, counterAt);
  const count = u32(b, list);
  if (count > MAX_MUTATIONS_PER_UPDATE + 1) return null;
  const mutations: IndexMutation[] = new Array<IndexMutation>(count);
  for (let i = 0; i < count; i++) {
    const at = list + 4 + 4 * i;
    const m = readMutation(b, at + u32(b, at));
    if (m === null) return null;
    mutations[i] = m;
  }
  return { node, mutations, timeHash, sessionEpoch, sessionId, counter, randNonce, signature };
}
