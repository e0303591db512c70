import { CanonicalWriter } from '../crypto/canonical.js';
import { SigningDomain } from '../crypto/domains.js';
import { type Identity, verifySignature } from '../crypto/identity.js';
import type { IndexMutation, MutationsUpdate } from './types.js';

/**
 * The signed digest of a mutations update: every field, the rate included, strings with their
 * length, lists with their count (the original signed neither the rate nor string lengths).
 * The signing domain (index.mutations-update) is added by Identity.sign / verifySignature.
 */
export function mutationsUpdateDigest(update: Omit<MutationsUpdate, 'signature'>): Uint8Array {
  return fastDigest(update) ?? canonicalDigest(update);
}

/** The digest through the general canonical writer (the definition). */
export function canonicalDigest(update: Omit<MutationsUpdate, 'signature'>): Uint8Array {
  const w = new CanonicalWriter(128 + update.mutations.length * 80);
  w.fixed(update.node, 32);
  w.list(update.mutations, (writer, m: IndexMutation) => {
    if (m.kind === 'update') {
      writer.u8(0).fixed(m.friend, 32).string(m.currency).u128(m.recvCapacity).u32(m.rate.mul).u32(m.rate.add);
    } else {
      writer.u8(1).fixed(m.friend, 32).string(m.currency);
    }
  });
  w.fixed(update.timeHash, 32);
  w.u64(update.sessionEpoch);
  w.fixed(update.sessionId, 16);
  w.u64(update.counter);
  w.fixed(update.randNonce, 16);
  return w.finish();
}

const TWO_POW_32 = 0x100000000;
const U64_SAFE = 0x20000000000000n; // 2^53: below it a u64 converts to an exact double
const U64_LIMIT = 0x10000000000000000n;
const U128_LIMIT = 1n << 128n;

/** Longest currency name the fast writer takes (anything longer goes the canonical way). */
const FAST_CURRENCY_MAX = 64;

/** Room writeMutationsUpdateDigest may need for `mutations` mutations. */
export function mutationsUpdateDigestRoom(mutations: number): number {
  return 32 + 4 + 32 + 8 + 16 + 8 + 16 + mutations * (1 + 32 + 4 + FAST_CURRENCY_MAX + 24);
}

function putU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

/** A u64 big-endian at `at`; false when out of range. */
function putU64(out: Uint8Array, at: number, v: bigint): boolean {
  if (v < 0n) return false;
  if (v < U64_SAFE) {
    const n = Number(v);
    putU32(out, at, Math.floor(n / TWO_POW_32));
    putU32(out, at + 4, n >>> 0);
    return true;
  }
  if (v >= U64_LIMIT) return false;
  putU32(out, at, Number(v >> 32n));
  putU32(out, at + 4, Number(v & 0xffffffffn));
  return true;
}

/** Keys, hashes and ids are 16 or 32 bytes: a plain loop beats TypedArray.set's call overhead. */
function putBytes(out: Uint8Array, at: number, bytes: Uint8Array): void {
  const n = bytes.length;
  for (let i = 0; i < n; i++) out[at + i] = bytes[i];
}

/**
 * Writes the same bytes as canonicalDigest into `out` at `at`, which must have room for
 * mutationsUpdateDigestRoom(update.mutations.length) bytes, with no allocation: the ingest
 * path writes each digest straight into the batch for the signature workers. Returns where the
 * digest ends, or -1 when the update is outside the fast path (a wrong key size, a currency
 * that is not ASCII or longer than 64, an amount, counter or rate out of range); what was
 * written is then garbage and the caller falls back to canonicalDigest (which produces the
 * bytes or the error).
 */
export function writeMutationsUpdateDigest(update: Omit<MutationsUpdate, 'signature'>, out: Uint8Array, at: number): number {
  if (update.node.byteLength !== 32 || update.timeHash.byteLength !== 32 || update.sessionId.byteLength !== 16 || update.randNonce.byteLength !== 16) return -1;
  const mutations = update.mutations;
  putBytes(out, at, update.node);
  at += 32;
  putU32(out, at, mutations.length);
  at += 4;
  for (let k = 0; k < mutations.length; k++) {
    const m = mutations[k];
    const friend = m.friend;
    const currency = m.currency;
    if (friend.byteLength !== 32 || currency.length > FAST_CURRENCY_MAX) return -1;
    out[at++] = m.kind === 'update' ? 0 : 1;
    putBytes(out, at, friend);
    at += 32;
    putU32(out, at, currency.length);
    at += 4;
    for (let i = 0; i < currency.length; i++) {
      const c = currency.charCodeAt(i);
      if (c > 0x7f) return -1;
      out[at++] = c;
    }
    if (m.kind === 'update') {
      const capacity = m.recvCapacity;
      if (capacity < U64_SAFE && capacity >= 0n) {
        putU32(out, at, 0);
        putU32(out, at + 4, 0);
        if (!putU64(out, at + 8, capacity)) return -1;
      } else {
        if (capacity < 0n || capacity >= U128_LIMIT) return -1;
        if (!putU64(out, at, capacity >> 64n) || !putU64(out, at + 8, capacity & 0xffffffffffffffffn)) return -1;
      }
      at += 16;
      const { mul, add } = m.rate;
      if (!Number.isInteger(mul) || !Number.isInteger(add) || mul < 0 || add < 0 || mul >= TWO_POW_32 || add >= TWO_POW_32) return -1;
      putU32(out, at, mul);
      putU32(out, at + 4, add);
      at += 8;
    }
  }
  putBytes(out, at, update.timeHash);
  at += 32;
  if (!putU64(out, at, update.sessionEpoch)) return -1;
  at += 8;
  putBytes(out, at, update.sessionId);
  at += 16;
  if (!putU64(out, at, update.counter)) return -1;
  at += 8;
  putBytes(out, at, update.randNonce);
  return at + 16;
}

/** Scratch room for digests; one update at a time, copied out exactly. */
let scratch = new Uint8Array(4096);

function fastDigest(update: Omit<MutationsUpdate, 'signature'>): Uint8Array | null {
  const room = mutationsUpdateDigestRoom(update.mutations.length);
  if (scratch.byteLength < room) scratch = new Uint8Array(room);
  const end = writeMutationsUpdateDigest(update, scratch, 0);
  return end < 0 ? null : scratch.slice(0, end);
}

export function signMutationsUpdate(identity: Identity, unsigned: Omit<MutationsUpdate, 'signature' | 'node'>): MutationsUpdate {
  const body = { ...unsigned, node: identity.publicKey };
  return { ...body, signature: identity.sign(SigningDomain.MutationsUpdate, mutationsUpdateDigest(body)) };
}

export function verifyMutationsUpdate(update: MutationsUpdate): boolean {
  return verifySignature(SigningDomain.MutationsUpdate, update.node, mutationsUpdateDigest(update), update.signature);
}
