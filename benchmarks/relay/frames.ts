import { decodeTunnelFrame, encodeTunnelData } from '../../src/relay/codec.js';

/**
 * Pre-built WebSocket traffic for the relay benchmark's load generator. The `ws` library tops
 * out near 75k messages a second per core, below what the relay forwards, so once a tunnel is
 * spliced the generator writes whole batches of ready-made WebSocket frames straight to the TCP
 * socket and parses what comes back by hand. Client frames are masked with a zero key (allowed
 * by RFC 6455, and it leaves the payload bytes as they are).
 */

/** One client->server WebSocket binary frame around `payload`, masked with a zero key. */
export function maskedFrame(payload: Uint8Array): Buffer {
  const n = payload.byteLength;
  const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.alloc(header + 4 + n);
  out[0] = 0x82; // FIN + binary
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  // Mask key: four zero bytes (already zero).
  out.set(payload, header + 4);
  return out;
}

export interface Batch {
  bytes: Buffer;
  frames: number;
  /** Sum of TunnelFrame lengths: what the relay charges against the sender's window. */
  windowBytes: number;
}

/** About `targetBytes` of frames each carrying a Data TunnelFrame with `payloadBytes` of payload. */
export function buildBatch(payloadBytes: number, targetBytes: number): Batch {
  const tunnelFrame = encodeTunnelData(new Uint8Array(payloadBytes).fill(0x5a));
  const one = maskedFrame(tunnelFrame);
  const count = Math.max(1, Math.floor(targetBytes / one.byteLength));
  const bytes = Buffer.alloc(one.byteLength * count);
  for (let i = 0; i < count; i++) one.copy(bytes, i * one.byteLength);
  return { bytes, frames: count, windowBytes: count * tunnelFrame.byteLength };
}

/**
 * Splits a byte stream into WebSocket frames (masked or not) and reports each payload. Keeps a
 * partial frame across chunks. Control frames are reported too (opcode given).
 */
export class FrameParser {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: (opcode: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      const opcode = buf[at] & 0x0f;
      const masked = (buf[at + 1] & 0x80) !== 0;
      let len = buf[at + 1] & 0x7f;
      let header = 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        header = 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        header = 10;
      }
      if (masked) header += 4;
      if (buf.length - at < header + len) break;
      this.onFrame(opcode, buf.subarray(at + header, at + header + len));
      at += header + len;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
    buf = Buffer.alloc(0);
  }
}

/** Credit granted by one relay->client frame, or 0 for anything else. */
export function creditOf(payload: Buffer): number {
  const decoded = decodeTunnelFrame(payload);
  return decoded.ok && decoded.value.kind === 'credit' ? decoded.value.bytes : 0;
}
