/**
 * Authenticated transport: every link in the system (node to relay, node to index, index to
 * index, app to node, and node to node end to end through a relay tunnel) is a SecureChannel
 * over a FramePipe.
 *
 * Layers, one module each, lowest first:
 *   pipe.ts        FramePipe: an ordered, reliable message pipe. Socket adapters: ws-pipe.ts (client,
 *                  `ws`) and uws-server.ts (server, uWebSockets.js); memoryPipePair for in-process use.
 *                  A relay tunnel is just another FramePipe, so the channel runs end to end over it.
 *   codec.ts       FlatBuffers (schemas/transport.fbs) encoders and bounds-checked decoders (fb-reader.ts).
 *   handshake.ts   Pure Noise IK state machines (noise-handshake on sodium-native). X25519 statics are
 *                  converted once from the Ed25519 identities (initiators' keys on a responder through a
 *                  bounded LRU, as nodes reconnect); each side's Ed25519 key travels encrypted
 *                  in its handshake payload and must convert to the static the handshake proved; the
 *                  initiator pins the responder's key from its ticket. The Noise prologue binds the
 *                  protocol version and the link purpose; cleartext copies of both in the first two
 *                  messages make a mismatch a readable error ("peer speaks transport v2, we speak v1").
 *   keys.ts        ChaCha20-Poly1305 IETF with implicit counter nonces, X25519 and the rekey KDF. Session keys
 *                  sit in ordinary buffers wiped at close (sodium_malloc per key was a tenth of a
 *                  handshake); identity keys stay in guarded memory.
 *   session.ts     Pure session: seals batches, opens them (strict counters: a replayed, reordered or
 *                  altered message closes the channel), DH rekey with fresh ephemerals and an overlap
 *                  window (key phases), bounded padding. seal() encrypts straight into the envelope;
 *                  open() copies, openInPlace() (the channel's path) decrypts in the received buffer.
 *   channel.ts     SecureChannel: drives handshake + session over a pipe; batches the frames queued in
 *                  one event-loop turn into one sealed message (so small frames reach 100k/s over a
 *                  socket that carries far fewer messages); handshake deadline, keepalive, dead-peer
 *                  timeout and rekey timer per channel; backpressure (send() returns false, onDrain).
 *
 * Wire, per pipe message (each an offset.transport.Envelope):
 *   I -> R  HandshakeInit{version, purpose, IK message 1 (payload: I's Ed25519 key, frame limit)}
 *   R -> I  HandshakeAccept{version, purpose, IK message 2 (payload: R's Ed25519 key, frame limit)}
 *           or HandshakeReject{code, version, purpose, reason}, then close
 *   I -> R  Sealed{phase, AEAD(Batch)}  key confirmation; R exposes the channel only after it opens,
 *           so a replayed message 1 never yields a channel. It carries whatever I queued as soon as
 *           its channel resolved (first frames, even a goodbye), else it goes out empty at the next
 *           turn; frames that came with a goodbye wait for R's frame handler.
 *   both    Sealed{phase, AEAD(Batch{frames, rekey request/reply, goodbye, padding <= 255 B})}
 *
 * Limits (all enforced before the bytes are used): a message above frameBytesMax + 1 KiB is refused
 * (uWS maxPayloadLength and ws maxPayload refuse it at the frame header, before buffering it);
 * handshake messages above 1 KiB are refused; padding is at most 255 bytes; at most 65,536 frames per
 * batch; concurrent handshakes per listener are capped (Busy reject beyond).
 *
 * Every failure closes the channel with a logged, typed reason (TransportErrorCode): wrong key,
 * decrypt failure (tampering), replay, oversized message, dead peer, version or purpose mismatch,
 * handshake timeout, unauthorized key, busy server, protocol violation.
 *
 * Tests: test/transport (every bad input over real sockets, rekey overlap, the noise-c IK vector),
 * test/fuzz/transport.test.ts (every decoder). Benchmark: npm run bench:transport [-- --quick]; its
 * handshake load comes from a lean raw-socket WebSocket client (benchmarks/lean-ws-pipe.ts, load
 * generation only) and from the product ws client, side by side.
 *
 * Known limits: an Ed25519 key and its negation convert to the same X25519 key, so the key a responder
 * reports could be the negation of the one the initiator holds; only the holder of the secret scalar
 * can produce either, so this does not let a third party impersonate anyone. A peer can make the
 * other side perform one X25519 per rekey request it sends.
 */
export { SecureChannel, resolveChannelOptions, wireBytesMax } from './channel.js';
export type { ChannelCounters, ChannelOptions, InitiateParams, RespondParams } from './channel.js';
export { Purposes, TRANSPORT_VERSION, FRAME_BYTES_MAX_DEFAULT } from './constants.js';
export type { Purpose } from './constants.js';
export { TransportError, TransportErrorCode } from './errors.js';
export { InitiatorHandshake, ResponderHandshake, noiseStatic } from './handshake.js';
export type { HandshakeResult, HandshakeStep, Role } from './handshake.js';
export { Session } from './session.js';
export type { SessionOptions, OpenResult } from './session.js';
export { memoryPipePair } from './pipe.js';
export type { FramePipe } from './pipe.js';
export { WsPipe, connectSecure, openPipe } from './ws-pipe.js';
export type { ConnectParams } from './ws-pipe.js';
export { UwsPipe, listenSecure } from './uws-server.js';
export type { ListenLimits, ListenParams, SecureListener } from './uws-server.js';
