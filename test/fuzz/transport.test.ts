import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import {
  CloseCode,
  decodeBatch,
  decodeEnvelope,
  decodeHandshakePayload,
  encodeBatch,
  encodeEnvelope,
  encodeHandshakeAccept,
  encodeHandshakeInit,
  encodeHandshakePayload,
  encodeHandshakeReject,
  encodeSealed,
} from '../../src/transport/codec.js';
import { fuzzDecoder } from './harness.js';

const noise = new Uint8Array(140).map((_, i) => i);
const ephemeral = new Uint8Array(32).fill(9);

fuzzDecoder(t, {
  name: 'transport envelope',
  decode: (bytes) => decodeEnvelope(bytes, 1 << 20),
  encode: encodeEnvelope,
  samples: [
    encodeHandshakeInit(1, 1, noise),
    encodeHandshakeAccept(1, 5, noise.subarray(0, 90)),
    encodeHandshakeReject(CloseCode.VersionMismatch, 1, 2, 'this endpoint speaks transport v1'),
    encodeSealed(3, new Uint8Array(300).fill(1)),
    encodeSealed(0, new Uint8Array(16)),
  ],
});

fuzzDecoder(t, {
  name: 'transport handshake payload',
  decode: decodeHandshakePayload,
  encode: encodeHandshakePayload,
  samples: [encodeHandshakePayload({ identity: Identity.generate().publicKey, frameBytesMax: 1 << 20 })],
});

fuzzDecoder(t, {
  name: 'transport batch',
  decode: (bytes) => decodeBatch(bytes, 4096),
  encode: encodeBatch,
  samples: [
    encodeBatch({ frames: [] }),
    encodeBatch({ frames: [Buffer.from('one'), Buffer.from(''), Buffer.from('three')] }),
    encodeBatch({ frames: [Buffer.from('x')], rekeyRequest: ephemeral, paddingBytes: 31 }),
    encodeBatch({ frames: [], rekeyReply: ephemeral, goodbye: { code: CloseCode.Normal, reason: 'bye' } }),
  ],
});
