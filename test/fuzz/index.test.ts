import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import {
  decodeClientMessage,
  decodePeerMessage,
  decodeServerMessage,
  encodeClientMessage,
  encodePeerMessage,
  encodeServerMessage,
  IndexDecodeError,
} from '../../src/index/codec.js';
import { decodeShardCommand, decodeShardReport, encodeShardCommand, ShardReportBuilder } from '../../src/index/shard-codec.js';
import { checkVerifyBatch, decodeVerifyVerdicts, VerifyBatchBuilder } from '../../src/index/ingest-codec.js';
import { mutationsUpdateDigest, signMutationsUpdate } from '../../src/index/signing.js';
import { FlatTable } from '../../src/wire/flat_table.js';
import type { MutationsUpdate } from '../../src/index/types.js';
import { fuzzDecoder } from './harness.js';

const node = Identity.generate();
const key = (): Uint8Array => Identity.generate().publicKey;
const update: MutationsUpdate = signMutationsUpdate(node, {
  mutations: [
    { kind: 'update', friend: key(), currency: 'USD', recvCapacity: (1n << 100n) + 7n, rate: { mul: 12345, add: 6 } },
    { kind: 'remove', friend: key(), currency: 'EUR' },
  ],
  timeHash: randomBytes(32),
  sessionEpoch: 1_700_000_000_000n,
  sessionId: randomBytes(16),
  counter: 42n,
  randNonce: randomBytes(16),
});
const request = {
  requestId: randomBytes(16),
  currency: 'USD',
  amount: 1000n,
  source: key(),
  destination: key(),
  exclude: { from: key(), to: key() },
  maxHops: 5,
  maxFee: 20n,
  maxRoutes: 3,
};

fuzzDecoder(t, {
  name: 'index client message',
  decode: decodeClientMessage,
  encode: encodeClientMessage,
  samples: [
    encodeClientMessage({ kind: 'update', update }),
    encodeClientMessage({ kind: 'update', update: { ...update, mutations: [] } }),
    encodeClientMessage({ kind: 'routes', request }),
    encodeClientMessage({ kind: 'routes', request: { ...request, exclude: null, maxFee: null } }),
  ],
});

fuzzDecoder(t, {
  name: 'index server message',
  decode: decodeServerMessage,
  encode: encodeServerMessage,
  samples: [
    encodeServerMessage({ kind: 'time', hash: randomBytes(32) }),
    encodeServerMessage({
      kind: 'routes',
      response: {
        requestId: randomBytes(16),
        routes: [{ nodes: [key(), key(), key()], capacity: 99n, amount: 50n, fee: 3n, forwarderRates: [{ mul: 1, add: 2 }] }],
        complete: true,
        truncated: false,
      },
    }),
  ],
});

fuzzDecoder(t, {
  name: 'index peer message',
  decode: decodePeerMessage,
  encode: encodePeerMessage,
  samples: [
    encodePeerMessage({ kind: 'time', hash: randomBytes(32) }),
    encodePeerMessage({ kind: 'forward', forward: { update, chain: [[randomBytes(32)], [randomBytes(32), randomBytes(32)]] } }),
  ],
});

// Client shard <-> main thread messages: read through the bounds-checked reader, never throw.
const shardReport = (() => {
  const builder = new ShardReportBuilder();
  builder.markListening();
  builder.addOpened(key(), 7);
  builder.addUpdate(key(), encodeClientMessage({ kind: 'update', update }));
  builder.addUpdate(key(), new Uint8Array([1, 2, 3]));
  builder.addClosed(key(), 3);
  return builder.finish().slice();
})();

fuzzDecoder(t, {
  name: 'index shard report',
  decode: decodeShardReport,
  samples: [shardReport, new ShardReportBuilder().finish().slice()],
});

fuzzDecoder(t, {
  name: 'index shard command',
  decode: decodeShardCommand,
  samples: [
    encodeShardCommand({ timeHash: randomBytes(32), close: [], stop: false }).slice(),
    encodeShardCommand({ timeHash: null, close: [1, 2, 0xffffffff], stop: true }).slice(),
  ],
});

t.test('shard messages survive a round trip', async (t) => {
  const decoded = decodeShardReport(shardReport);
  if (!decoded.ok) throw decoded.error;
  t.equal(decoded.value.listening, true);
  t.same(decoded.value.opened.map((c) => c.conn), [7]);
  t.same(decoded.value.closed.map((c) => c.conn), [3]);
  t.same(decoded.value.updates[1].frame, new Uint8Array([1, 2, 3]));
  const hash = randomBytes(32);
  t.same(decodeShardCommand(encodeShardCommand({ timeHash: hash, close: [5, 0xffffffff], stop: true })), { ok: true, value: { timeHash: hash, close: [5, 0xffffffff], stop: true } });
});

// Signature-worker messages (schemas/ingest.fbs): the worker reads batches through the
// bounds-checked reader and must answer garbage with verdicts, never throw.
const batchSample = (() => {
  const builder = new VerifyBatchBuilder();
  builder.add(update.node, update.signature, mutationsUpdateDigest(update));
  return builder.finish().slice();
})();

fuzzDecoder(t, {
  name: 'index verify batch (worker side)',
  // Whatever the batch, the answer is a readable VerifyVerdicts (possibly empty).
  decode: (bytes: Uint8Array) => {
    const answer = checkVerifyBatch(bytes);
    const verdicts = FlatTable.root(answer).byteVector(0);
    return verdicts === null ? { ok: false as const, error: new IndexDecodeError('verdicts unreadable') } : { ok: true as const, value: verdicts.byteLength };
  },
  samples: [batchSample],
  // Each readable item costs an Ed25519 check; fewer buffers keep this test quick.
  runs: 20_000,
});

fuzzDecoder(t, {
  name: 'index verify verdicts',
  decode: (bytes: Uint8Array) => {
    const verdicts = decodeVerifyVerdicts(bytes, 1);
    return verdicts === null ? { ok: false as const, error: new IndexDecodeError('not one verdict') } : { ok: true as const, value: [...verdicts] };
  },
  samples: [checkVerifyBatch(batchSample)],
});
