import t from 'tap';
import NoiseState from 'noise-handshake';
import { Identity } from '../../src/crypto/identity.js';
import { curvePublicFromEd25519 } from '../../src/crypto/primitives.js';
import { decodeEnvelope, encodeHandshakeInit, encodeHandshakePayload, type EnvelopeMessage } from '../../src/transport/codec.js';
import { purposeToWire, TRANSPORT_VERSION } from '../../src/transport/constants.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { InitiatorHandshake, ResponderHandshake, noiseStatic, prologue, type HandshakeConfig } from '../../src/transport/handshake.js';
import { aeadOpen, aeadSeal } from '../../src/transport/keys.js';

function envelope(bytes: Uint8Array): EnvelopeMessage {
  const decoded = decodeEnvelope(bytes, 1024);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}

const base = { frameBytesMax: 1 << 20 };

function run(initiatorConfig: Partial<HandshakeConfig> = {}, responderConfig: Partial<HandshakeConfig> = {}) {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const initiator = new InitiatorHandshake({ identity: alice, expectedRemoteKey: bob.publicKey, purpose: 'app', ...base, ...initiatorConfig });
  const responder = new ResponderHandshake({ identity: bob, purpose: 'app', ...base, ...responderConfig });
  const atResponder = responder.receive(envelope(initiator.start()));
  return { alice, bob, initiator, responder, atResponder };
}

t.test('both sides of an IK handshake derive the same keys and transcript hash', async (t) => {
  const { alice, bob, initiator, atResponder } = run();
  t.ok(atResponder.ok);
  if (!atResponder.ok || atResponder.reply === undefined) return;
  const atInitiator = initiator.receive(envelope(atResponder.reply));
  t.ok(atInitiator.ok);
  if (!atInitiator.ok) return;
  const i = atInitiator.result;
  const r = atResponder.result;
  t.same(Buffer.from(i.initiatorToResponder), Buffer.from(r.initiatorToResponder));
  t.same(Buffer.from(i.responderToInitiator), Buffer.from(r.responderToInitiator));
  t.notSame(Buffer.from(i.initiatorToResponder), Buffer.from(i.responderToInitiator), 'one key per direction');
  t.same(Buffer.from(i.handshakeHash), Buffer.from(r.handshakeHash));
  t.same(Buffer.from(i.remoteKey), Buffer.from(bob.publicKey));
  t.same(Buffer.from(r.remoteKey), Buffer.from(alice.publicKey));
  // The keys work as AEAD keys across the two sides.
  const sealed = aeadSeal(i.initiatorToResponder, 0, null, Buffer.from('hello'));
  t.same(aeadOpen(r.initiatorToResponder, 0, null, sealed), Buffer.from('hello'));
});

t.test('two handshakes between the same identities derive different keys', async (t) => {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const keys: string[] = [];
  for (let n = 0; n < 2; n++) {
    const initiator = new InitiatorHandshake({ identity: alice, expectedRemoteKey: bob.publicKey, purpose: 'app', ...base });
    const responder = new ResponderHandshake({ identity: bob, purpose: 'app', ...base });
    const step = responder.receive(envelope(initiator.start()));
    if (!step.ok) throw step.error;
    keys.push(Buffer.from(step.result.initiatorToResponder).toString('hex'));
  }
  t.not(keys[0], keys[1], 'fresh ephemerals per session');
});

t.test('a purpose forged in the cleartext hello still fails, because the prologue binds it', async (t) => {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const initiator = new InitiatorHandshake({ identity: alice, expectedRemoteKey: bob.publicKey, purpose: 'index-client', ...base });
  const responder = new ResponderHandshake({ identity: bob, purpose: 'app', ...base });
  const forged = envelope(initiator.start());
  if (forged.kind !== 'init') throw new Error('expected init');
  const step = responder.receive({ ...forged, purpose: 5 /* app */ });
  t.notOk(step.ok);
  if (!step.ok) t.equal(step.error.code, TransportErrorCode.WrongKey, 'message 1 does not open under another prologue');
});

t.test('an altered handshake reply fails at the initiator with WRONG_KEY', async (t) => {
  const { initiator, atResponder } = run();
  if (!atResponder.ok || atResponder.reply === undefined) throw new Error('handshake failed');
  const reply = envelope(atResponder.reply);
  if (reply.kind !== 'accept') throw new Error('expected accept');
  const noise = new Uint8Array(reply.noise);
  noise[40] ^= 1;
  const step = initiator.receive({ ...reply, noise });
  t.notOk(step.ok);
  if (!step.ok) t.equal(step.error.code, TransportErrorCode.WrongKey);
});

t.test('a truncated or garbage first message is refused without throwing', async (t) => {
  const bob = Identity.generate();
  for (const noise of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(200).fill(7)]) {
    const responder = new ResponderHandshake({ identity: bob, purpose: 'app', ...base });
    const step = responder.receive({ kind: 'init', version: 1, purpose: 5, noise });
    t.notOk(step.ok);
    t.ok(step.reply !== undefined, 'a reject is prepared for the peer');
  }
});

t.test('a responder that already verified an identity still refuses another static claiming it', async (t) => {
  const bob = Identity.generate();
  const victim = Identity.generate();
  const mallory = Identity.generate();
  const dial = (): ReturnType<ResponderHandshake['receive']> =>
    new ResponderHandshake({ identity: bob, purpose: 'app', ...base }).receive(
      envelope(new InitiatorHandshake({ identity: victim, expectedRemoteKey: bob.publicKey, purpose: 'app', ...base }).start()),
    );
  const first = dial();
  t.ok(first.ok, 'the victim connects');
  // Mallory's own Noise static, with the victim's Ed25519 key in the payload.
  const noise = new NoiseState('IK', true, noiseStatic(mallory));
  noise.initialise(prologue(TRANSPORT_VERSION, 'app'), curvePublicFromEd25519(bob.publicKey) as Buffer);
  const forged = encodeHandshakeInit(TRANSPORT_VERSION, purposeToWire('app'), noise.send(encodeHandshakePayload({ identity: victim.publicKey, ...base })));
  const refused = new ResponderHandshake({ identity: bob, purpose: 'app', ...base }).receive(envelope(forged));
  t.notOk(refused.ok);
  if (!refused.ok) t.equal(refused.error.code, TransportErrorCode.WrongKey);
  const again = dial();
  t.ok(again.ok, 'the victim connects again');
  if (first.ok && again.ok) t.same(Buffer.from(again.result.remoteKey), Buffer.from(victim.publicKey));
});
