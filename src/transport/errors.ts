import { OffsetError } from '../common/errors.js';

/**
 * Why a handshake failed or a channel closed. Every bad input a peer can produce maps to one
 * of these codes; callers and tests match on the code, never on the message.
 */
export const TransportErrorCode = {
  /** The responder does not hold the pinned key, or the initiator's identity does not match its Noise static. */
  WrongKey: 'ERR_TRANSPORT_WRONG_KEY',
  /** A sealed message failed authentication: tampered, truncated, reordered or from another session. */
  DecryptFailed: 'ERR_TRANSPORT_DECRYPT_FAILED',
  /** A sealed message that already opened once arrived again. */
  Replayed: 'ERR_TRANSPORT_REPLAYED',
  /** A message above the negotiated maximum, refused before it was buffered. */
  FrameTooLarge: 'ERR_TRANSPORT_FRAME_TOO_LARGE',
  /** Nothing arrived within the dead-peer timeout. */
  DeadPeer: 'ERR_TRANSPORT_DEAD_PEER',
  VersionMismatch: 'ERR_TRANSPORT_VERSION_MISMATCH',
  PurposeMismatch: 'ERR_TRANSPORT_PURPOSE_MISMATCH',
  HandshakeTimeout: 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT',
  /** A malformed or undecryptable handshake message. */
  HandshakeFailed: 'ERR_TRANSPORT_HANDSHAKE_FAILED',
  /** The responder's authorize() refused the initiator's key. */
  Unauthorized: 'ERR_TRANSPORT_UNAUTHORIZED',
  /** The server is at its concurrent-handshake cap. */
  Busy: 'ERR_TRANSPORT_BUSY',
  /** A well-authenticated message that breaks the channel protocol (bad batch, bad rekey). */
  Protocol: 'ERR_TRANSPORT_PROTOCOL',
  /** The socket refused more data (uWS backpressure limit): the channel cannot drop a message. */
  Backpressure: 'ERR_TRANSPORT_BACKPRESSURE',
  /** Closed by this side. */
  Closed: 'ERR_TRANSPORT_CLOSED',
  /** The peer said goodbye. */
  PeerClosed: 'ERR_TRANSPORT_PEER_CLOSED',
  /** The pipe ended without a goodbye. */
  ConnectionLost: 'ERR_TRANSPORT_CONNECTION_LOST',
  /** Could not open the underlying socket. */
  ConnectFailed: 'ERR_TRANSPORT_CONNECT_FAILED',
} as const;

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

const knownCodes = new Set<string>(Object.values(TransportErrorCode));

export function isTransportErrorCode(value: string): value is TransportErrorCode {
  return knownCodes.has(value);
}

export class TransportError extends OffsetError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}

/**
 * A TransportError without a captured stack, for the reason a channel ended: every connection
 * ends once, usually normally, and the stack of an event handler says nothing. Capturing it
 * was a measurable part of a short connection's cost.
 */
export function closeError(code: TransportErrorCode, message: string): TransportError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new TransportError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The close reason carried by a socket close frame: `CODE: message`, cut to fit 123 bytes. */
export function closeReasonText(error: TransportError): string {
  const text = `${error.code}: ${error.message}`;
  const bytes = Buffer.from(text, 'utf8');
  return bytes.byteLength <= 123 ? text : bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

/** Recovers the code from a close reason written by closeReasonText, if there is one. */
export function codeFromCloseReason(reason: string): TransportErrorCode | undefined {
  const match = /^(ERR_TRANSPORT_[A-Z_]+):/.exec(reason);
  return match !== null && isTransportErrorCode(match[1]) ? match[1] : undefined;
}
