/**
 * What the relay needs from the transport layer on its server side, as a narrow interface:
 * the responder half of the Noise handshake (purpose 'relay') driven message by message on a raw
 * uWS socket, then a session that seals and opens the relay's control messages. Keeping the
 * shard behind this interface keeps the uWS hot path free of transport types and lets the
 * handshake run inside worker threads.
 */
export interface LinkSession {
  /** One WebSocket message carrying `plaintext`. */
  seal(plaintext: Uint8Array, nowMs: number): Uint8Array;
  /**
   * Opens one WebSocket message: its plaintext frames (possibly none: a keepalive), messages the
   * session must send in answer (rekey), and whether the peer said goodbye. Null when it does not
   * authenticate; the connection is then closed.
   */
  open(message: Uint8Array, nowMs: number): { frames: Uint8Array[]; replies: Uint8Array[]; goodbye: boolean } | null;
  /** A message to send when the link has been quiet for a while, or a rekey is due. */
  heartbeat(nowMs: number): Uint8Array;
  /** True when a rekey is due (the next heartbeat carries it). */
  rekeyDue(nowMs: number): boolean;
}

export type ResponderStep =
  | { kind: 'continue'; replies: Uint8Array[] }
  | { kind: 'done'; replies: Uint8Array[]; remoteKey: Uint8Array; session: LinkSession }
  | { kind: 'failed'; replies: Uint8Array[]; error: string };

export interface LinkResponder {
  receive(message: Uint8Array): ResponderStep;
}

export type ResponderFactory = () => LinkResponder;
