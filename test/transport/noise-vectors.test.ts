import t from 'tap';
import NoiseState from 'noise-handshake';
import sodium from 'sodium-native';
import { aeadSeal } from '../../src/transport/keys.js';

/*
 * Noise_IK_25519_ChaChaPoly_BLAKE2b, the published vector from noise-c's basic test vectors
 * (tests/vector/noise-c-basic.txt): fixed statics and ephemerals, prologue "Prologue123".
 * Checks that the Noise library the transport builds on produces the reference bytes, the
 * reference handshake hash and split keys that encrypt the reference transport messages.
 */
const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const vector = {
  prologue: hex('50726f6c6f677565313233'),
  initStatic: hex('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1'),
  initEphemeral: hex('893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a'),
  respStatic: hex('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893'),
  respStaticPublic: hex('31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62'),
  respEphemeral: hex('bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b'),
  message1Payload: hex('4c756477696720766f6e204d69736573'),
  message1: hex(
    'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944' +
      'ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd232fe541af156ec6d0657602902a8c3e' +
      'e64e470f4b6fcd9298ce0b56fe20f86e60d9d933ec6e103ffb09e6001d6abb64',
  ),
  message2Payload: hex('4d757272617920526f746862617264'),
  message2: hex('95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843' + '9f069b267a06b3de3ecb1043bcb09807c6cd101f3826192a65f11ef3fe4317'),
  handshakeHash: hex(
    '00e51d2aac81a9b8ebe441d6af3e1c8efc0f030cc608332edcb42588ff6a0ce26415ddc106e95277a5e6d54132f1e5245976b89caf96d262f1fe5a7f0c55c078',
  ),
  transport1Payload: hex('462e20412e20486179656b'),
  transport1: hex('cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07'),
  transport2Payload: hex('4361726c204d656e676572'),
  transport2: hex('a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2'),
};

function keyPair(secretKey: Buffer): { publicKey: Buffer; secretKey: Buffer } {
  const publicKey = Buffer.alloc(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** The X25519 curve module noise-handshake expects, with the ephemeral fixed by the vector. */
function curveWithEphemeral(ephemeral: Buffer): object {
  return {
    DHLEN: 32,
    PKLEN: 32,
    SKLEN: 32,
    ALG: '25519',
    generateKeyPair: (secretKey?: Buffer) => keyPair(Buffer.from(secretKey ?? ephemeral)),
    dh: (publicKey: Buffer, local: { secretKey: Buffer }) => {
      const out = Buffer.alloc(32);
      sodium.crypto_scalarmult(out, local.secretKey, publicKey);
      return out;
    },
  };
}

t.test('noise-handshake IK reproduces the noise-c reference vector', async (t) => {
  const initiator = new NoiseState('IK', true, keyPair(vector.initStatic), { curve: curveWithEphemeral(vector.initEphemeral) });
  const responder = new NoiseState('IK', false, keyPair(vector.respStatic), { curve: curveWithEphemeral(vector.respEphemeral) });
  t.same(responder.s.publicKey, vector.respStaticPublic);
  initiator.initialise(vector.prologue, vector.respStaticPublic);
  responder.initialise(vector.prologue);

  const message1 = initiator.send(vector.message1Payload);
  t.equal(message1.toString('hex'), vector.message1.toString('hex'), 'message 1 bytes');
  t.same(responder.recv(message1), vector.message1Payload);
  const message2 = responder.send(vector.message2Payload);
  t.equal(message2.toString('hex'), vector.message2.toString('hex'), 'message 2 bytes');
  t.same(initiator.recv(message2), vector.message2Payload);

  t.ok(initiator.complete && responder.complete);
  t.equal((initiator.hash as Buffer).toString('hex'), vector.handshakeHash.toString('hex'), 'initiator handshake hash');
  t.equal((responder.hash as Buffer).toString('hex'), vector.handshakeHash.toString('hex'), 'responder handshake hash');
  // The split keys encrypt the vector's first transport message each way (nonce 0, no AD).
  t.same(aeadSeal(initiator.tx as Buffer, 0, null, vector.transport1Payload), vector.transport1);
  t.same(aeadSeal(responder.tx as Buffer, 0, null, vector.transport2Payload), vector.transport2);
});
