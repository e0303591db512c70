/**
 * Encoders and verifying decoders for schemas/transport.fbs. Decoders take untrusted bytes,
 * run the shared verifier (src/wire/verify.ts), then read through FbReader, which checks every
 * read again and enforces this layer's own bounds (vector lengths, key sizes, reason lengths);
 * they return plain values or a reason and never throw on peer input. Byte fields in decoded
 * values are views into the input buffer: callers that keep them past the input's lifetime copy.
 */
import { Builder, type ByteBuffer } from 'flatbuffers';
import { PublicKey } from '../wire/generated/offset/common/public-key.js';
import { Batch } from '../wire/generated/offset/transport/batch.js';
import { CloseCode } from '../wire/generated/offset/transport/close-code.js';
import { Envelope } from '../wire/generated/offset/transport/envelope.js';
import { Goodbye } from '../wire/generated/offset/transport/goodbye.js';
import { HandshakeAccept } from '../wire/generated/offset/transport/handshake-accept.js';
import { HandshakeInit } from '../wire/generated/offset/transport/handshake-init.js';
import { HandshakePayload } from '../wire/generated/offset/transport/handshake-payload.js';
import { HandshakeReject } from '../wire/generated/offset/transport/handshake-reject.js';
import { Message } from '../wire/generated/offset/transport/message.js';
import { Rekey } from '../wire/generated/offset/transport/rekey.js';
import { Sealed } from '../wire/generated/offset/transport/sealed.js';
import { BATCH_FRAMES_MAX, HANDSHAKE_MESSAGE_BYTES_MAX, KEY_BYTES, PADDING_BYTES_MAX, REASON_BYTES_MAX } from './constants.js';
import { FbReader, type TableRef } from './fb-reader.js';
import { verifyBuffer } from '../wire/verify.js';
import { malformed, type DecodeResult } from '../wire/decode.js';

export { CloseCode };

export type { DecodeResult };

function fail<T>(problem: string): DecodeResult<T> {
  return malformed('offset.transport', problem);
}

// ---------------------------------------------------------------------------------------------
// Envelope (cleartext, on the pipe)

export type EnvelopeMessage =
  | { kind: 'init'; version: number; purpose: number; noise: Uint8Array }
  | { kind: 'accept'; version: number; purpose: number; noise: Uint8Array }
  | { kind: 'reject'; code: CloseCode; version: number; purpose: number; reason: string }
  | { kind: 'sealed'; phase: number; ciphertext: Uint8Array };

function finishEnvelope(builder: Builder, type: Message, message: number): Uint8Array {
  Envelope.startEnvelope(builder);
  Envelope.addMessageType(builder, type);
  Envelope.addMessage(builder, message);
  builder.finish(Envelope.endEnvelope(builder));
  return builder.asUint8Array();
}

export function encodeHandshakeInit(version: number, purpose: number, noise: Uint8Array): Uint8Array {
  const builder = new Builder(noise.byteLength + 64);
  const noiseOffset = builder.createByteVector(noise);
  return finishEnvelope(builder, Message.HandshakeInit, HandshakeInit.createHandshakeInit(builder, version, purpose, noiseOffset));
}

export function encodeHandshakeAccept(version: number, purpose: number, noise: Uint8Array): Uint8Array {
  const builder = new Builder(noise.byteLength + 64);
  const noiseOffset = builder.createByteVector(noise);
  return finishEnvelope(
    builder,
    Message.HandshakeAccept,
    HandshakeAccept.createHandshakeAccept(builder, version, purpose, noiseOffset),
  );
}

export function encodeHandshakeReject(code: CloseCode, version: number, purpose: number, reason: string): Uint8Array {
  const builder = new Builder(128);
  const reasonOffset = builder.createString(truncateUtf8(reason, REASON_BYTES_MAX));
  return finishEnvelope(
    builder,
    Message.HandshakeReject,
    HandshakeReject.createHandshakeReject(builder, code, version, purpose, reasonOffset),
  );
}

export function encodeSealed(phase: number, ciphertext: Uint8Array): Uint8Array {
  return encodeSealedWith(phase, ciphertext.byteLength, (target) => target.set(ciphertext));
}

/**
 * Encodes a Sealed envelope whose ciphertext `fill` writes straight into the envelope's buffer,
 * so sealing costs one buffer per message and no copy of the ciphertext.
 */
export function encodeSealedWith(phase: number, ciphertextBytes: number, fill: (target: Uint8Array) => void): Uint8Array {
  const builder = new Builder(ciphertextBytes + 64);
  const ciphertextOffset = reserveByteVector(builder, ciphertextBytes);
  const envelope = finishEnvelope(builder, Message.Sealed, Sealed.createSealed(builder, phase, ciphertextOffset));
  fill(vectorData(builder, ciphertextOffset, ciphertextBytes));
  return envelope;
}

/** The fields of flatbuffers' Builder that createByteVector itself uses. */
interface BuilderInternals {
  space: number;
  bb: ByteBuffer;
}

/** createByteVector without the source bytes: reserves `length` bytes to be written later. */
function reserveByteVector(builder: Builder, length: number): number {
  builder.startVector(1, length, 1);
  const raw = builder as unknown as BuilderInternals;
  raw.space -= length;
  raw.bb.setPosition(raw.space);
  return builder.endVector();
}

/** The data of a vector by its builder offset (offsets count from the buffer's end, so they survive growth). */
function vectorData(builder: Builder, vectorOffset: number, length: number): Uint8Array {
  const bb = builder.dataBuffer();
  const start = bb.capacity() - vectorOffset + 4;
  return bb.bytes().subarray(start, start + length);
}

/** Encodes any envelope message (the inverse of decodeEnvelope). */
export function encodeEnvelope(message: EnvelopeMessage): Uint8Array {
  switch (message.kind) {
    case 'init':
      return encodeHandshakeInit(message.version, message.purpose, message.noise);
    case 'accept':
      return encodeHandshakeAccept(message.version, message.purpose, message.noise);
    case 'reject':
      return encodeHandshakeReject(message.code, message.version, message.purpose, message.reason);
    case 'sealed':
      return encodeSealed(message.phase, message.ciphertext);
  }
}

/**
 * Decodes one pipe message. `ciphertextBytesMax` bounds a sealed message; handshake messages
 * are bounded by HANDSHAKE_MESSAGE_BYTES_MAX.
 */
export function decodeEnvelope(bytes: Uint8Array, ciphertextBytesMax: number): DecodeResult<EnvelopeMessage> {
  const invalid = verifyBuffer(bytes, 'offset.transport.Envelope');
  if (invalid !== null) return { ok: false, error: invalid };
  const reader = new FbReader(bytes);
  const root = reader.root();
  if (root === null) return fail('envelope: malformed root table');
  const type = reader.u8(root, 0);
  const body = reader.subtable(root, 1);
  if (type === null || body === null) return fail('envelope: malformed');
  if (body === undefined) return fail('envelope: no message');
  switch (type) {
    case Message.HandshakeInit:
    case Message.HandshakeAccept: {
      const version = reader.u32(body, 0);
      const purpose = reader.u8(body, 1);
      const noise = reader.byteVector(body, 2, HANDSHAKE_MESSAGE_BYTES_MAX);
      if (version === null || purpose === null || noise === null) return fail('handshake: malformed');
      return {
        ok: true,
        value: { kind: type === Message.HandshakeInit ? 'init' : 'accept', version, purpose, noise: noise ?? new Uint8Array(0) },
      };
    }
    case Message.HandshakeReject: {
      const code = reader.u16(body, 0);
      const version = reader.u32(body, 1);
      const purpose = reader.u8(body, 2);
      const reason = reader.string(body, 3, REASON_BYTES_MAX);
      if (code === null || version === null || purpose === null || reason === null) return fail('reject: malformed');
      return { ok: true, value: { kind: 'reject', code: code as CloseCode, version, purpose, reason: reason ?? '' } };
    }
    case Message.Sealed: {
      const phase = reader.u8(body, 0);
      const ciphertext = reader.byteVector(body, 1, ciphertextBytesMax);
      if (phase === null || ciphertext === null) return fail('sealed: malformed or too large');
      if (ciphertext === undefined) return fail('sealed: no ciphertext');
      return { ok: true, value: { kind: 'sealed', phase, ciphertext } };
    }
    default:
      return fail(`envelope: unknown message type ${type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Handshake payload (inside Noise)

export interface HandshakePayloadValue {
  identity: Uint8Array;
  frameBytesMax: number;
}

export function encodeHandshakePayload(value: HandshakePayloadValue): Uint8Array {
  const builder = new Builder(96);
  HandshakePayload.startHandshakePayload(builder);
  HandshakePayload.addIdentity(builder, PublicKey.createPublicKey(builder, Array.from(value.identity)));
  HandshakePayload.addFrameBytesMax(builder, value.frameBytesMax);
  builder.finish(HandshakePayload.endHandshakePayload(builder));
  return builder.asUint8Array();
}

export function decodeHandshakePayload(bytes: Uint8Array): DecodeResult<HandshakePayloadValue> {
  const invalid = verifyBuffer(bytes, 'offset.transport.HandshakePayload');
  if (invalid !== null) return { ok: false, error: invalid };
  const reader = new FbReader(bytes);
  const root = reader.root();
  if (root === null) return fail('handshake payload: malformed root table');
  const identity = reader.struct(root, 0, KEY_BYTES);
  const frameBytesMax = reader.u32(root, 1);
  if (identity === null || frameBytesMax === null) return fail('handshake payload: malformed');
  if (identity === undefined) return fail('handshake payload: no identity');
  return { ok: true, value: { identity: new Uint8Array(identity), frameBytesMax } };
}

// ---------------------------------------------------------------------------------------------
// Batch (plaintext of a sealed message)

export interface BatchValue {
  frames: Uint8Array[];
  rekeyRequest?: Uint8Array;
  rekeyReply?: Uint8Array;
  goodbye?: { code: CloseCode; reason: string };
  paddingBytes?: number;
}

function createRekey(builder: Builder, ephemeral: Uint8Array): number {
  const vector = builder.createByteVector(ephemeral);
  return Rekey.createRekey(builder, vector);
}

/** Encodes a batch into a new buffer. */
export function encodeBatch(batch: BatchValue): Uint8Array {
  return encodeBatchShared(batch).slice();
}

/** One builder per thread for batch plaintexts, which are encrypted and dropped at once. */
let sharedBuilder = new Builder(64 * 1024);
const SHARED_BUILDER_KEEP_BYTES = 4 * 1024 * 1024;

/**
 * Encodes a batch into a buffer shared by every call on this thread: the result is valid only
 * until the next call. Frames are concatenated into one byte vector with a parallel length
 * vector, so a batch of many small frames costs one copy and no per-frame tables.
 */
export function encodeBatchShared(batch: BatchValue): Uint8Array {
  let frameBytes = 0;
  for (const frame of batch.frames) frameBytes += frame.byteLength;
  if (sharedBuilder.dataBuffer().capacity() > SHARED_BUILDER_KEEP_BYTES) sharedBuilder = new Builder(64 * 1024);
  const builder = sharedBuilder;
  builder.clear();
  const paddingBytes = batch.paddingBytes ?? 0;
  const padding = paddingBytes > 0 ? builder.createByteVector(new Uint8Array(paddingBytes)) : 0;
  const goodbye =
    batch.goodbye !== undefined
      ? Goodbye.createGoodbye(builder, batch.goodbye.code, builder.createString(truncateUtf8(batch.goodbye.reason, REASON_BYTES_MAX)))
      : 0;
  const rekeyReply = batch.rekeyReply !== undefined ? createRekey(builder, batch.rekeyReply) : 0;
  const rekeyRequest = batch.rekeyRequest !== undefined ? createRekey(builder, batch.rekeyRequest) : 0;
  let lengths = 0;
  let bytes = 0;
  if (batch.frames.length > 0) {
    bytes = reserveByteVector(builder, frameBytes);
    let at = 0;
    const target = vectorData(builder, bytes, frameBytes);
    for (const frame of batch.frames) {
      target.set(frame, at);
      at += frame.byteLength;
    }
    builder.startVector(4, batch.frames.length, 4);
    for (let i = batch.frames.length - 1; i >= 0; i--) builder.addInt32(batch.frames[i].byteLength);
    lengths = builder.endVector();
  }
  Batch.startBatch(builder);
  if (lengths !== 0) {
    Batch.addFrameLengths(builder, lengths);
    Batch.addFrameBytes(builder, bytes);
  }
  if (rekeyRequest !== 0) Batch.addRekeyRequest(builder, rekeyRequest);
  if (rekeyReply !== 0) Batch.addRekeyReply(builder, rekeyReply);
  if (goodbye !== 0) Batch.addGoodbye(builder, goodbye);
  if (padding !== 0) Batch.addPadding(builder, padding);
  builder.finish(Batch.endBatch(builder));
  return builder.asUint8Array();
}

function decodeRekey(reader: FbReader, table: TableRef | undefined | null): Uint8Array | undefined | null {
  if (table === null) return null;
  if (table === undefined) return undefined;
  const ephemeral = reader.byteVector(table, 0, KEY_BYTES);
  if (ephemeral === null || ephemeral === undefined || ephemeral.byteLength !== KEY_BYTES) return null;
  return ephemeral;
}

/** Decodes a batch; every frame must be at most `frameBytesMax`. Frames are views into `bytes`. */
export function decodeBatch(bytes: Uint8Array, frameBytesMax: number): DecodeResult<BatchValue> {
  const invalid = verifyBuffer(bytes, 'offset.transport.Batch');
  if (invalid !== null) return { ok: false, error: invalid };
  const reader = new FbReader(bytes);
  const root = reader.root();
  if (root === null) return fail('batch: malformed root table');
  const lengths = reader.u32Vector(root, 0, BATCH_FRAMES_MAX);
  const joined = reader.byteVector(root, 1, bytes.byteLength);
  const rekeyRequest = decodeRekey(reader, reader.subtable(root, 2));
  const rekeyReply = decodeRekey(reader, reader.subtable(root, 3));
  const goodbyeTable = reader.subtable(root, 4);
  const padding = reader.byteVector(root, 5, PADDING_BYTES_MAX);
  if (lengths === null || joined === null || rekeyRequest === null || rekeyReply === null) return fail('batch: malformed');
  if (goodbyeTable === null || padding === null) return fail('batch: malformed goodbye or padding over the bound');
  const frames: Uint8Array[] = [];
  if (lengths !== undefined || joined !== undefined) {
    if (lengths === undefined || joined === undefined) return fail('batch: frame lengths without frame bytes');
    let offset = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i];
      if (length > frameBytesMax) return fail(`batch: frame of ${length} bytes exceeds ${frameBytesMax}`);
      if (offset + length > joined.byteLength) return fail('batch: frame lengths exceed frame bytes');
      frames.push(joined.subarray(offset, offset + length));
      offset += length;
    }
    if (offset !== joined.byteLength) return fail('batch: frame lengths do not cover frame bytes');
  }
  const value: BatchValue = { frames };
  if (rekeyRequest !== undefined) value.rekeyRequest = rekeyRequest;
  if (rekeyReply !== undefined) value.rekeyReply = rekeyReply;
  if (goodbyeTable !== undefined) {
    const code = reader.u16(goodbyeTable, 0);
    const reason = reader.string(goodbyeTable, 1, REASON_BYTES_MAX);
    if (code === null || reason === null) return fail('batch: malformed goodbye');
    value.goodbye = { code: code as CloseCode, reason: reason ?? '' };
  }
  if (padding !== undefined) value.paddingBytes = padding.byteLength;
  return { ok: true, value };
}

function truncateUtf8(text: string, bytesMax: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= bytesMax) return text;
  return bytes.subarray(0, bytesMax).toString('utf8').replace(/\uFFFD+$/, '');
}
