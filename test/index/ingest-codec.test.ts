import * as flatbuffers from 'flatbuffers';
import t, { type Test } from 'tap';
import { SigningDomain } from '../../src/crypto/domains.js';
import { Identity, verifySignature } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { checkVerifyBatch, decodeVerifyVerdicts, VerifyBatchBuilder } from '../../src/index/ingest-codec.js';
import { canonicalDigest, mutationsUpdateDigest, signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate } from '../../src/index/types.js';
import { VerifyBatch } from '../../src/wire/generated/offset/ingest/verify-batch.js';
import { verifyBuffer } from '../../src/wire/verify.js';

const signers = Array.from({ length: 3 }, () => Identity.generate());

function signed(who: number, mutations: number, currency = 'USD', counter = 1n): MutationsUpdate {
  const list: IndexMutation[] = Array.from({ length: mutations }, (_, i) => ({
    kind: i % 4 === 3 ? 'remove' : 'update',
    friend: randomBytes(32),
    currency,
    recvCapacity: i % 2 === 0 ? BigInt(i) : (1n << 127n) + BigInt(i),
    rate: { mul: i, add: 7 },
  })) as IndexMutation[];
  return signMutationsUpdate(signers[who], { mutations: list, timeHash: randomBytes(32), sessionEpoch: 5n, sessionId: randomBytes(16), counter, randNonce: randomBytes(16) });
}

/** The batch read back through the schema verifier and the generated accessors. */
function readBack(t: Test, batch: Uint8Array): { node: string; signature: string; digest: string }[] {
  t.equal(verifyBuffer(batch, 'offset.ingest.VerifyBatch'), null, 'the batch passes the schema verifier');
  const root = VerifyBatch.getRootAsVerifyBatch(new flatbuffers.ByteBuffer(batch));
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const out = [];
  for (let i = 0; i < root.itemsLength(); i++) {
    const item = root.items(i)!;
    const node = item.node()!;
    const signature = item.signature()!;
    out.push({
      node: hex(batch.subarray(node.bb_pos, node.bb_pos + 32)),
      signature: hex(batch.subarray(signature.bb_pos, signature.bb_pos + 64)),
      digest: hex(item.digestArray()!),
    });
  }
  return out;
}

function expected(updates: MutationsUpdate[]) {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return updates.map((u) => ({ node: hex(u.node), signature: hex(u.signature), digest: hex(canonicalDigest(u)) }));
}

t.test('a verify batch is a schema-valid VerifyBatch holding each update, its signature and its canonical digest', async (t) => {
  for (const count of [0, 1, 5, 16]) {
    const builder = new VerifyBatchBuilder(16);
    const updates = Array.from({ length: count }, (_, i) => signed(i % 3, i * 3, 'USD', BigInt(i + 1)));
    for (const u of updates) builder.addUpdate(u);
    t.equal(builder.full, count === 16, `full only at itemsMax (${count} items)`);
    const batch = builder.finish();
    t.same(readBack(t, batch), expected(updates), `${count} items read back`);
    t.equal(builder.size, 0, 'the builder starts over after finish');
  }
});

t.test('a verify batch grows past its first buffer without moving what it holds', async (t) => {
  const builder = new VerifyBatchBuilder(8, 256);
  const updates = Array.from({ length: 8 }, (_, i) => signed(i % 3, 40 + i));
  for (const u of updates) builder.addUpdate(u);
  t.same(readBack(t, builder.finish()), expected(updates));
});

t.test('updates outside the fast digest path and precomputed digests go in the same batch', async (t) => {
  const builder = new VerifyBatchBuilder(4);
  // A name the fast writer does not take (not ASCII, longer than 64): the canonical writer does.
  const odd = signed(0, 2, 'é'.repeat(70));
  const plain = signed(1, 3);
  builder.addUpdate(odd);
  builder.add(plain.node, plain.signature, mutationsUpdateDigest(plain));
  t.same(readBack(t, builder.finish()), expected([odd, plain]));
});

t.test('a worker answers one verdict per item: valid signatures 1, forged ones 0', async (t) => {
  const builder = new VerifyBatchBuilder(4);
  const good = signed(0, 10);
  const bad = { ...signed(1, 10), signature: signed(2, 10).signature };
  builder.addUpdate(good);
  builder.addUpdate(bad);
  builder.addUpdate(signed(2, 0));
  const verdicts = decodeVerifyVerdicts(checkVerifyBatch(builder.finish()), 3);
  t.same(verdicts === null ? null : [...verdicts], [1, 0, 1]);
});

t.test('adding past itemsMax is a programmer error', async (t) => {
  const builder = new VerifyBatchBuilder(1);
  builder.addUpdate(signed(0, 1));
  t.throws(() => builder.addUpdate(signed(0, 1)), /verify batch full/);
});

t.test('verdicts match verifySignature for digests of every size, before and after the message buffer grows', async (t) => {
  const updates = [signed(0, 1), signed(1, 120), { ...signed(2, 120), signature: signed(2, 3).signature }, signed(2, 2), signed(0, 300)];
  const builder = new VerifyBatchBuilder(updates.length);
  for (const u of updates) builder.addUpdate(u);
  const verdicts = decodeVerifyVerdicts(checkVerifyBatch(builder.finish()), updates.length);
  const expectedVerdicts = updates.map((u) => (verifySignature(SigningDomain.MutationsUpdate, u.node, mutationsUpdateDigest(u), u.signature) ? 1 : 0));
  t.same(expectedVerdicts, [1, 1, 0, 1, 1], 'the fixture: one forgery');
  t.same(verdicts === null ? null : [...verdicts], expectedVerdicts);
});
