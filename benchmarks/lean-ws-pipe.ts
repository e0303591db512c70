/**
 * Load-generation code for benchmarks/transport.ts, not product code (the product client is
 * src/transport/ws-pipe.ts on `ws`): a minimal RFC 6455 client over a raw `net` socket, exposed
 * as a FramePipe so the product SecureChannel (handshake, session, key confirmation, goodbye)
 * runs over it unchanged.
 *
 * It does what a WebSocket client must, and little else: a real HTTP/1.1 upgrade request with a
 * fresh random Sec-WebSocket-Key, the 101 status and Sec-WebSocket-Accept checked before any
 * frame is sent, masked binary frames with a fresh random mask, the server's frames parsed
 * (binary, close, ping; fragments joined), and the close handshake. What it leaves out is what
 * a server's capacity does not depend on: no HTTP client stack, no extensions, no
 * subprotocols, no redirects, no proxy, no text frames, one message handler per socket.
 *
 * Reads go into one 64 KiB buffer per thread (net's `onread`) and each message is copied out
 * of it, so a read costs no buffer allocation; the channel owns (and decrypts in place) every
 * message it is given.
 */
import { createHash, randomFillSync } from 'node:crypto';
import net from 'node:net';
import type { FramePipe } from '../src/transport/pipe.js';
import { TransportError, TransportErrorCode } from '../src/transport/errors.js';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE_CONTINUATION = 0x0;
const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
const CLOSE_NORMAL = 1000;
const CLOSE_TRANSPORT_ERROR = 4000;
const RESPONSE_HEAD_BYTES_MAX = 4096;

/** Random bytes for keys and masks, drawn from a refilled pool (one system call per 4 KiB). */
const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.byteLength;

function randomBytes(count: number): Buffer {
  if (randomOffset + count > randomPool.byteLength) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const out = randomPool.subarray(randomOffset, randomOffset + count);
  randomOffset += count;
  return out;
}

/** The thread's read buffer: data is parsed (and messages copied out) before the next read. */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

/** A client frame: FIN, opcode, mask bit, length, a fresh random mask, the masked payload. */
function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const length = payload.byteLength;
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 0x10000) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const mask = randomBytes(4);
  frame.set(mask, header);
  const start = header + 4;
  for (let i = 0; i < length; i++) frame[start + i] = payload[i] ^ mask[i & 3];
  return frame;
}

function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const payload = Buffer.allocUnsafe(2 + (text.byteLength <= 123 ? text.byteLength : 0));
  payload.writeUInt16BE(code, 0);
  if (text.byteLength <= 123) payload.set(text, 2);
  return payload;
}

function flushOutgoing(pipe: LeanWsPipe): void {
  pipe.flushOutgoing();
}

export class LeanWsPipe implements FramePipe {
  private messageHandler: ((message: Uint8Array) => void) | null = null;
  private closeHandler: ((reason: string, localError?: TransportErrorCode) => void) | null = null;
  private drainHandler: () => void = () => {};
  private early: Uint8Array[] = [];
  private earlyClose: string | null = null;
  private closed = false;
  private closeNotified = false;
  /** Frames sent in this tick, written together at its end (the goodbye and the close frame: one system call). */
  private outgoing: Buffer[] = [];
  /** Bytes of a frame not complete yet (a frame split over reads). */
  private pending: Buffer | null = null;
  private fragments: Buffer[] = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly maxPayload: number,
  ) {
    socket.on('drain', () => this.drainHandler());
  }

  /** Called by the socket's read callback with bytes that follow the upgrade response. */
  receive(bytes: Buffer): void {
    let data = this.pending === null ? bytes : Buffer.concat([this.pending, bytes]);
    this.pending = null;
    let offset = 0;
    while (!this.closeNotified) {
      const left = data.byteLength - offset;
      if (left < 2) break;
      const first = data[offset];
      const second = data[offset + 1];
      if ((second & 0x80) !== 0) return this.fail('server sent a masked frame');
      let length = second & 0x7f;
      let header = 2;
      if (length === 126) {
        if (left < 4) break;
        length = data.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (left < 10) break;
        length = data.readUInt32BE(offset + 2) * 0x1_0000_0000 + data.readUInt32BE(offset + 6);
        header = 10;
      }
      if (length > this.maxPayload) return this.fail(`server frame of ${length} bytes over the limit`, TransportErrorCode.FrameTooLarge);
      if (left < header + length) break;
      // A copy: the read buffer is reused, and the channel owns what it is given.
      const payload = Buffer.from(data.subarray(offset + header, offset + header + length));
      offset += header + length;
      this.frame(first, payload);
    }
    if (offset < data.byteLength && !this.closeNotified) {
      if (data === bytes) data = Buffer.from(data); // keep a partial frame beyond this read
      this.pending = data.subarray(offset);
    }
  }

  private frame(first: number, payload: Buffer): void {
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    switch (opcode) {
      case OPCODE_BINARY:
      case OPCODE_CONTINUATION:
        if (opcode === OPCODE_BINARY && this.fragments.length > 0) return this.fail('new message inside a fragmented one');
        if (opcode === OPCODE_CONTINUATION && this.fragments.length === 0) return this.fail('continuation without a message');
        if (!fin) {
          this.fragments.push(payload);
          return;
        }
        if (this.fragments.length > 0) {
          this.fragments.push(payload);
          payload = Buffer.concat(this.fragments);
          this.fragments = [];
        }
        return this.deliver(payload);
      case OPCODE_TEXT:
        return this.fail('text message on a binary transport');
      case OPCODE_PING:
        this.write(clientFrame(OPCODE_PONG, payload));
        return;
      case OPCODE_PONG:
        return;
      case OPCODE_CLOSE: {
        const code = payload.byteLength >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.byteLength > 2 ? payload.subarray(2).toString('utf8') : '';
        // Answer the close (if this side has not sent one) and let the server end the TCP connection.
        if (!this.closed) this.write(clientFrame(OPCODE_CLOSE, payload.subarray(0, Math.min(2, payload.byteLength))));
        this.closed = true;
        this.notifyClose(reason === '' ? `websocket closed (${code})` : reason, code === 1009 ? TransportErrorCode.FrameTooLarge : undefined);
        return;
      }
      default:
        return this.fail(`unknown opcode ${opcode}`);
    }
  }

  private deliver(message: Uint8Array): void {
    if (this.messageHandler !== null) this.messageHandler(message);
    else if (this.early.length < 16) this.early.push(message);
    else this.fail('too many messages before the channel started');
  }

  private fail(reason: string, localError?: TransportErrorCode): void {
    if (!this.closed) {
      this.closed = true;
      this.write(clientFrame(OPCODE_CLOSE, closePayload(CLOSE_TRANSPORT_ERROR, reason)));
    }
    this.notifyClose(reason, localError);
  }

  /** The TCP connection ended or failed. */
  socketGone(reason: string): void {
    this.closed = true;
    this.notifyClose(reason);
  }

  private notifyClose(reason: string, localError?: TransportErrorCode): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.closed = true;
    if (this.closeHandler !== null) this.closeHandler(reason, localError);
    else this.earlyClose = reason;
  }

  private write(frame: Buffer): void {
    if (this.outgoing.push(frame) === 1) process.nextTick(flushOutgoing, this);
  }

  /** Writes the frames queued in this tick as one buffer (a plain write, not a writev). */
  flushOutgoing(): void {
    const frames = this.outgoing;
    this.outgoing = [];
    if (this.socket.destroyed) return;
    this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  send(message: Uint8Array): void {
    if (this.closed) return;
    this.write(clientFrame(OPCODE_BINARY, message));
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.write(clientFrame(OPCODE_CLOSE, closePayload(reason.startsWith('ERR_') ? CLOSE_TRANSPORT_ERROR : CLOSE_NORMAL, reason)));
    this.notifyClose(reason);
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  onMessage(handler: (message: Uint8Array) => void): void {
    this.messageHandler = handler;
    while (this.early.length > 0) handler(this.early.shift() as Uint8Array);
  }

  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void {
    this.closeHandler = handler;
    if (this.earlyClose !== null && this.early.length === 0) {
      const reason = this.earlyClose;
      this.earlyClose = null;
      handler(reason);
    }
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }
}

/**
 * Connects to `host:port`, upgrades to WebSocket on `path` and resolves with the pipe once the
 * server's 101 response and its Sec-WebSocket-Accept checked out.
 */
export function openLeanPipe(host: string, port: number, path: string, maxPayload: number, timeoutMs: number): Promise<LeanWsPipe> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
    let pipe: LeanWsPipe | null = null;
    let head: Buffer | null = null;
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      reject(new TransportError(TransportErrorCode.ConnectFailed, `cannot connect to ${host}:${port}: ${message}`));
    };
    const upgraded = (response: Buffer, end: number): void => {
      const text = response.subarray(0, end).toString('latin1');
      const lines = text.split('\r\n');
      if (!/^HTTP\/1\.1 101 /.test(lines[0])) return fail(`upgrade refused: ${lines[0]}`);
      let accept: string | null = null;
      let upgrade = false;
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        if (colon < 0) continue;
        const name = lines[i].slice(0, colon).trim().toLowerCase();
        const value = lines[i].slice(colon + 1).trim();
        if (name === 'sec-websocket-accept') accept = value;
        else if (name === 'upgrade') upgrade = value.toLowerCase() === 'websocket';
      }
      if (!upgrade) return fail('response lacks Upgrade: websocket');
      if (accept !== expectedAccept) return fail('wrong Sec-WebSocket-Accept');
      settled = true;
      clearTimeout(deadline);
      pipe = new LeanWsPipe(socket, maxPayload);
      resolve(pipe);
      const rest = response.subarray(end + 4);
      if (rest.byteLength > 0) pipe.receive(Buffer.from(rest));
    };
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          const chunk = buffer.subarray(0, bytes) as Buffer;
          if (pipe !== null) {
            pipe.receive(chunk);
            return true;
          }
          head = head === null ? Buffer.from(chunk) : Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end >= 0) upgraded(head, end);
          else if (head.byteLength > RESPONSE_HEAD_BYTES_MAX) fail('upgrade response head too long');
          return true;
        },
      },
    });
    socket.on('connect', () => {
      socket.write(
        Buffer.from(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          'latin1',
        ),
      );
    });
    socket.on('error', (error) => {
      if (pipe !== null) pipe.socketGone(`socket error: ${error.message}`);
      else fail(error.message);
    });
    socket.on('close', () => {
      if (pipe !== null) pipe.socketGone('connection closed');
      else fail('connection closed during the upgrade');
    });
    const deadline = setTimeout(() => fail(`no WebSocket upgrade within ${timeoutMs} ms`), timeoutMs);
  });
}
