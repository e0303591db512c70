import * as flatbuffers from 'flatbuffers';
import t from 'tap';
import { encodeClientMessage } from '../../src/index/codec.js';
import { verifiedClientUpdateAt } from '../../src/index/update-verifier.js';
import { verifyBuffer } from '../../src/wire/verify.js';

/** A ClientMessage whose update lists one IndexMutation table `count` times (shared offsets). */
function sharedMutations(count: number): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const currency = b.createString('USD');
  b.startObject(5);
  b.addFieldOffset(2, currency, 0);
  const mutation = b.endObject();
  b.startVector(4, count, 4);
  for (let i = 0; i < count; i++) b.addOffset(mutation);
  const list = b.endVector();
  b.startObject(8);
  b.addFieldOffset(1, list, 0);
  const update = b.endObject();
  b.startObject(2);
  b.addFieldOffset(1, update, 0);
  b.addFieldInt8(0, 1, 0);
  b.finish(b.endObject());
  return b.asUint8Array();
}

t.test('compiled update verifier keeps the schema verifier object budget for shared subtrees', async (t) => {
  const small = sharedMutations(2);
  t.equal(verifyBuffer(small, 'offset.index.ClientMessage'), null);
  t.ok(verifiedClientUpdateAt(small) > 0, 'a buffer within the budget passes');
  const flood = sharedMutations(400);
  t.match(verifyBuffer(flood, 'offset.index.ClientMessage')?.message ?? '', /too many objects/);
  t.equal(verifiedClientUpdateAt(flood), -1, 'the same table reached 400 times is refused');
});

t.test('compiled update verifier leaves other client bodies to the schema verifier', async (t) => {
  const request = encodeClientMessage({
    kind: 'routes',
    request: { requestId: new Uint8Array(16), currency: 'USD', amount: 5n, source: new Uint8Array(32).fill(1), destination: new Uint8Array(32).fill(2), exclude: null, maxHops: 3, maxFee: null },
  });
  t.equal(verifyBuffer(request, 'offset.index.ClientMessage'), null);
  t.equal(verifiedClientUpdateAt(request), -1);
});
