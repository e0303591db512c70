/**
 * Server side over uWebSockets.js: UwsPipe adapts one uWS WebSocket to a FramePipe, and
 * listenSecure runs the responder handshake on every connection with a cap on concurrent
 * handshakes. Code that runs its own uWS app (the relay, in worker threads) creates a UwsPipe
 * per socket, forwards its handlers' calls to it, and drives SecureChannel.respond itself.
 *
 * uWS facts this relies on: the message ArrayBuffer is valid only during the callback (it is
 * copied here); send() returns 2 when a message was dropped over maxBackpressure, which would
 * break the channel's counters, so the pipe closes instead; a WebSocket must not be touched
 * after its close handler ran; listen sockets must be closed before a worker thread exits.
 */
import uWS from '@trufflesuite/uws-js-unofficial';
import type { Identity } from '../crypto/identity.js';
import { CloseCode } from './codec.js';
import { resolveChannelOptions, SecureChannel, wireBytesMax, type ChannelOptions } from './channel.js';
import { purposeToWire, TRANSPORT_VERSION, type Purpose } from './constants.js';
import { encodeHandshakeReject } from './codec.js';
import { closeReasonText, TransportError, TransportErrorCode } from './errors.js';
import type { FramePipe } from './pipe.js';
import { CLOSE_NORMAL, CLOSE_TRANSPORT_ERROR } from './ws-pipe.js';
import { listenExclusive, listenShared } from './listen-port.js';
import { errorMessage } from '../common/errors.js';

const SEND_DROPPED = 2;
/** The text uWS closes with when a message exceeds maxPayloadLength. */
const UWS_TOO_BIG = 'Received too big message';

export class UwsPipe implements FramePipe {
  private messageHandler: (message: Uint8Array) => void = () => {};
  private closeHandler: (reason: string, localError?: TransportErrorCode) => void = () => {};
  private drainHandler: () => void = () => {};
  private closed = false;
  private socketGone = false;
  private closeNotified = false;

  constructor(readonly socket: uWS.WebSocket<unknown>) {}

  /** Call from the uWS `message` handler. */
  handleMessage(message: ArrayBuffer, isBinary = true): void {
    if (this.closeNotified) return;
    if (!isBinary) {
      this.close('text message on a binary transport');
      return;
    }
    this.messageHandler(new Uint8Array(message.slice(0)));
  }

  /** Call from the uWS `drain` handler. */
  handleDrain(): void {
    if (!this.socketGone) this.drainHandler();
  }

  /** Call from the uWS `close` handler. */
  handleClose(code: number, message: ArrayBuffer): void {
    this.socketGone = true;
    this.closed = true;
    const text = message.byteLength === 0 ? '' : Buffer.from(message).toString('utf8');
    const tooBig = text === UWS_TOO_BIG || code === 1009;
    this.notifyClose(text === '' ? `websocket closed (${code})` : text, tooBig ? TransportErrorCode.FrameTooLarge : undefined);
  }

  private notifyClose(reason: string, localError?: TransportErrorCode): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.closeHandler(reason, localError);
  }

  send(message: Uint8Array): void {
    if (this.closed) return;
    if (this.socket.send(message, true, false) === SEND_DROPPED) {
      const error = new TransportError(TransportErrorCode.Backpressure, 'socket send buffer over its limit');
      this.closed = true;
      this.notifyClose(error.message, error.code);
      this.socket.end(CLOSE_TRANSPORT_ERROR, closeReasonText(error));
    }
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.notifyClose(reason);
    if (!this.socketGone) {
      this.socket.end(reason.startsWith('ERR_') ? CLOSE_TRANSPORT_ERROR : CLOSE_NORMAL, Buffer.byteLength(reason, 'utf8') <= 123 ? reason : '');
    }
  }

  /** Closes the socket at once, without a WebSocket closing handshake. */
  terminate(): void {
    this.closed = true;
    this.notifyClose('terminated');
    if (!this.socketGone) {
      this.socketGone = true;
      this.socket.close();
    }
  }

  bufferedBytes(): number {
    return this.socketGone ? 0 : this.socket.getBufferedAmount();
  }

  onMessage(handler: (message: Uint8Array) => void): void {
    this.messageHandler = handler;
  }

  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void {
    this.closeHandler = handler;
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }
}

export interface ListenLimits {
  /** Handshakes in progress at once; further connections get a Busy reject. Default 512. */
  handshakesConcurrentMax?: number;
  /** Open connections (handshaking or open). Default 10,000. */
  connectionsMax?: number;
  /** uWS per-socket send buffer before a message would be dropped (the pipe closes instead). Default 64 MiB. */
  backpressureBytesMax?: number;
}

export interface ListenParams {
  host?: string;
  /** 0 lets the OS choose; the chosen port is in the result. */
  port: number;
  identity: Identity;
  purpose: Purpose;
  authorize?: (remoteKey: Uint8Array) => boolean;
  onChannel: (channel: SecureChannel) => void;
  /** Every failed handshake, with its typed reason (already logged). */
  onHandshakeError?: (error: TransportError) => void;
  limits?: ListenLimits;
  options?: ChannelOptions;
  /**
   * Share the port with the other listeners of this process that set it too (SO_REUSEPORT, each
   * typically in its own worker thread; the kernel spreads connections over them). The port must
   * be given (not 0), chosen and probed by the caller (probePort), so a port another server holds
   * is refused rather than shared. Default: the port is this listener's alone (listenExclusive).
   */
  sharedPort?: boolean;
}

export interface SecureListener {
  readonly port: number;
  /** Handshakes in progress. */
  handshakesInProgress(): number;
  /**
   * Stops listening and ends every connection: open channels say goodbye, handshakes are cut.
   * With `force`, sockets are closed at once without a closing handshake (what a worker thread
   * needs before it exits, or uWS aborts the process on open handles).
   */
  close(options?: { force?: boolean }): void;
}

interface SocketData {
  pipe?: UwsPipe;
}

export function listenSecure(params: ListenParams): Promise<SecureListener> {
  // Resolved once: every connection gets this same object, which respond() does not resolve again.
  const options = resolveChannelOptions(params.options);
  const handshakesMax = params.limits?.handshakesConcurrentMax ?? 512;
  const connectionsMax = params.limits?.connectionsMax ?? 10_000;
  const log = options.logger.child({ purpose: params.purpose, listener: true });
  const pipes = new Set<UwsPipe>();
  const channels = new Set<SecureChannel>();
  let handshaking = 0;
  let closing = false;

  const reportHandshakeError = (error: TransportError): void => {
    params.onHandshakeError?.(error);
  };

  const refuse = (pipe: UwsPipe, code: CloseCode, error: TransportError): void => {
    log.warn({ code: error.code }, error.message);
    pipe.send(encodeHandshakeReject(code, options.version ?? TRANSPORT_VERSION, purposeToWire(params.purpose), error.message));
    pipe.close(closeReasonText(error));
    reportHandshakeError(error);
  };

  const app = uWS.App();
  app.ws<SocketData>('/*', {
    maxPayloadLength: wireBytesMax(options.frameBytesMax),
    maxBackpressure: params.limits?.backpressureBytesMax ?? 64 * 1024 * 1024,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0, // liveness is the channel's keepalive and handshake deadline
    compression: uWS.DISABLED,
    open: (socket) => {
      const pipe = new UwsPipe(socket as uWS.WebSocket<unknown>);
      socket.getUserData().pipe = pipe;
      pipes.add(pipe);
      if (closing) return pipe.close('server closing');
      if (pipes.size > connectionsMax) {
        return refuse(pipe, CloseCode.Busy, new TransportError(TransportErrorCode.Busy, `connection limit ${connectionsMax} reached`));
      }
      if (handshaking >= handshakesMax) {
        return refuse(pipe, CloseCode.Busy, new TransportError(TransportErrorCode.Busy, `${handshakesMax} handshakes already in progress`));
      }
      handshaking += 1;
      SecureChannel.respond(pipe, { identity: params.identity, purpose: params.purpose, authorize: params.authorize, options }).then(
        (channel) => {
          handshaking -= 1;
          channels.add(channel);
          channel.onClose(() => channels.delete(channel));
          params.onChannel(channel);
        },
        (error: TransportError) => {
          handshaking -= 1;
          reportHandshakeError(error);
        },
      );
    },
    message: (socket, message, isBinary) => socket.getUserData().pipe?.handleMessage(message, isBinary),
    drain: (socket) => socket.getUserData().pipe?.handleDrain(),
    close: (socket, code, message) => {
      const pipe = socket.getUserData().pipe;
      if (pipe === undefined) return;
      pipes.delete(pipe);
      pipe.handleClose(code, message);
    },
  });

  return new Promise((resolve, reject) => {
    const host = params.host ?? '127.0.0.1';
    const listening = params.sharedPort ? listenShared(app, host, params.port) : listenExclusive(app, host, params.port);
    listening.then((token) => {
      if (token === false) {
        reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot listen on ${params.host ?? '127.0.0.1'}:${params.port}`));
        return;
      }
      const port = uWS.us_socket_local_port(token);
      resolve({
        port,
        handshakesInProgress: () => handshaking,
        close: (options) => {
          if (closing) return;
          closing = true;
          // The listen socket goes first, so no connection arrives while the others close. Our
          // side of each connection then closes first and lingers in TIME_WAIT; a successor
          // binds over that because listenExclusive (or listenShared) gave the listen socket SO_REUSEADDR.
          uWS.us_listen_socket_close(token);
          if (!options?.force) for (const channel of [...channels]) channel.close('server closing');
          for (const pipe of [...pipes]) {
            if (options?.force) pipe.terminate();
            else pipe.close('server closing');
          }
        },
      });
    }, (err: unknown) => {
      reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot listen on ${params.host ?? '127.0.0.1'}:${params.port}: ${errorMessage(err)}`));
    });
  });
}
