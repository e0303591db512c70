/**
 * The handshake as two pure state machines (no I/O, no timers): Noise IK
 * (Noise_IK_25519_ChaChaPoly_BLAKE2b, from noise-handshake on sodium-native) with X25519 statics
 * converted once from the Ed25519 identities.
 *
 *   initiator -> responder  HandshakeInit{version, purpose, IK msg 1 (e, es, s, ss; payload: Ed25519 key)}
 *   responder -> initiator  HandshakeAccept{version, purpose, IK msg 2 (e, ee, se; payload: Ed25519 key)}
 *                           or HandshakeReject{code, version, purpose, reason}
 *
 * The prologue binds the protocol version and the link purpose, so a handshake made for one
 * purpose or version never completes as another even if the cleartext fields are altered; the
 * cleartext copies only turn a mismatch into a readable error instead of a MAC failure. IK mixes
 * both static keys into the transcript, which binds both identities (the original's unsigned
 * transcript allowed an unknown key-share). Each side's Ed25519 key travels encrypted in its
 * payload and must convert to the Noise static that the handshake proved; the initiator also
 * requires it to equal the pinned key. The responder's result is not yet proof that the
 * initiator holds its keys against a replayed message 1: the channel layer waits for the first
 * sealed message (key confirmation) before exposing the peer.
 */
import NoiseState from 'noise-handshake';
import { bytesEqual, toBase64Url } from '../common/bytes.js';
import { CanonicalWriter } from '../crypto/canonical.js';
import type { Identity } from '../crypto/identity.js';
import { curveKeyPairFromEd25519, curvePublicFromEd25519 } from '../crypto/primitives.js';
import {
  CloseCode,
  decodeHandshakePayload,
  encodeHandshakeAccept,
  encodeHandshakeInit,
  encodeHandshakePayload,
  encodeHandshakeReject,
  type EnvelopeMessage,
} from './codec.js';
import { KEY_BYTES, purposeName, purposeToWire, TRANSPORT_VERSION, type Purpose } from './constants.js';
import { TransportError, TransportErrorCode } from './errors.js';
import { asBuffer, secretCopy, type X25519KeyPair } from './keys.js';

export type Role = 'initiator' | 'responder';

export interface HandshakeConfig {
  identity: Identity;
  purpose: Purpose;
  /** Largest application frame this side accepts; told to the peer. */
  frameBytesMax: number;
  /** Overrides TRANSPORT_VERSION; for tests of the mismatch path only. */
  version?: number;
}

export interface HandshakeResult {
  role: Role;
  /** The peer's verified Ed25519 identity. */
  remoteKey: Uint8Array;
  remoteFrameBytesMax: number;
  initiatorToResponder: Buffer;
  responderToInitiator: Buffer;
  handshakeHash: Uint8Array;
}

export type HandshakeStep =
  | { ok: true; result: HandshakeResult; reply?: Uint8Array }
  | { ok: false; error: TransportError; reply?: Uint8Array };

const staticKeys = new WeakMap<Identity, X25519KeyPair>();

/** The identity's X25519 static, converted once per identity (the conversion dominates a DH). */
export function noiseStatic(identity: Identity): X25519KeyPair {
  let keys = staticKeys.get(identity);
  if (keys === undefined) {
    keys = curveKeyPairFromEd25519(identity.publicKey, identity.secretKey);
    staticKeys.set(identity, keys);
  }
  return keys;
}

/** Pinned keys converted to X25519, bounded: a client dials few distinct servers. */
const pinnedStatics = new Map<string, Buffer | null>();
const PINNED_STATICS_MAX = 1024;

function pinnedStatic(ed25519: Uint8Array): Buffer | null {
  const id = asBuffer(ed25519).toString('latin1');
  let value = pinnedStatics.get(id);
  if (value === undefined) {
    value = curvePublicFromEd25519(ed25519);
    if (pinnedStatics.size >= PINNED_STATICS_MAX) pinnedStatics.clear();
    pinnedStatics.set(id, value);
  }
  return value;
}

/**
 * Initiators' Ed25519 keys converted to X25519, most recently seen last. The conversion checks
 * the point is in the main subgroup (a scalar multiplication), a tenth of a responder's handshake
 * CPU; nodes reconnect to the same servers, so a bounded LRU spares most of them. The result is
 * a pure function of the key, so a cached answer is the computed one; a flood of new keys only
 * evicts, each still converted once.
 */
const initiatorStatics = new Map<string, Buffer | null>();
const INITIATOR_STATICS_MAX = 16_384;

function initiatorStatic(ed25519: Uint8Array): Buffer | null {
  if (ed25519.byteLength !== KEY_BYTES) return null;
  const id = asBuffer(ed25519).toString('latin1');
  let value = initiatorStatics.get(id);
  if (value !== undefined) {
    initiatorStatics.delete(id);
  } else {
    value = curvePublicFromEd25519(ed25519);
    if (initiatorStatics.size >= INITIATOR_STATICS_MAX) initiatorStatics.delete(initiatorStatics.keys().next().value as string);
  }
  initiatorStatics.set(id, value);
  return value;
}

/**
 * Each identity's handshake payload per frame limit: the same bytes on every handshake (Noise
 * encrypts them without modifying them), so they are encoded once.
 */
const payloads = new WeakMap<Identity, Map<number, Uint8Array>>();

function handshakePayload(identity: Identity, frameBytesMax: number): Uint8Array {
  let byLimit = payloads.get(identity);
  if (byLimit === undefined) {
    byLimit = new Map();
    payloads.set(identity, byLimit);
  }
  let bytes = byLimit.get(frameBytesMax);
  if (bytes === undefined) {
    bytes = encodeHandshakePayload({ identity: identity.publicKey, frameBytesMax });
    if (byLimit.size < 16) byLimit.set(frameBytesMax, bytes);
  }
  return bytes;
}

const prologues = new Map<string, Uint8Array>();

/** The Noise prologue: binds the protocol version and the link purpose into the transcript. */
export function prologue(version: number, purpose: Purpose): Uint8Array {
  const id = `${version}/${purpose}`;
  let bytes = prologues.get(id);
  if (bytes === undefined) {
    bytes = new CanonicalWriter(64).string('offset-ts/transport').u32(version).string(purpose).finish();
    if (prologues.size < 64) prologues.set(id, bytes);
  }
  return bytes;
}

function failure(code: TransportErrorCode, message: string, reply?: Uint8Array): HandshakeStep {
  return reply === undefined ? { ok: false, error: new TransportError(code, message) } : { ok: false, error: new TransportError(code, message), reply };
}

function keyText(key: Uint8Array): string {
  return toBase64Url(key);
}

function versionMessage(theirs: number, ours: number): string {
  return `peer speaks transport v${theirs}, we speak v${ours}`;
}

function resultFrom(noise: NoiseState, role: Role, remoteKey: Uint8Array, remoteFrameBytesMax: number): HandshakeResult {
  // noise-handshake: the initiator's tx is the responder's rx.
  const tx = noise.tx as Buffer;
  const rx = noise.rx as Buffer;
  const initiatorToResponder = secretCopy(role === 'initiator' ? tx : rx);
  const responderToInitiator = secretCopy(role === 'initiator' ? rx : tx);
  tx.fill(0);
  rx.fill(0);
  return {
    role,
    remoteKey,
    remoteFrameBytesMax,
    initiatorToResponder,
    responderToInitiator,
    handshakeHash: new Uint8Array(noise.hash as Buffer),
  };
}

export class InitiatorHandshake {
  private readonly noise: NoiseState;
  private readonly version: number;
  private state: 'new' | 'sent' | 'done' = 'new';

  constructor(
    private readonly config: HandshakeConfig & { expectedRemoteKey: Uint8Array },
  ) {
    this.version = config.version ?? TRANSPORT_VERSION;
    this.noise = new NoiseState('IK', true, noiseStatic(config.identity));
    const remoteStatic = pinnedStatic(config.expectedRemoteKey);
    if (remoteStatic === null) throw new RangeError('expectedRemoteKey is not a valid Ed25519 public key');
    this.noise.initialise(prologue(this.version, config.purpose), remoteStatic);
  }

  /** The first message (HandshakeInit envelope). */
  start(): Uint8Array {
    if (this.state !== 'new') throw new Error('invariant violated: handshake already started');
    this.state = 'sent';
    const message = this.noise.send(handshakePayload(this.config.identity, this.config.frameBytesMax));
    return encodeHandshakeInit(this.version, purposeToWire(this.config.purpose), message);
  }

  receive(message: EnvelopeMessage): HandshakeStep {
    if (this.state !== 'sent') return failure(TransportErrorCode.HandshakeFailed, 'handshake message out of order');
    const ourPurpose = purposeToWire(this.config.purpose);
    if (message.kind === 'reject') {
      this.state = 'done';
      return rejectToFailure(message, this.version, this.config.purpose);
    }
    if (message.kind !== 'accept') {
      return failure(TransportErrorCode.HandshakeFailed, `expected a handshake reply, got ${message.kind}`);
    }
    this.state = 'done';
    if (message.version !== this.version) return failure(TransportErrorCode.VersionMismatch, versionMessage(message.version, this.version));
    if (message.purpose !== ourPurpose) {
      return failure(TransportErrorCode.PurposeMismatch, `peer answered for ${purposeName(message.purpose)}, we asked for ${this.config.purpose}`);
    }
    let payloadBytes: Buffer;
    try {
      payloadBytes = this.noise.recv(message.noise);
    } catch {
      return failure(TransportErrorCode.WrongKey, 'responder did not prove the expected key (or its reply was altered)');
    }
    const payload = decodeHandshakePayload(payloadBytes);
    if (!payload.ok) return failure(TransportErrorCode.HandshakeFailed, payload.error.message);
    if (!bytesEqual(payload.value.identity, this.config.expectedRemoteKey)) {
      return failure(
        TransportErrorCode.WrongKey,
        `responder claims identity ${keyText(payload.value.identity)}, expected ${keyText(this.config.expectedRemoteKey)}`,
      );
    }
    return { ok: true, result: resultFrom(this.noise, 'initiator', payload.value.identity, payload.value.frameBytesMax) };
  }
}

function rejectToFailure(message: Extract<EnvelopeMessage, { kind: 'reject' }>, version: number, purpose: Purpose): HandshakeStep {
  const detail = message.reason === '' ? '' : ` (${message.reason})`;
  switch (message.code) {
    case CloseCode.VersionMismatch:
      return failure(TransportErrorCode.VersionMismatch, versionMessage(message.version, version));
    case CloseCode.PurposeMismatch:
      return failure(TransportErrorCode.PurposeMismatch, `peer serves ${purposeName(message.purpose)}, we asked for ${purpose}`);
    case CloseCode.WrongKey:
      return failure(TransportErrorCode.WrongKey, `responder does not hold the expected key${detail}`);
    case CloseCode.Unauthorized:
      return failure(TransportErrorCode.Unauthorized, `responder refused our key${detail}`);
    case CloseCode.Busy:
      return failure(TransportErrorCode.Busy, `responder is busy${detail}`);
    case CloseCode.Timeout:
      return failure(TransportErrorCode.HandshakeTimeout, `responder timed out${detail}`);
    default:
      return failure(TransportErrorCode.HandshakeFailed, `responder refused the handshake${detail}`);
  }
}

export class ResponderHandshake {
  private readonly noise: NoiseState;
  private readonly version: number;
  private state: 'new' | 'done' = 'new';

  constructor(
    private readonly config: HandshakeConfig & { authorize?: (remoteKey: Uint8Array) => boolean },
  ) {
    this.version = config.version ?? TRANSPORT_VERSION;
    this.noise = new NoiseState('IK', false, noiseStatic(config.identity));
    this.noise.initialise(prologue(this.version, config.purpose));
  }

  /** A reject message for reasons found outside the handshake (busy, timeout). */
  reject(code: CloseCode, reason: string): Uint8Array {
    return encodeHandshakeReject(code, this.version, purposeToWire(this.config.purpose), reason);
  }

  receive(message: EnvelopeMessage): HandshakeStep {
    if (this.state !== 'new') return failure(TransportErrorCode.HandshakeFailed, 'handshake message out of order');
    if (message.kind !== 'init') return failure(TransportErrorCode.HandshakeFailed, `expected a handshake init, got ${message.kind}`);
    this.state = 'done';
    const ourPurpose = purposeToWire(this.config.purpose);
    if (message.version !== this.version) {
      return failure(
        TransportErrorCode.VersionMismatch,
        versionMessage(message.version, this.version),
        this.reject(CloseCode.VersionMismatch, `this endpoint speaks transport v${this.version}`),
      );
    }
    if (message.purpose !== ourPurpose) {
      return failure(
        TransportErrorCode.PurposeMismatch,
        `peer asked for ${purposeName(message.purpose)}, this endpoint serves ${this.config.purpose}`,
        this.reject(CloseCode.PurposeMismatch, `this endpoint serves ${this.config.purpose}`),
      );
    }
    let payloadBytes: Buffer;
    try {
      payloadBytes = this.noise.recv(message.noise);
    } catch {
      return failure(
        TransportErrorCode.WrongKey,
        'initiator expects a different responder key (or its message was altered)',
        this.reject(CloseCode.WrongKey, 'handshake does not open with this endpoint key'),
      );
    }
    const payload = decodeHandshakePayload(payloadBytes);
    if (!payload.ok) return failure(TransportErrorCode.HandshakeFailed, payload.error.message, this.reject(CloseCode.HandshakeFailed, 'bad payload'));
    const identity = payload.value.identity;
    const claimedStatic = initiatorStatic(identity);
    if (claimedStatic === null || this.noise.rs === null || !bytesEqual(claimedStatic, this.noise.rs)) {
      return failure(
        TransportErrorCode.WrongKey,
        `initiator identity ${keyText(identity)} does not match its Noise static key`,
        this.reject(CloseCode.WrongKey, 'identity does not match the handshake key'),
      );
    }
    if (this.config.authorize !== undefined && !this.config.authorize(identity)) {
      return failure(
        TransportErrorCode.Unauthorized,
        `initiator ${keyText(identity)} is not authorized`,
        this.reject(CloseCode.Unauthorized, 'key not authorized'),
      );
    }
    const reply = this.noise.send(handshakePayload(this.config.identity, this.config.frameBytesMax));
    return {
      ok: true,
      result: resultFrom(this.noise, 'responder', identity, payload.value.frameBytesMax),
      reply: encodeHandshakeAccept(this.version, ourPurpose, reply),
    };
  }
}
