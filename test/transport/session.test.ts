import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { decodeEnvelope, encodeBatch, encodeSealed } from '../../src/transport/codec.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { InitiatorHandshake, ResponderHandshake } from '../../src/transport/handshake.js';
import { aeadSeal } from '../../src/transport/keys.js';
import { Session, type SessionOptions } from '../../src/transport/session.js';

const options: SessionOptions = { rekeyIntervalMs: 3_600_000, rekeyMessagesMax: 2 ** 32, paddingBlockBytes: 0, frameBytesMax: 1024 };

function pair(sessionOptions: SessionOptions = options): { a: Session; b: Session } {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const initiator = new InitiatorHandshake({ identity: alice, expectedRemoteKey: bob.publicKey, purpose: 'app', frameBytesMax: 1024 });
  const responder = new ResponderHandshake({ identity: bob, purpose: 'app', frameBytesMax: 1024 });
  const first = decodeEnvelope(initiator.start(), 1024);
  if (!first.ok) throw new Error(first.error);
  const r = responder.receive(first.value);
  if (!r.ok || r.reply === undefined) throw new Error('handshake');
  const second = decodeEnvelope(r.reply, 1024);
  if (!second.ok) throw new Error(second.error);
  const i = initiator.receive(second.value);
  if (!i.ok) throw new Error('handshake');
  return { a: new Session(i.result, sessionOptions, 0), b: new Session(r.result, sessionOptions, 0) };
}

function sealed(envelope: Uint8Array): { phase: number; ciphertext: Uint8Array } {
  const decoded = decodeEnvelope(envelope, 1 << 20);
  if (!decoded.ok || decoded.value.kind !== 'sealed') throw new Error('not sealed');
  return decoded.value;
}

function text(frames: Uint8Array[]): string[] {
  return frames.map((frame) => Buffer.from(frame).toString());
}

t.test('a failed open changes nothing: the next genuine message still opens', async (t) => {
  const { a, b } = pair();
  const m1 = sealed(a.seal([Buffer.from('one')], 0));
  const m2 = sealed(a.seal([Buffer.from('two')], 0));
  const tampered = new Uint8Array(m1.ciphertext);
  tampered[0] ^= 0x80;
  const before = b.getStats();
  const bad = b.open(m1.phase, tampered, 0);
  t.notOk(bad.ok);
  if (!bad.ok) t.equal(bad.error.code, TransportErrorCode.DecryptFailed);
  t.same(b.getStats(), before, 'no counter moved');
  const good = b.open(m1.phase, m1.ciphertext, 0);
  t.ok(good.ok);
  if (good.ok) t.same(text(good.frames), ['one']);
  const replay = b.open(m1.phase, m1.ciphertext, 0);
  t.notOk(replay.ok);
  if (!replay.ok) t.equal(replay.error.code, TransportErrorCode.Replayed);
  const next = b.open(m2.phase, m2.ciphertext, 0);
  t.ok(next.ok, 'still in sync after a replay was refused');
});

t.test('reordered messages fail to open', async (t) => {
  const { a, b } = pair();
  a.seal([Buffer.from('one')], 0);
  const m2 = sealed(a.seal([Buffer.from('two')], 0));
  const early = b.open(m2.phase, m2.ciphertext, 0);
  t.notOk(early.ok);
  if (!early.ok) t.equal(early.error.code, TransportErrorCode.DecryptFailed);
});

t.test('a message under an unknown key phase is refused', async (t) => {
  const { a, b } = pair();
  const m1 = sealed(a.seal([Buffer.from('one')], 0));
  const result = b.open((m1.phase + 7) & 0xff, m1.ciphertext, 0);
  t.notOk(result.ok);
});

t.test('a batch carrying a frame above the limit is refused as a protocol error', async (t) => {
  const { a, b } = pair();
  // Seal by hand with A's first send key: a batch with a 2000-byte frame (limit 1024).
  const big = sealed(a.seal([new Uint8Array(2000)], 0));
  const result = b.open(big.phase, big.ciphertext, 0);
  t.notOk(result.ok);
  if (!result.ok) t.equal(result.error.code, TransportErrorCode.Protocol);
});

t.test('padding pads to the block and is bounded', async (t) => {
  const { a, b } = pair({ ...options, paddingBlockBytes: 256 });
  const small = a.seal([Buffer.from('x')], 0);
  const larger = a.seal([new Uint8Array(200)], 0);
  // Frame bytes are padded to the same block; only FlatBuffers' 4-byte alignment may differ.
  t.ok(Math.abs(small.byteLength - larger.byteLength) <= 8, 'different frame sizes, near-equal message sizes');
  t.ok(b.open(sealed(small).phase, sealed(small).ciphertext, 0).ok);
  t.ok(b.open(sealed(larger).phase, sealed(larger).ciphertext, 0).ok);
  t.throws(() => new Session({} as never, { ...options, paddingBlockBytes: 1024 }, 0), RangeError);
});

t.test('repeated rekeys advance the key phase on both sides, and a replayed rekey reply is refused', async (t) => {
  const { a, b } = pair();
  a.requestRekey();
  const request = sealed(a.seal([], 0));
  const opened = b.open(request.phase, request.ciphertext, 0);
  t.ok(opened.ok);
  const reply = sealed(b.seal([], 0));
  t.ok(a.open(reply.phase, reply.ciphertext, 0).ok);
  t.equal(a.getStats().rekeys, 1);
  t.equal(b.getStats().rekeys, 1);
  const replayed = a.open(reply.phase, reply.ciphertext, 0);
  t.notOk(replayed.ok, 'the old reply does not open again');
  t.equal(a.getStats().rekeys, 1);
  a.requestRekey();
  const request2 = sealed(a.seal([Buffer.from('r2')], 1));
  const opened2 = b.open(request2.phase, request2.ciphertext, 1);
  t.ok(opened2.ok);
  const reply2 = sealed(b.seal([], 1));
  t.ok(a.open(reply2.phase, reply2.ciphertext, 1).ok);
  t.same([a.getStats().sendPhase, b.getStats().sendPhase], [2, 2]);
});

t.test('encodeSealed/aeadSeal round-trip with a wrong key is refused', async (t) => {
  const { b } = pair();
  const key = Buffer.alloc(32, 9);
  const forged = sealed(encodeSealed(0, aeadSeal(key, 0, null, encodeBatch({ frames: [Buffer.from('evil')] }))));
  const result = b.open(forged.phase, forged.ciphertext, 0);
  t.notOk(result.ok);
  t.equal(b.getStats().messagesOpened, 0);
});
