/**
 * The symmetric crypto of a session, all from sodium-native: ChaCha20-Poly1305 IETF with an
 * implicit 64-bit counter nonce (Noise layout: 4 zero bytes, then the counter little-endian),
 * X25519 for rekey ephemerals, and BLAKE2b (keyed generichash + crypto_kdf) for the rekey chain.
 */
import sodium from 'sodium-native';

/** The IETF ChaCha20-Poly1305 entry points sodium-native has but @types/sodium-native omits. */
interface ChaChaIetf {
  crypto_aead_chacha20poly1305_ietf_KEYBYTES: number;
  crypto_aead_chacha20poly1305_ietf_ABYTES: number;
  crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number;
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Buffer, m: Buffer, ad: Buffer | null, nsec: null, npub: Buffer, k: Buffer): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Buffer, nsec: null, c: Buffer, ad: Buffer | null, npub: Buffer, k: Buffer): number;
}
const aead = sodium as unknown as ChaChaIetf;

export const AEAD_KEY_BYTES = aead.crypto_aead_chacha20poly1305_ietf_KEYBYTES;
export const AEAD_TAG_BYTES = aead.crypto_aead_chacha20poly1305_ietf_ABYTES;
const NONCE_BYTES = aead.crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
const TWO_POW_32 = 0x1_0000_0000;
/** Counters stop well below 2^53 so they stay exact; the session rekeys long before. */
export const COUNTER_MAX = 2 ** 48;

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Session keys live in ordinary buffers, wiped when the session ends: sodium_malloc (guard
 * pages, mlock) costs several system calls per key, which at thousands of handshakes a second
 * was a tenth of a server's handshake time. Long-lived identity keys stay in guarded memory.
 */
export function secretCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(bytes.byteLength);
  out.set(bytes);
  return out;
}

export function wipe(key: Buffer): void {
  sodium.sodium_memzero(key);
}

const nonceScratch = Buffer.alloc(NONCE_BYTES);

function nonceFor(counter: number): Buffer {
  nonceScratch.writeUInt32LE(0, 0);
  nonceScratch.writeUInt32LE(counter % TWO_POW_32, 4);
  nonceScratch.writeUInt32LE(Math.floor(counter / TWO_POW_32), 8);
  return nonceScratch;
}

/** Encrypts `plaintext` into a new buffer of plaintext + tag bytes. */
export function aeadSeal(key: Buffer, counter: number, ad: Buffer | null, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.byteLength + AEAD_TAG_BYTES);
  aead.crypto_aead_chacha20poly1305_ietf_encrypt(out, asBuffer(plaintext), ad, null, nonceFor(counter), key);
  return out;
}

/** Encrypts `plaintext` into `out` (plaintext + tag bytes), which may be a view into a larger buffer. */
export function aeadSealInto(out: Uint8Array, key: Buffer, counter: number, plaintext: Uint8Array): void {
  aead.crypto_aead_chacha20poly1305_ietf_encrypt(asBuffer(out), asBuffer(plaintext), null, null, nonceFor(counter), key);
}

/**
 * Decrypts in place and returns the plaintext as a view of `ciphertext`; null when
 * authentication fails, in which case libsodium has zeroed the plaintext part of the buffer.
 */
export function aeadOpenInPlace(key: Buffer, counter: number, ciphertext: Uint8Array): Uint8Array | null {
  if (ciphertext.byteLength < AEAD_TAG_BYTES) return null;
  const c = asBuffer(ciphertext);
  const m = c.subarray(0, c.byteLength - AEAD_TAG_BYTES);
  try {
    aead.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, c, null, nonceFor(counter), key);
  } catch {
    return null;
  }
  return m;
}

/** Decrypts into a new buffer; null when authentication fails. Never throws on peer input. */
export function aeadOpen(key: Buffer, counter: number, ad: Buffer | null, ciphertext: Uint8Array): Buffer | null {
  if (ciphertext.byteLength < AEAD_TAG_BYTES) return null;
  const out = Buffer.allocUnsafe(ciphertext.byteLength - AEAD_TAG_BYTES);
  try {
    aead.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, asBuffer(ciphertext), ad, nonceFor(counter), key);
  } catch {
    return null;
  }
  return out;
}

export interface X25519KeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export function x25519Ephemeral(): X25519KeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_kx_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_kx_SECRETKEYBYTES);
  sodium.crypto_kx_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** X25519; null for a low-order peer key (libsodium refuses an all-zero result). */
export function x25519(secretKey: Buffer, remotePublic: Uint8Array): Buffer | null {
  const out = Buffer.alloc(sodium.crypto_scalarmult_BYTES);
  try {
    sodium.crypto_scalarmult(out, secretKey, asBuffer(remotePublic));
  } catch {
    return null;
  }
  return out;
}

const KDF_CONTEXT = Buffer.from('offsetrk', 'ascii'); // crypto_kdf contexts are exactly 8 bytes
const CHAIN_LABEL = Buffer.from('offset-ts/v1/transport.rekey-chain\0', 'utf8');
const REKEY_LABEL = Buffer.from('offset-ts/v1/transport.rekey\0', 'utf8');

export interface DirectionKeys {
  /** Initiator to responder (Noise roles, fixed for the life of the channel). */
  initiatorToResponder: Buffer;
  responderToInitiator: Buffer;
  /** Secret carried into the next rekey, so each new key depends on every earlier DH. */
  chain: Buffer;
}

function derive(prk: Buffer, id: number): Buffer {
  const out = Buffer.alloc(sodium.crypto_kdf_KEYBYTES);
  sodium.crypto_kdf_derive_from_key(out, id, KDF_CONTEXT, prk);
  return out;
}

/** The rekey chain's first secret, from the handshake's secret split keys and transcript hash. */
export function initialChain(initiatorToResponder: Buffer, responderToInitiator: Buffer, handshakeHash: Uint8Array): Buffer {
  const out = Buffer.alloc(sodium.crypto_kdf_KEYBYTES);
  sodium.crypto_generichash_batch(out, [CHAIN_LABEL, initiatorToResponder, responderToInitiator, asBuffer(handshakeHash)]);
  return out;
}

/**
 * New direction keys after a rekey: BLAKE2b keyed by the current chain over the fresh DH and
 * both ephemerals (requester's first), expanded with crypto_kdf.
 */
export function rekeyKeys(chain: Buffer, shared: Buffer, requestEphemeral: Uint8Array, replyEphemeral: Uint8Array): DirectionKeys {
  const prk = Buffer.alloc(sodium.crypto_kdf_KEYBYTES);
  sodium.crypto_generichash_batch(prk, [REKEY_LABEL, shared, asBuffer(requestEphemeral), asBuffer(replyEphemeral)], chain);
  const keys = { initiatorToResponder: derive(prk, 1), responderToInitiator: derive(prk, 2), chain: derive(prk, 3) };
  wipe(prk);
  return keys;
}
