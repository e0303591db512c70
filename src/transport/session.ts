/**
 * A session after the handshake, as a pure object (no I/O, no timers; time is passed in):
 * seals batches into envelopes and opens them, and runs the DH rekey.
 *
 * Nonces are implicit per-key counters starting at zero, so a replayed, dropped or reordered
 * message fails to open, and any failure closes the channel. Each direction's key has a phase
 * (mod 256) carried in clear so the receiver knows which key a message is under.
 *
 * Rekey (fresh X25519 ephemerals on both sides, so every period has forward secrecy; the
 * chain secret carries every earlier DH into the new keys):
 *   A: seals RekeyRequest{eA} under phase p, waits.
 *   B: derives the phase p+1 keys, installs the p+1 receive key next to the p one, seals
 *      RekeyReply{eB} under p, then switches its send key to p+1.
 *   A: on the reply, derives the same keys and switches its send key to p+1.
 *   B drops its phase p receive key at the first message under p+1: A's messages sealed under p
 *   before the reply reached A still open (the overlap window). The pipe is ordered, so nothing
 *   under p follows a message under p+1.
 * If both sides request at once, the Noise initiator's request wins: the initiator ignores the
 * responder's request, and the responder drops its own and answers.
 */
import { CloseCode, decodeBatch, encodeBatchShared, encodeSealedWith, type BatchValue } from './codec.js';
import { PADDING_BYTES_MAX } from './constants.js';
import { TransportError, TransportErrorCode } from './errors.js';
import type { HandshakeResult, Role } from './handshake.js';
import {
  AEAD_TAG_BYTES,
  aeadOpenInPlace,
  aeadSealInto,
  COUNTER_MAX,
  initialChain,
  rekeyKeys,
  wipe,
  x25519,
  x25519Ephemeral,
  type DirectionKeys,
  type X25519KeyPair,
} from './keys.js';

export interface SessionOptions {
  /** Start a rekey after this long without one (the responder waits 25% longer, as a backup). */
  rekeyIntervalMs: number;
  /** Start a rekey after this many messages under one send key. */
  rekeyMessagesMax: number;
  /** Pad frame bytes up to a multiple of this (0 or 1: no padding); at most 256. */
  paddingBlockBytes: number;
  /** Largest application frame this side accepts. */
  frameBytesMax: number;
}

interface KeySlot {
  key: Buffer;
  phase: number;
  counter: number;
  /** Tags of the last REPLAY_TAGS messages opened under this key, to name a replay as such. */
  recentTags: Buffer[];
}

function keySlot(key: Buffer, phase: number): KeySlot {
  return { key, phase, counter: 0, recentTags: [] };
}

export type OpenResult =
  | { ok: true; frames: Uint8Array[]; goodbye?: { code: CloseCode; reason: string } }
  | { ok: false; error: TransportError };

/**
 * How many recent tags are kept per key to tell a replay from tampering: messages open in
 * place (no copy), so a failed message cannot be retried under earlier counters; a replay
 * carries the same tag as the message it copies.
 */
const REPLAY_TAGS = 16;

export interface SessionStats {
  sendPhase: number;
  receivePhase: number;
  rekeys: number;
  messagesSealed: number;
  messagesOpened: number;
}

export class Session {
  readonly role: Role;
  readonly remoteKey: Uint8Array;
  readonly remoteFrameBytesMax: number;
  private send: KeySlot;
  private receive: KeySlot;
  private receiveNext: KeySlot | null = null;
  /**
   * The rekey chain secret, derived at the first rekey: most channels never rekey (a short
   * connection ends within a second), and the derivation was a visible share of a handshake's
   * CPU. Until then the phase-0 keys and the handshake hash it derives from stay as they were.
   */
  private chain: Buffer | null = null;
  private handshakeHash: Uint8Array | null;
  private pendingRequest: X25519KeyPair | null = null;
  private replyToSend: { ephemeral: Buffer; keys: DirectionKeys } | null = null;
  private wantRekey = false;
  private lastRekeyMs: number;
  private readonly stats: SessionStats = { sendPhase: 0, receivePhase: 0, rekeys: 0, messagesSealed: 0, messagesOpened: 0 };

  constructor(
    handshake: HandshakeResult,
    private readonly options: SessionOptions,
    nowMs: number,
  ) {
    if (options.paddingBlockBytes > PADDING_BYTES_MAX + 1) throw new RangeError('paddingBlockBytes must be at most 256');
    this.role = handshake.role;
    this.remoteKey = handshake.remoteKey;
    this.remoteFrameBytesMax = handshake.remoteFrameBytesMax;
    this.handshakeHash = handshake.handshakeHash;
    const [sendKey, receiveKey] = this.ownDirections(handshake.initiatorToResponder, handshake.responderToInitiator);
    this.send = keySlot(sendKey, 0);
    this.receive = keySlot(receiveKey, 0);
    this.lastRekeyMs = nowMs;
  }

  /**
   * The current chain secret. The first call derives it from the phase-0 keys, which are still
   * installed: the first rekey is the first use of the chain, and only a rekey replaces them.
   */
  private chainKey(): Buffer {
    if (this.chain === null) {
      const [initiatorToResponder, responderToInitiator] =
        this.role === 'initiator' ? [this.send.key, this.receive.key] : [this.receive.key, this.send.key];
      if (this.send.phase !== 0 || this.receive.phase !== 0 || this.handshakeHash === null) {
        throw new Error('invariant violated: the rekey chain is derived before the first rekey');
      }
      this.chain = initialChain(initiatorToResponder, responderToInitiator, this.handshakeHash);
      this.handshakeHash = null;
    }
    return this.chain;
  }

  private ownDirections(initiatorToResponder: Buffer, responderToInitiator: Buffer): [send: Buffer, receive: Buffer] {
    return this.role === 'initiator' ? [initiatorToResponder, responderToInitiator] : [responderToInitiator, initiatorToResponder];
  }

  getStats(): Readonly<SessionStats> {
    return { ...this.stats, sendPhase: this.send.phase, receivePhase: this.receive.phase };
  }

  /** True when the next sealed message must go out soon even without frames. */
  controlPending(): boolean {
    return this.replyToSend !== null || (this.wantRekey && this.pendingRequest === null);
  }

  rekeyDue(nowMs: number): boolean {
    if (this.pendingRequest !== null || this.replyToSend !== null || this.wantRekey) return false;
    const interval = this.role === 'initiator' ? this.options.rekeyIntervalMs : this.options.rekeyIntervalMs * 1.25;
    return nowMs - this.lastRekeyMs >= interval || this.send.counter >= this.options.rekeyMessagesMax;
  }

  /** Asks for a rekey request in the next sealed message. */
  requestRekey(): void {
    if (this.pendingRequest === null && this.replyToSend === null) this.wantRekey = true;
  }

  /** Seals frames (and any pending rekey control or goodbye) into one envelope. */
  seal(frames: Uint8Array[], nowMs: number, goodbye?: { code: CloseCode; reason: string }): Uint8Array {
    if (this.send.counter >= COUNTER_MAX) throw new Error('invariant violated: send counter exhausted without a rekey');
    const batch: BatchValue = { frames };
    if (this.wantRekey && this.pendingRequest === null && this.replyToSend === null) {
      this.pendingRequest = x25519Ephemeral();
      batch.rekeyRequest = this.pendingRequest.publicKey;
      this.wantRekey = false;
    }
    const reply = this.replyToSend;
    if (reply !== null) batch.rekeyReply = reply.ephemeral;
    if (goodbye !== undefined) batch.goodbye = goodbye;
    const block = this.options.paddingBlockBytes;
    if (block > 1) {
      let frameBytes = 0;
      for (const frame of frames) frameBytes += frame.byteLength;
      batch.paddingBytes = (block - (frameBytes % block)) % block;
    }
    const plaintext = encodeBatchShared(batch);
    const { key, counter } = this.send;
    const envelope = encodeSealedWith(this.send.phase, plaintext.byteLength + AEAD_TAG_BYTES, (target) =>
      aeadSealInto(target, key, counter, plaintext),
    );
    this.send.counter += 1;
    this.stats.messagesSealed += 1;
    if (reply !== null) {
      this.replyToSend = null;
      this.switchSend(reply.keys, nowMs);
    }
    return envelope;
  }

  private switchSend(keys: DirectionKeys, nowMs: number): void {
    const [sendKey] = this.ownDirections(keys.initiatorToResponder, keys.responderToInitiator);
    wipe(this.send.key);
    this.send = keySlot(sendKey, (this.send.phase + 1) & 0xff);
    this.lastRekeyMs = nowMs;
    this.stats.rekeys += 1;
  }

  /**
   * Opens one sealed message. `ciphertext` is left untouched and the frames are views into a
   * new buffer, so the caller may keep them. On failure nothing in the session changes.
   */
  open(phase: number, ciphertext: Uint8Array, nowMs: number): OpenResult {
    return this.openInPlace(phase, new Uint8Array(ciphertext), nowMs);
  }

  /**
   * Opens one sealed message by decrypting `ciphertext` in place: the caller hands the buffer
   * over (it must own it: not a uWS message buffer, which is reused after the callback), and the
   * frames are views into it. Saves a buffer and a copy per message. On failure nothing in the
   * session changes.
   */
  openInPlace(phase: number, ciphertext: Uint8Array, nowMs: number): OpenResult {
    let slot: KeySlot;
    if (phase === this.receive.phase) slot = this.receive;
    else if (this.receiveNext !== null && phase === this.receiveNext.phase) slot = this.receiveNext;
    else return this.failure(TransportErrorCode.DecryptFailed, `message under unknown key phase ${phase}`);
    const tag = ciphertext.byteLength >= AEAD_TAG_BYTES ? Buffer.from(ciphertext.subarray(ciphertext.byteLength - AEAD_TAG_BYTES)) : null;
    const plaintext = aeadOpenInPlace(slot.key, slot.counter, ciphertext);
    if (plaintext === null || tag === null) {
      const back = tag === null ? -1 : slot.recentTags.findIndex((seen) => seen.equals(tag));
      if (back >= 0) {
        const original = slot.counter - slot.recentTags.length + back;
        return this.failure(TransportErrorCode.Replayed, `replay of message ${original} (expected ${slot.counter})`);
      }
      return this.failure(TransportErrorCode.DecryptFailed, `message ${slot.counter} failed authentication (tampered, reordered or foreign)`);
    }
    const decoded = decodeBatch(plaintext, this.options.frameBytesMax);
    if (!decoded.ok) return this.failure(TransportErrorCode.Protocol, decoded.error.message);
    const batch = decoded.value;
    // Validate the control part fully before changing any state.
    if (batch.rekeyReply !== undefined && this.pendingRequest === null) {
      return this.failure(TransportErrorCode.Protocol, 'rekey reply without a request');
    }
    if (batch.rekeyRequest !== undefined && batch.rekeyReply !== undefined) {
      return this.failure(TransportErrorCode.Protocol, 'rekey request and reply in one message');
    }
    const answerRequest =
      batch.rekeyRequest !== undefined && !(this.pendingRequest !== null && this.role === 'initiator');
    if (answerRequest && (this.replyToSend !== null || this.receiveNext !== null && slot !== this.receiveNext)) {
      return this.failure(TransportErrorCode.Protocol, 'rekey request while a rekey is in progress');
    }
    let derived: { keys: DirectionKeys; ephemeral?: X25519KeyPair } | null = null;
    if (batch.rekeyReply !== undefined && this.pendingRequest !== null) {
      const shared = x25519(this.pendingRequest.secretKey, batch.rekeyReply);
      if (shared === null) return this.failure(TransportErrorCode.Protocol, 'rekey reply with a low-order key');
      derived = { keys: rekeyKeys(this.chainKey(), shared, this.pendingRequest.publicKey, batch.rekeyReply) };
      wipe(shared);
    } else if (answerRequest && batch.rekeyRequest !== undefined) {
      const ephemeral = x25519Ephemeral();
      const shared = x25519(ephemeral.secretKey, batch.rekeyRequest);
      if (shared === null) return this.failure(TransportErrorCode.Protocol, 'rekey request with a low-order key');
      derived = { keys: rekeyKeys(this.chainKey(), shared, batch.rekeyRequest, ephemeral.publicKey), ephemeral };
      wipe(shared);
    }

    // Commit.
    slot.counter += 1;
    slot.recentTags.push(tag);
    if (slot.recentTags.length > REPLAY_TAGS) slot.recentTags.shift();
    this.stats.messagesOpened += 1;
    if (slot === this.receiveNext) {
      wipe(this.receive.key);
      this.receive = slot;
      this.receiveNext = null;
    }
    if (derived !== null) {
      const [, receiveKey] = this.ownDirections(derived.keys.initiatorToResponder, derived.keys.responderToInitiator);
      if (this.chain !== null) wipe(this.chain);
      this.chain = derived.keys.chain;
      this.receiveNext = keySlot(receiveKey, (this.receive.phase + 1) & 0xff);
      if (derived.ephemeral !== undefined) {
        // We answer: the reply goes out under the current send key, then sending switches.
        if (this.pendingRequest !== null) {
          wipe(this.pendingRequest.secretKey);
          this.pendingRequest = null;
        }
        this.wantRekey = false;
        this.replyToSend = { ephemeral: derived.ephemeral.publicKey, keys: derived.keys };
        wipe(derived.ephemeral.secretKey);
      } else {
        wipe((this.pendingRequest as X25519KeyPair).secretKey);
        this.pendingRequest = null;
        this.switchSend(derived.keys, nowMs);
      }
    }
    const result: OpenResult = { ok: true, frames: batch.frames };
    if (batch.goodbye !== undefined) result.goodbye = batch.goodbye;
    return result;
  }

  private failure(code: TransportErrorCode, message: string): OpenResult {
    return { ok: false, error: new TransportError(code, message) };
  }

  /** Wipes every key; the session is unusable afterwards. */
  destroy(): void {
    wipe(this.send.key);
    wipe(this.receive.key);
    if (this.receiveNext !== null) wipe(this.receiveNext.key);
    if (this.chain !== null) wipe(this.chain);
    this.handshakeHash = null;
    if (this.pendingRequest !== null) wipe(this.pendingRequest.secretKey);
  }
}
