/** FramePipe over a `ws` WebSocket (the client side), and connectSecure on top of it. */
import WebSocket from 'ws';
import type { Identity } from '../crypto/identity.js';
import { resolveChannelOptions, SecureChannel, wireBytesMax, type ChannelOptions } from './channel.js';
import type { Purpose } from './constants.js';
import { TransportError, TransportErrorCode } from './errors.js';
import type { FramePipe } from './pipe.js';

/** WebSocket close codes the transport uses. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_TRANSPORT_ERROR = 4000;
const CLOSE_TOO_BIG = 1009;

/** Bytes in ws's buffer above which send callbacks are watched to report a drain. */
const DRAIN_WATCH_BYTES = 1024 * 1024;

export class WsPipe implements FramePipe {
  private messageHandler: (message: Uint8Array) => void = () => {};
  private closeHandler: (reason: string, localError?: TransportErrorCode) => void = () => {};
  private drainHandler: () => void = () => {};
  private closed = false;
  private closeNotified = false;
  private watchingDrain = false;
  private tooBig = false;

  constructor(readonly socket: WebSocket) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.closeNotified) return;
      if (!isBinary) {
        this.close('text message on a binary transport');
        return;
      }
      this.messageHandler(data);
    });
    socket.on('error', (error: Error & { code?: string }) => {
      // ws reports an oversized message as an error before closing with 1009.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.tooBig = true;
    });
    socket.on('close', (code: number, reason: Buffer) => {
      const text = reason.toString('utf8');
      const tooBig = this.tooBig || code === CLOSE_TOO_BIG;
      this.notifyClose(text === '' ? `websocket closed (${code})` : text, tooBig ? TransportErrorCode.FrameTooLarge : undefined);
    });
  }

  private notifyClose(reason: string, localError?: TransportErrorCode): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.closed = true;
    this.closeHandler(reason, localError);
  }

  send(message: Uint8Array): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.watchingDrain || this.socket.bufferedAmount > DRAIN_WATCH_BYTES) {
      this.watchingDrain = true;
      this.socket.send(message, { binary: true }, () => this.checkDrain());
    } else {
      this.socket.send(message, { binary: true });
    }
  }

  private checkDrain(): void {
    if (!this.watchingDrain || this.socket.bufferedAmount > DRAIN_WATCH_BYTES) return;
    this.watchingDrain = false;
    this.drainHandler();
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const code = reason.startsWith('ERR_') ? CLOSE_TRANSPORT_ERROR : CLOSE_NORMAL;
    try {
      this.socket.close(code, Buffer.from(reason, 'utf8').byteLength <= 123 ? reason : undefined);
    } catch {
      this.socket.terminate();
    }
    // ws emits 'close' only after the closing handshake; report the local close at once.
    this.notifyClose(reason);
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount;
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

export interface ConnectParams {
  identity: Identity;
  expectedRemoteKey: Uint8Array;
  purpose: Purpose;
  options?: ChannelOptions;
  /** Deadline for the TCP connect and WebSocket upgrade. Default 10 s. */
  connectTimeoutMs?: number;
}

/** Opens a WebSocket to `url` (ws://host:port/) and runs the initiator handshake over it. */
export async function connectSecure(url: string, params: ConnectParams): Promise<SecureChannel> {
  const options = resolveChannelOptions(params.options);
  const socket = await openSocket(url, wireBytesMax(options.frameBytesMax), params.connectTimeoutMs ?? 10_000);
  return SecureChannel.initiate(new WsPipe(socket), { ...params, options: { ...params.options, logger: options.logger } });
}

function openSocket(url: string, maxPayload: number, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { maxPayload, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const onError = (error: Error): void => {
      socket.removeListener('open', onOpen);
      socket.terminate();
      reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot connect to ${url}: ${error.message}`, { cause: error }));
    };
    const onOpen = (): void => {
      socket.removeListener('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('open', onOpen);
  });
}
