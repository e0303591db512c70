import type { Identity } from '../crypto/identity.js';
import { decodeEnvelope } from '../transport/codec.js';
import { wireBytesMax } from '../transport/channel.js';
import { ResponderHandshake } from '../transport/handshake.js';
import { Session } from '../transport/session.js';
import type { RelayConfig } from './config.js';
import type { LinkResponder, LinkSession, ResponderFactory, ResponderStep } from './secure_link.js';

/**
 * The relay's server side of the transport (purpose 'relay'), built from the transport's pure
 * handshake and session so a shard can drive them on raw uWS sockets: no timers, no pipe
 * objects, nothing allocated per connection beyond the handshake state and then the session.
 */

/** Largest control frame (relay messages are well under 100 bytes). */
export const CONTROL_FRAME_BYTES_MAX = 4096;
const REKEY_INTERVAL_MS = 3_600_000;
const REKEY_MESSAGES_MAX = 2 ** 32;

export function relayResponderFactory(identity: Identity, _config: RelayConfig): ResponderFactory {
  const envelopeBytesMax = wireBytesMax(CONTROL_FRAME_BYTES_MAX);
  return (): LinkResponder => {
    const handshake = new ResponderHandshake({ identity, purpose: 'relay', frameBytesMax: CONTROL_FRAME_BYTES_MAX });
    return {
      receive(message: Uint8Array): ResponderStep {
        const envelope = decodeEnvelope(message, envelopeBytesMax);
        if (!envelope.ok) return { kind: 'failed', replies: [], error: envelope.error.message };
        const step = handshake.receive(envelope.value);
        const replies = step.reply === undefined ? [] : [step.reply];
        if (!step.ok) return { kind: 'failed', replies, error: step.error.message };
        const session = new Session(
          step.result,
          { rekeyIntervalMs: REKEY_INTERVAL_MS, rekeyMessagesMax: REKEY_MESSAGES_MAX, paddingBlockBytes: 0, frameBytesMax: CONTROL_FRAME_BYTES_MAX },
          performance.now(),
        );
        return { kind: 'done', replies, remoteKey: step.result.remoteKey, session: new RelayLinkSession(session, envelopeBytesMax) };
      },
    };
  };
}

class RelayLinkSession implements LinkSession {
  constructor(
    private readonly session: Session,
    private readonly envelopeBytesMax: number,
  ) {}

  seal(plaintext: Uint8Array, nowMs: number): Uint8Array {
    return this.session.seal([plaintext], nowMs);
  }

  open(message: Uint8Array, nowMs: number): { frames: Uint8Array[]; replies: Uint8Array[]; goodbye: boolean } | null {
    const envelope = decodeEnvelope(message, this.envelopeBytesMax);
    if (!envelope.ok || envelope.value.kind !== 'sealed') return null;
    const opened = this.session.open(envelope.value.phase, envelope.value.ciphertext, nowMs);
    if (!opened.ok) return null;
    const replies = this.session.controlPending() ? [this.session.seal([], nowMs)] : [];
    return { frames: opened.frames, replies, goodbye: opened.goodbye !== undefined };
  }

  heartbeat(nowMs: number): Uint8Array {
    if (this.session.rekeyDue(nowMs)) this.session.requestRekey();
    return this.session.seal([], nowMs);
  }

  rekeyDue(nowMs: number): boolean {
    return this.session.rekeyDue(nowMs);
  }
}
