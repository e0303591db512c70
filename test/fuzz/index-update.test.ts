import * as flatbuffers from 'flatbuffers';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeClientMessage, decodePeerMessage, encodeClientMessage, encodePeerMessage } from '../../src/index/codec.js';
import { MAX_CHAIN_LINKS, MAX_CURRENCY_BYTES, MAX_LINK_HASHES, MAX_MUTATIONS_PER_UPDATE } from '../../src/index/constants.js';
import { signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate } from '../../src/index/types.js';
import { ClientBody } from '../../src/wire/generated/offset/index/client-body.js';
import { ClientMessage } from '../../src/wire/generated/offset/index/client-message.js';
import { ForwardMutationsUpdate } from '../../src/wire/generated/offset/index/forward-mutations-update.js';
import { MutationsUpdate as FbMutationsUpdate } from '../../src/wire/generated/offset/index/mutations-update.js';
import { PeerBody } from '../../src/wire/generated/offset/index/peer-body.js';
import { PeerMessage } from '../../src/wire/generated/offset/index/peer-message.js';
import { verifiedClientUpdateAt } from '../../src/index/update-verifier.js';
import { verifyBuffer } from '../../src/wire/verify.js';
import { fuzzDecoder } from './harness.js';

/**
 * The ingest path reads updates straight from verified bytes (src/index/update-reader.ts).
 * Here every fuzzed buffer is also read by a reference: the schema verifier, then the flatc
 * generated accessors with the same content rules written out plainly. The two must agree on
 * accepting the buffer and on every field of what they accept; any disagreement throws, which
 * the harness reports as a decoder bug.
 */

type Ref = { update: MutationsUpdate } | null;

function structBytes(bytes: Uint8Array, s: { bb_pos: number } | null, size: number): Uint8Array | null {
  return s === null ? null : bytes.slice(s.bb_pos, s.bb_pos + size);
}

function validCurrency(name: Uint8Array): boolean {
  if (name.length < 1 || name.length > MAX_CURRENCY_BYTES) return false;
  return name.every((c) => c >= 0x21 && c <= 0x7e);
}

function referenceUpdate(bytes: Uint8Array, u: FbMutationsUpdate): Ref {
  const node = structBytes(bytes, u.node(), 32);
  const timeHash = structBytes(bytes, u.timeHash(), 32);
  const sessionId = structBytes(bytes, u.sessionId(), 16);
  const randNonce = structBytes(bytes, u.randNonce(), 16);
  const signature = structBytes(bytes, u.signature(), 64);
  if (node === null || timeHash === null || sessionId === null || randNonce === null || signature === null) return null;
  // The vector itself must be present (an absent one reads as length 0 through the accessors).
  if (u.bb!.__offset(u.bb_pos, 6) === 0) return null;
  const count = u.mutationsLength();
  if (count > MAX_MUTATIONS_PER_UPDATE + 1) return null;
  const mutations: IndexMutation[] = [];
  for (let i = 0; i < count; i++) {
    const m = u.mutations(i)!;
    const friend = structBytes(bytes, m.friend(), 32);
    const name = m.currency(flatbuffers.Encoding.UTF8_BYTES) as Uint8Array | null;
    if (friend === null || name === null || !validCurrency(name)) return null;
    const currency = String.fromCharCode(...name);
    const kind = m.kind() as number;
    if (kind === 1) {
      mutations.push({ kind: 'remove', friend, currency });
      continue;
    }
    if (kind !== 0) return null;
    const capacity = m.recvCapacity();
    const rate = m.rate();
    if (capacity === null || rate === null) return null;
    mutations.push({ kind: 'update', friend, currency, recvCapacity: (capacity.hi() << 64n) | capacity.lo(), rate: { mul: rate.mul(), add: rate.add() } });
  }
  return { update: { node, mutations, timeHash, sessionEpoch: u.sessionEpoch(), sessionId, counter: u.counter(), randNonce, signature } };
}

/** Byte fields compared by content (the fast reader hands out views, the reference copies). */
function plain(u: MutationsUpdate): unknown {
  const b = (x: Uint8Array) => Buffer.from(x).toString('hex');
  return {
    ...u,
    node: b(u.node),
    timeHash: b(u.timeHash),
    sessionId: b(u.sessionId),
    randNonce: b(u.randNonce),
    signature: b(u.signature),
    mutations: u.mutations.map((m) => ({ ...m, friend: b(m.friend) })),
  };
}

function agree(fast: MutationsUpdate | null, reference: Ref): void {
  if ((fast === null) !== (reference === null)) {
    throw new Error(`fast reader ${fast === null ? 'refused' : 'accepted'} an update the reference ${reference === null ? 'refused' : 'accepted'}`);
  }
  if (fast !== null && !isDeepStrictEqual(plain(fast), plain(reference!.update))) throw new Error('fast reader and reference read different values');
}

function clientDifferential(borrow: boolean) {
  return (bytes: Uint8Array) => {
    const fast = decodeClientMessage(bytes, { borrow });
    const compiledAt = verifiedClientUpdateAt(bytes);
    let reference: Ref = null;
    let isUpdate = false;
    let referenceAt = -1;
    if (verifyBuffer(bytes, 'offset.index.ClientMessage') === null) {
      const root = ClientMessage.getRootAsClientMessage(new flatbuffers.ByteBuffer(bytes));
      isUpdate = root.bodyType() === ClientBody.MutationsUpdate;
      if (isUpdate) {
        const body = root.body(new FbMutationsUpdate()) as FbMutationsUpdate;
        referenceAt = body.bb_pos;
        reference = referenceUpdate(bytes, body);
      }
    }
    // The compiled verifier passes exactly the update buffers the schema verifier passes.
    if (compiledAt !== referenceAt) throw new Error(`compiled verifier gave ${compiledAt}, schema verifier ${referenceAt}`);
    if (isUpdate || (fast.ok && fast.value.kind === 'update')) {
      agree(fast.ok && fast.value.kind === 'update' ? fast.value.update : null, reference);
    }
    return fast;
  };
}

function referenceChainOk(f: ForwardMutationsUpdate): boolean {
  const links = f.chainLength();
  if (links > MAX_CHAIN_LINKS + 1) return false;
  for (let i = 0; i < links; i++) {
    const link = f.chain(i)!;
    if (link.bb!.__offset(link.bb_pos, 4) === 0 || link.hashesLength() > MAX_LINK_HASHES + 1) return false;
  }
  return true;
}

function peerDifferential(bytes: Uint8Array) {
  const fast = decodePeerMessage(bytes);
  let reference: Ref = null;
  let isForward = false;
  if (verifyBuffer(bytes, 'offset.index.PeerMessage') === null) {
    const root = PeerMessage.getRootAsPeerMessage(new flatbuffers.ByteBuffer(bytes));
    isForward = root.bodyType() === PeerBody.ForwardMutationsUpdate;
    if (isForward) {
      const forward = root.body(new ForwardMutationsUpdate()) as ForwardMutationsUpdate;
      const inner = forward.update();
      reference = inner !== null && referenceChainOk(forward) ? referenceUpdate(bytes, inner) : null;
    }
  }
  if (isForward || (fast.ok && fast.value.kind === 'forward')) {
    agree(fast.ok && fast.value.kind === 'forward' ? fast.value.forward.update : null, reference);
  }
  return fast;
}

const signer = Identity.generate();
const key = (): Uint8Array => Identity.generate().publicKey;
const friends = Array.from({ length: 12 }, key);

function signed(mutations: IndexMutation[], sessionEpoch: bigint, counter: bigint): MutationsUpdate {
  return signMutationsUpdate(signer, { mutations, timeHash: randomBytes(32), sessionEpoch, sessionId: randomBytes(16), counter, randNonce: randomBytes(16) });
}

// Amounts on both sides of every fast-path boundary of the reader (2^53, 2^64, 2^128 - 1).
const amounts = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 100n + 7n, 2n ** 128n - 1n];
const updates: MutationsUpdate[] = [
  signed(
    Array.from({ length: 10 }, (_, i): IndexMutation => ({ kind: 'update', friend: friends[i], currency: i % 3 === 0 ? 'EUR' : 'USD', recvCapacity: amounts[i % amounts.length], rate: { mul: i * 1000, add: 0xffffffff - i } })),
    1_700_000_000_000n,
    42n,
  ),
  signed(
    [
      { kind: 'remove', friend: friends[0], currency: 'X' },
      { kind: 'update', friend: friends[1], currency: '0123456789abcdef', recvCapacity: 5n, rate: { mul: 0, add: 0 } },
    ],
    2n ** 64n - 1n,
    2n ** 53n,
  ),
  signed([], 0n, 0n),
];

fuzzDecoder(t, {
  name: 'index update reader vs reference, copied fields',
  decode: clientDifferential(false),
  samples: updates.map((update) => encodeClientMessage({ kind: 'update', update })),
});

fuzzDecoder(t, {
  name: 'index update reader vs reference, borrowed fields',
  decode: clientDifferential(true),
  samples: updates.map((update) => encodeClientMessage({ kind: 'update', update })),
});

fuzzDecoder(t, {
  name: 'index forwarded update reader vs reference',
  decode: peerDifferential,
  samples: updates.map((update) => encodePeerMessage({ kind: 'forward', forward: { update, chain: [[randomBytes(32)], [randomBytes(32), randomBytes(32)]] } })),
});
