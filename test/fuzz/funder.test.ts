import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { decodeFriendMessage, encodeFriendMessage } from '../../src/funder/codec.js';
import type { FriendMessage, MoveToken } from '../../src/funder/types.js';
import { fuzzDecoder } from './harness.js';

const key = (): Uint8Array => Identity.generate().publicKey;
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

const move = (ops: MoveToken['ops'], extra: Partial<MoveToken> = {}): MoveToken => ({
  oldToken: bytes(64, 1), ops, relays: null, activeCurrencies: null, infoHash: bytes(32, 2), randNonce: bytes(16, 3), newToken: bytes(64, 4), timeMs: 1_700_000_000_000, ...extra,
});

const samples: FriendMessage[] = [
  { kind: 'moveTokenRequest', tokenWanted: false, moveToken: move([]) },
  {
    kind: 'moveTokenRequest', tokenWanted: true, moveToken: move([
      { currency: 'FST', op: { kind: 'request', requestId: bytes(16, 5), srcHashedLock: bytes(32, 6), route: [key(), key()], destPayment: 10n, totalDestPayment: 12n, invoiceId: bytes(32, 7), leftFees: (1n << 100n), ttlMs: 60_000 } },
      { currency: 'FST', op: { kind: 'response', requestId: bytes(16, 8), destHashedLock: bytes(32, 9), isComplete: true, randNonce: bytes(16, 10), signature: bytes(64, 11) } },
      { currency: 'ÉUR', op: { kind: 'cancel', requestId: bytes(16, 12) } },
      { currency: 'ÉUR', op: { kind: 'cancel', requestId: bytes(16, 19), reason: 4 } },
      { currency: 'X', op: { kind: 'collect', requestId: bytes(16, 13), srcPlainLock: bytes(32, 14), destPlainLock: bytes(32, 15) } },
      { currency: 'X', op: { kind: 'expire', requestId: bytes(16, 16) } },
    ], { relays: [{ publicKey: key(), address: 'relay.example:4000' }], activeCurrencies: ['FST', 'X', 'ÉUR'] }),
  },
  { kind: 'inconsistencyError', resetTerms: { resetToken: bytes(64, 17), inconsistencyCounter: 3n, balanceForReset: [{ currency: 'FST', balance: -(1n << 120n) }, { currency: 'X', balance: 7n }], signature: bytes(64, 18) } },
];

fuzzDecoder(t, {
  name: 'funder friend message',
  decode: decodeFriendMessage,
  encode: encodeFriendMessage,
  samples: samples.map(encodeFriendMessage),
});
