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

export function signMutationsUpdate(identity: Identity, unsigned: Omit<MutationsUpdate, 'signature' | 'node'>): MutationsUpdate {
  const body = { ...unsigned, node: identity.publicKey };
  return { ...body, signature: identity.sign(SigningDomain.MutationsUpdate, mutationsUpdateDigest(body)) };
}

export function verifyMutationsUpdate(update: MutationsUpdate): boolean {
  return verifySignature(SigningDomain.MutationsUpdate, update.node, mutationsUpdateDigest(update), update.signature);
}
