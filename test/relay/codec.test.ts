import t from 'tap';
import * as flatbuffers from 'flatbuffers';
import fc from 'fast-check';
import {
  CrossBatchWriter, CrossKind, Reason, TUNNEL_DATA_OVERHEAD_BYTES, decodeClientMessage, decodeCrossBatch, decodeRelayMessage,
  decodeTunnelFrame, decodeWorkerMessage, encodeClientMessage, encodeRelayMessage, encodeTunnelClose, encodeTunnelCredit,
  encodeTunnelData, encodeWorkerMessage, type ClientMsg, type RelayMsg, type WorkerMsg,
} from '../../src/relay/codec.js';
import { TunnelFrame } from '../../src/wire/generated/offset/relay/tunnel-frame.js';
import { TunnelBody } from '../../src/wire/generated/offset/relay/tunnel-body.js';
import { Data } from '../../src/wire/generated/offset/relay/data.js';
import { randomBytes } from '../../src/crypto/primitives.js';

const k = (): Uint8Array => randomBytes(32);

t.test('client and relay messages round-trip', async (t) => {
  const clients: ClientMsg[] = [
    { kind: 'listen' }, { kind: 'connect', target: k() }, { kind: 'accept', caller: k() }, { kind: 'reject', caller: k() }, { kind: 'keepalive' },
  ];
  for (const msg of clients) {
    const r = decodeClientMessage(encodeClientMessage(msg));
    t.ok(r.ok);
    if (r.ok) t.same({ ...r.value }, msg);
  }
  const relays: RelayMsg[] = [
    { kind: 'incoming', caller: k() }, { kind: 'connected', peer: k(), windowBytes: 1 << 22 }, { kind: 'failed', reason: Reason.Rejected },
    { kind: 'draining', graceMs: 1234 }, { kind: 'keepalive' },
  ];
  for (const msg of relays) {
    const r = decodeRelayMessage(encodeRelayMessage(msg));
    t.ok(r.ok);
    if (r.ok) t.same(r.value, msg);
  }
});

t.test('the hand-built data frame is read identically by the generated reader', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (payload) => {
    const bytes = encodeTunnelData(payload);
    if (bytes.byteLength !== payload.byteLength + TUNNEL_DATA_OVERHEAD_BYTES) return false;
    const frame = TunnelFrame.getRootAsTunnelFrame(new flatbuffers.ByteBuffer(bytes));
    if (frame.bodyType() !== TunnelBody.Data) return false;
    const data = frame.body(new Data()) as Data;
    const viaGenerated = data.bytesArray();
    const r = decodeTunnelFrame(bytes);
    return r.ok && r.value.kind === 'data' && Buffer.from(r.value.payload).equals(payload) && Buffer.from(viaGenerated).equals(payload);
  }), { numRuns: 200 });
  t.pass();
});

t.test('credit and close frames round-trip', async (t) => {
  t.same(decodeTunnelFrame(encodeTunnelCredit(65536)), { ok: true, value: { kind: 'credit', bytes: 65536 } });
  t.same(decodeTunnelFrame(encodeTunnelClose(Reason.PeerClosed)), { ok: true, value: { kind: 'close', reason: Reason.PeerClosed } });
});

t.test('worker messages round-trip', async (t) => {
  const msgs: WorkerMsg[] = [
    { kind: 'conn-init', conn: { worker: 1, id: 77 }, key: k(), init: { kind: 'connect', target: k() } },
    { kind: 'listener-reject', conn: { worker: 0, id: 1 }, caller: k() },
    { kind: 'conn-gone', conn: { worker: 3, id: 0xffffffff } },
    { kind: 'listening', worker: 2, port: 40000 },
    { kind: 'stats', worker: 1, json: '{"a":1}' },
    { kind: 'notify', conn: { worker: 0, id: 5 }, caller: k() },
    { kind: 'splice', conn: { worker: 0, id: 5 }, peer: { worker: 1, id: 6 }, peerKey: k() },
    { kind: 'end-conn', conn: { worker: 0, id: 5 }, reason: Reason.Replaced },
    { kind: 'drain', graceMs: 500 },
    { kind: 'stats-request' },
    { kind: 'stop' },
  ];
  for (const msg of msgs) {
    const r = decodeWorkerMessage(encodeWorkerMessage(msg));
    t.ok(r.ok, msg.kind);
    if (r.ok) t.same(JSON.parse(JSON.stringify(r.value)), JSON.parse(JSON.stringify(msg)));
  }
});

t.test('a cross-worker batch carries frames byte for byte in an ArrayBuffer of its own', async (t) => {
  const w = new CrossBatchWriter(64);
  const a = encodeTunnelData(randomBytes(3000));
  w.add({ dst: 1, kind: CrossKind.Data, frame: a, credit: 0, reason: Reason.None });
  w.add({ dst: 2, kind: CrossKind.Credit, frame: null, credit: 4096, reason: Reason.None });
  w.add({ dst: 3, kind: CrossKind.Close, frame: null, credit: 0, reason: Reason.PeerClosed });
  const buffer = w.take();
  t.equal(w.count, 0);
  const r = decodeCrossBatch(new Uint8Array(buffer));
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.value.length, 3);
  t.ok(Buffer.from(r.value[0].frame!).equals(a));
  t.match(r.value[1], { dst: 2, kind: CrossKind.Credit, credit: 4096 });
  t.match(r.value[2], { dst: 3, kind: CrossKind.Close, reason: Reason.PeerClosed });
});

t.test('decoders reject garbage and truncations without throwing', async (t) => {
  const samples = [
    encodeClientMessage({ kind: 'connect', target: k() }), encodeRelayMessage({ kind: 'incoming', caller: k() }),
    encodeTunnelData(randomBytes(50)), encodeWorkerMessage({ kind: 'splice', conn: { worker: 0, id: 5 }, peer: { worker: 1, id: 6 }, peerKey: k() }),
  ];
  const decoders = [decodeClientMessage, decodeRelayMessage, decodeTunnelFrame, decodeWorkerMessage, decodeCrossBatch];
  for (const s of samples) {
    for (let cut = 0; cut < s.byteLength; cut++) for (const d of decoders) d(s.subarray(0, cut));
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    for (const d of decoders) d(bytes);
    return true;
  }), { numRuns: 2000 });
  t.notOk(decodeClientMessage(new Uint8Array(0)).ok);
  t.notOk(decodeTunnelFrame(encodeClientMessage({ kind: 'listen' })).ok, 'a listen is not a data frame');
});

t.test('the allocation-free data check accepts exactly what the full decoder reads as data', async (t) => {
  const { tunnelDataTag } = await import('../../src/relay/tunnel_fast_path.js');
  const { mutate } = await import('../fuzz/harness.js');
  const samples = [encodeTunnelData(new Uint8Array(0)), encodeTunnelData(randomBytes(100)), encodeTunnelCredit(7), encodeTunnelClose(Reason.Malformed)];
  for (const s of samples) {
    const full = decodeTunnelFrame(s);
    t.equal(tunnelDataTag(s) === 1, full.ok && full.value.kind === 'data');
  }
  let accepted = 0;
  fc.assert(fc.property(fc.nat(), fc.array(fc.record({ pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }), (index, ops) => {
    const bytes = mutate(samples, index, ops.map((o) => ({ k: 'set' as const, pos: o.pos, byte: o.byte })));
    const fast = tunnelDataTag(bytes) === 1;
    const full = decodeTunnelFrame(bytes);
    if (fast) accepted++;
    return !fast || (full.ok && full.value.kind === 'data');
  }), { numRuns: 30_000 });
  t.ok(accepted > 0, 'some mutated frames still passed');
});
