/** FramePipe over a `ws` WebSocket (the client side), and connectSecure on top of it. */
import net from 'node:net';
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

const EARLY_MESSAGES_MAX = 16;

/**
 * Bytes in ws's buffer above which send callbacks are watched to report a drain (ws has no
 * drain event of its own). Below every sensible high-water mark, so a channel waiting for a
 * drain always hears of one.
 */
const DRAIN_WATCH_BYTES = 64 * 1024;

export class WsPipe implements FramePipe {
  private messageHandler: ((message: Uint8Array) => void) | null = null;
  private closeHandler: ((reason: string, localError?: TransportErrorCode) => void) | null = null;
  private drainHandler: () => void = () => {};
  /** Messages and a close that arrive before the handlers are set (a reject can follow the upgrade at once). */
  private early: Uint8Array[] = [];
  private earlyClose: [string, TransportErrorCode | undefined] | null = null;
  private closed = false;
  private closeNotified = false;
  private watchingDrain = false;
  private tooBig = false;
  private corked = false;

  /**
   * `tcp` is the WebSocket's TCP socket when the caller created it (openPipe does): messages
   * sent in one tick, such as a goodbye and the close frame after it, then leave in one write.
   */
  constructor(
    readonly socket: WebSocket,
    private readonly tcp: net.Socket | null = null,
  ) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.closeNotified) return;
      if (!isBinary) {
        this.close('text message on a binary transport');
        return;
      }
      if (this.messageHandler !== null) this.messageHandler(data);
      else if (this.early.length < EARLY_MESSAGES_MAX) this.early.push(data);
      else this.close('too many messages before the channel started');
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
    if (this.closeHandler !== null) this.closeHandler(reason, localError);
    else this.earlyClose = [reason, localError];
  }

  send(message: Uint8Array): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.corkForTick();
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

  /** Holds writes until the end of this tick, so everything sent in it goes out in one system call. */
  private corkForTick(): void {
    if (this.corked || this.tcp === null) return;
    this.corked = true;
    this.tcp.cork();
    process.nextTick(() => {
      this.corked = false;
      this.tcp?.uncork();
    });
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.socket.readyState === WebSocket.OPEN) this.corkForTick();
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
    this.deliverEarly();
  }

  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void {
    this.closeHandler = handler;
    this.deliverEarly();
  }

  private deliverEarly(): void {
    while (this.messageHandler !== null && this.early.length > 0) this.messageHandler(this.early.shift() as Uint8Array);
    if (this.closeHandler !== null && this.earlyClose !== null && this.early.length === 0) {
      const [reason, localError] = this.earlyClose;
      this.earlyClose = null;
      this.closeHandler(reason, localError);
    }
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
  const pipe = await openPipe(url, wireBytesMax(options.frameBytesMax), params.connectTimeoutMs ?? 10_000);
  return SecureChannel.initiate(pipe, { identity: params.identity, expectedRemoteKey: params.expectedRemoteKey, purpose: params.purpose, options });
}

/**
 * What ws does to open its TCP socket for a ws:// URL, done here so the pipe holds the socket
 * (see WsPipe's constructor). The options are the HTTP request's, whose `path` is the URL path:
 * like ws, connect by host and port (a `socketPath` would name a Unix socket).
 */
function connectTcp(created: (socket: net.Socket) => void): typeof net.createConnection {
  return ((options: net.NetConnectOpts & { socketPath?: string }) => {
    (options as { path?: string }).path = options.socketPath;
    const socket = net.connect(options);
    created(socket);
    return socket;
  }) as typeof net.createConnection;
}

/** Parsed URLs of the servers this process dials (few distinct ones), so each connect skips a parse. */
const parsedUrls = new Map<string, URL>();
const PARSED_URLS_MAX = 256;

function parseUrl(url: string): URL {
  let parsed = parsedUrls.get(url);
  if (parsed === undefined) {
    parsed = new URL(url);
    if (parsedUrls.size >= PARSED_URLS_MAX) parsedUrls.clear();
    parsedUrls.set(url, parsed);
  }
  return parsed;
}

/** Opens a WebSocket and wraps it at once, so nothing the server sends right after the upgrade is lost. */
export function openPipe(url: string, maxPayload: number, timeoutMs: number): Promise<WsPipe> {
  return new Promise((resolve, reject) => {
    let tcp: net.Socket | null = null;
    let socket: WebSocket;
    try {
      // No handshakeTimeout: ws implements it as an HTTP request timeout, which re-arms a
      // timer on every socket event; one plain timer (below) does the same job.
      // Already the cheapest ws setup for this use: no compression (its negotiation and zlib
      // state per socket), no agent (createConnection), the payload limit checked at the frame
      // header; UTF-8 checks skipped, as they apply only to text messages (refused here) and
      // close reasons (display text).
      socket = new WebSocket(parseUrl(url), {
        maxPayload,
        perMessageDeflate: false,
        skipUTF8Validation: true,
        createConnection: connectTcp((created) => (tcp = created)),
      });
    } catch (error) {
      reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot connect to ${url}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const onError = (error: Error): void => {
      clearTimeout(deadline);
      socket.removeListener('open', onOpen);
      socket.removeListener('error', onError);
      socket.on('error', () => {}); // terminating a socket still connecting reports an error too
      socket.terminate();
      reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot connect to ${url}: ${error.message}`, { cause: error }));
    };
    const onOpen = (): void => {
      clearTimeout(deadline);
      socket.removeListener('error', onError);
      resolve(new WsPipe(socket, tcp));
    };
    const deadline = setTimeout(() => onError(new Error(`no WebSocket upgrade within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', onError);
    socket.once('open', onOpen);
  });
}
