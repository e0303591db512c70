import { OffsetError } from '../common/errors.js';

/** Errors of the relay layer. Codes are stable; callers match on `code`, never on text. */
export class RelayError extends OffsetError {}

/** Peer bytes that are not a valid relay message. */
export class RelayDecodeError extends RelayError {
  constructor(message: string) {
    super('ERR_RELAY_DECODE', message);
  }
}

/** A relay ended a connect, accept or tunnel; `reason` is the wire Reason name. */
export class RelayClosedError extends RelayError {
  readonly reason: string;
  constructor(reason: string, message = `relay closed the connection: ${reason}`) {
    super('ERR_RELAY_CLOSED', message);
    this.reason = reason;
  }
}

/** A client-side deadline passed (connect through a relay, or the relay handshake). */
export class RelayTimeoutError extends RelayError {
  constructor(message: string) {
    super('ERR_RELAY_TIMEOUT', message);
  }
}

/** The relay configuration is invalid; the message names the field. */
export class RelayConfigError extends RelayError {
  constructor(message: string) {
    super('ERR_RELAY_CONFIG', message);
  }
}

/** The relay cannot listen on its address (another server holds the port, or it is not local). */
export class RelayListenError extends RelayError {
  constructor(message: string) {
    super('ERR_RELAY_LISTEN', message);
  }
}
