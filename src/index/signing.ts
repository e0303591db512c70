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

/**
 * The same bytes as canonicalDigest, written straight into one buffer of the exact size (the
 * ingest path computes a digest per update). Returns null for anything outside its fast path
 * (a non-ASCII currency, a value out of range, a wrong key size): the general writer then
 * produces the bytes or the error.
 */
function fastDigest(update: Omit<MutationsUpdate, 'signature'>): Uint8Array | null {
  const mutations = update.mutations;
  if (update.node.byteLength !== 32 || update.timeHash.byteLength !== 32 || update.sessionId.byteLength !== 16 || update.randNonce.byteLength !== 16) return null;
  let size = 32 + 4 + 32 + 8 + 16 + 8 + 16;
  for (const m of mutations) {
    if (m.friend.byteLength !== 32 || m.currency.length > 64) return null;
    size += 1 + 32 + 4 + m.currency.length + (m.kind === 'update' ? 24 : 0);
  }
  const out = new Uint8Array(size);
  let at = 0;
  const u32 = (v: number) => {
    out[at] = v >>> 24;
    out[at + 1] = v >>> 16;
    out[at + 2] = v >>> 8;
    out[at + 3] = v;
    at += 4;
  };
  const u64 = (v: bigint): boolean => {
    if (v < 0n || v > 0xffffffffffffffffn) return false;
    if (v < 0x20000000000000n) {
      const n = Number(v);
      u32(Math.floor(n / TWO_POW_32));
      u32(n >>> 0);
    } else {
      u32(Number(v >> 32n));
      u32(Number(v & 0xffffffffn));
    }
    return true;
  };
  const fixed = (bytes: Uint8Array) => {
    out.set(bytes, at);
    at += bytes.byteLength;
  };
  fixed(update.node);
  u32(mutations.length);
  for (const m of mutations) {
    out[at++] = m.kind === 'update' ? 0 : 1;
    fixed(m.friend);
    const currency = m.currency;
    u32(currency.length);
    for (let i = 0; i < currency.length; i++) {
      const c = currency.charCodeAt(i);
      if (c > 0x7f) return null;
      out[at++] = c;
    }
    if (m.kind === 'update') {
      const capacity = m.recvCapacity;
      if (capacity < 0n || capacity >= 1n << 128n) return null;
      if (capacity < 0x20000000000000n) {
        u32(0);
        u32(0);
        if (!u64(capacity)) return null;
      } else if (!u64(capacity >> 64n) || !u64(capacity & 0xffffffffffffffffn)) return null;
      const { mul, add } = m.rate;
      if (!Number.isInteger(mul) || !Number.isInteger(add) || mul < 0 || add < 0 || mul >= TWO_POW_32 || add >= TWO_POW_32) return null;
      u32(mul);
      u32(add);
    }
  }
  fixed(update.timeHash);
  if (!u64(update.sessionEpoch)) return null;
  fixed(update.sessionId);
  if (!u64(update.counter)) return null;
  fixed(update.randNonce);
  return at === size ? out : null;
}

export function signMutationsUpdate(identity: Identity, unsigned: Omit<MutationsUpdate, 'signature' | 'node'>): MutationsUpdate {
  const body = { ...unsigned, node: identity.publicKey };
  return { ...body, signature: identity.sign(SigningDomain.MutationsUpdate, mutationsUpdateDigest(body)) };
}

export function verifyMutationsUpdate(update: MutationsUpdate): boolean {
  return verifySignature(SigningDomain.MutationsUpdate, update.node, mutationsUpdateDigest(update), update.signature);
}
