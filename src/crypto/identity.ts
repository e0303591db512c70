import { concatBytes } from '../common/bytes.js';
import { domainPrefix, type SigningDomain } from './domains.js';
import { keyPairFromSeed, randomBytes, SEED_BYTES, signDetached, verifyDetached } from './primitives.js';

/**
 * An Ed25519 identity. The seed is what identity files hold; the secret key lives in
 * sodium-guarded memory. All signing goes through a domain (see domains.ts).
 */
export class Identity {
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
  readonly secretKey: Uint8Array;

  private constructor(seed: Uint8Array) {
    const { publicKey, secretKey } = keyPairFromSeed(seed);
    this.seed = seed;
    this.publicKey = publicKey;
    this.secretKey = secretKey;
  }

  static generate(): Identity {
    return new Identity(randomBytes(SEED_BYTES));
  }

  static fromSeed(seed: Uint8Array): Identity {
    return new Identity(new Uint8Array(seed));
  }

  sign(domain: SigningDomain, message: Uint8Array): Uint8Array {
    return signDetached(concatBytes([domainPrefix(domain), message]), this.secretKey);
  }
}

export function verifySignature(
  domain: SigningDomain,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verifyDetached(signature, concatBytes([domainPrefix(domain), message]), publicKey);
}
