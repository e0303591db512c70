import sodium from 'sodium-native';

/** Thin, typed wrappers over sodium-native. Nothing here implements a primitive itself. */

export const PUBLIC_KEY_BYTES = sodium.crypto_sign_PUBLICKEYBYTES; // 32
export const SECRET_KEY_BYTES = sodium.crypto_sign_SECRETKEYBYTES; // 64
export const SEED_BYTES = sodium.crypto_sign_SEEDBYTES; // 32
export const SIGNATURE_BYTES = sodium.crypto_sign_BYTES; // 64
export const HASH_BYTES = 32;

export function randomBytes(length: number): Uint8Array {
  const out = Buffer.alloc(length);
  sodium.randombytes_buf(out);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** BLAKE2b-256 over the concatenation of `parts`, without materialising the concatenation. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const out = Buffer.alloc(HASH_BYTES);
  if (parts.length === 1) sodium.crypto_generichash(out, asBuffer(parts[0]));
  else sodium.crypto_generichash_batch(out, parts.map(asBuffer));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const signature = Buffer.alloc(SIGNATURE_BYTES);
  sodium.crypto_sign_detached(signature, asBuffer(message), asBuffer(secretKey));
  return new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength);
}

export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.byteLength !== SIGNATURE_BYTES || publicKey.byteLength !== PUBLIC_KEY_BYTES) return false;
  return sodium.crypto_sign_verify_detached(asBuffer(signature), asBuffer(message), asBuffer(publicKey));
}

export function keyPairFromSeed(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  if (seed.byteLength !== SEED_BYTES) throw new RangeError(`seed must be ${SEED_BYTES} bytes`);
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES);
  const secretKey = sodium.sodium_malloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, asBuffer(seed));
  return { publicKey: new Uint8Array(publicKey), secretKey };
}

/** The X25519 key pair that belongs to an Ed25519 identity, for Noise DH. */
export function curveKeyPairFromEd25519(publicKey: Uint8Array, secretKey: Uint8Array): { publicKey: Buffer; secretKey: Buffer } {
  const curvePublic = Buffer.alloc(sodium.crypto_scalarmult_BYTES);
  const curveSecret = sodium.sodium_malloc(sodium.crypto_scalarmult_SCALARBYTES);
  sodium.crypto_sign_ed25519_pk_to_curve25519(curvePublic, asBuffer(publicKey));
  sodium.crypto_sign_ed25519_sk_to_curve25519(curveSecret, asBuffer(secretKey));
  return { publicKey: curvePublic, secretKey: curveSecret };
}

/** Converts an Ed25519 public key to X25519; returns null for a key that is not a valid point. */
export function curvePublicFromEd25519(publicKey: Uint8Array): Buffer | null {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES) return null;
  const curvePublic = Buffer.alloc(sodium.crypto_scalarmult_BYTES);
  try {
    sodium.crypto_sign_ed25519_pk_to_curve25519(curvePublic, asBuffer(publicKey));
  } catch {
    return null;
  }
  return curvePublic;
}
