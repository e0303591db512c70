import t from 'tap';
import { Identity, verifySignature } from '../../src/crypto/identity.js';
import { SigningDomain } from '../../src/crypto/domains.js';
import { CanonicalWriter } from '../../src/crypto/canonical.js';

t.test('a signature verifies only under the domain it was made for', async (t) => {
  const identity = Identity.generate();
  const message = new Uint8Array([1, 2, 3]);
  const signature = identity.sign(SigningDomain.MoveToken, message);
  t.ok(verifySignature(SigningDomain.MoveToken, identity.publicKey, message, signature));
  t.notOk(verifySignature(SigningDomain.MutationsUpdate, identity.publicKey, message, signature));
  t.notOk(verifySignature(SigningDomain.MoveToken, Identity.generate().publicKey, message, signature));
  t.notOk(verifySignature(SigningDomain.MoveToken, identity.publicKey, new Uint8Array([1, 2, 4]), signature));
});

t.test('an identity rebuilt from its seed has the same public key', async (t) => {
  const identity = Identity.generate();
  t.same(Identity.fromSeed(identity.seed).publicKey, identity.publicKey);
});

t.test('canonical strings are length-prefixed so adjacent strings cannot collide', async (t) => {
  const a = new CanonicalWriter().string('AB').string('C').finish();
  const b = new CanonicalWriter().string('A').string('BC').finish();
  t.notSame(a, b);
});

t.test('canonical integers reject out-of-range values', async (t) => {
  t.throws(() => new CanonicalWriter().u64(-1n), RangeError);
  t.throws(() => new CanonicalWriter().u128(1n << 128n), RangeError);
  t.throws(() => new CanonicalWriter().i128(1n << 127n), RangeError);
  t.same([...new CanonicalWriter().i128(-1n).finish()], new Array(16).fill(255));
});
