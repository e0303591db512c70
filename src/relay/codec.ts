import * as flatbuffers from 'flatbuffers';
import { PublicKey } from '../wire/generated/offset/common/public-key.js';
import { ClientBody } from '../wire/generated/offset/relay/client-body.js';
import { Close } from '../wire/generated/offset/relay/close.js';
import { ConnRef } from '../wire/generated/offset/relay/conn-ref.js';
import { Credit } from '../wire/generated/offset/relay/credit.js';
import { CrossBatch } from '../wire/generated/offset/relay/cross-batch.js';
import { CrossFrame } from '../wire/generated/offset/relay/cross-frame.js';
import { CrossKind } from '../wire/generated/offset/relay/cross-kind.js';
import { Drain } from '../wire/generated/offset/relay/drain.js';
import { Draining } from '../wire/generated/offset/relay/draining.js';
import { Failed } from '../wire/generated/offset/relay/failed.js';
import { Keepalive } from '../wire/generated/offset/relay/keepalive.js';
import { Listen } from '../wire/generated/offset/relay/listen.js';
import { Reason } from '../wire/generated/offset/relay/reason.js';
import { RelayBody } from '../wire/generated/offset/relay/relay-body.js';
import { StatsRequest } from '../wire/generated/offset/relay/stats-request.js';
import { Stop } from '../wire/generated/offset/relay/stop.js';
import { TunnelBody } from '../wire/generated/offset/relay/tunnel-body.js';
import { WorkerBody } from '../wire/generated/offset/relay/worker-body.js';
import { WorkerListening } from '../wire/generated/offset/relay/worker-listening.js';
import { WorkerStats } from '../wire/generated/offset/relay/worker-stats.js';
import { FlatTable } from '../wire/flat_table.js';
import { verifyBuffer } from '../wire/verify.js';
import { RelayDecodeError } from './errors.js';

/**
 * Encoders and decoders for every relay message (schemas/relay.fbs). Decoders take untrusted
 * bytes and return plain values or a RelayDecodeError; they never throw and never hand out a
 * half-read object. Byte fields of decoded values are views into the input (no copies), so a
 * caller that keeps one past the input's lifetime copies it.
 */

export { Reason, CrossKind };

export const KEY_BYTES = 32;

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: RelayDecodeError };

export type ClientMsg =
  | { kind: 'listen' }
  | { kind: 'connect'; target: Uint8Array }
  | { kind: 'accept'; caller: Uint8Array }
  | { kind: 'reject'; caller: Uint8Array }
  | { kind: 'keepalive' };

export type RelayMsg =
  | { kind: 'incoming'; caller: Uint8Array }
  | { kind: 'connected'; peer: Uint8Array; windowBytes: number }
  | { kind: 'failed'; reason: Reason }
  | { kind: 'draining'; graceMs: number }
  | { kind: 'keepalive' };

export type TunnelMsg =
  | { kind: 'data'; payload: Uint8Array }
  | { kind: 'credit'; bytes: number }
  | { kind: 'close'; reason: Reason };

export interface ConnAddr {
  worker: number;
  id: number;
}

export type WorkerMsg =
  | { kind: 'conn-init'; conn: ConnAddr; key: Uint8Array; init: ClientMsg }
  | { kind: 'listener-reject'; conn: ConnAddr; caller: Uint8Array }
  | { kind: 'conn-gone'; conn: ConnAddr }
  | { kind: 'listening'; worker: number; port: number }
  | { kind: 'stats'; worker: number; json: string }
  | { kind: 'notify'; conn: ConnAddr; caller: Uint8Array }
  | { kind: 'splice'; conn: ConnAddr; peer: ConnAddr; peerKey: Uint8Array }
  | { kind: 'end-conn'; conn: ConnAddr; reason: Reason }
  | { kind: 'drain'; graceMs: number }
  | { kind: 'stats-request' }
  | { kind: 'stop' };

export interface CrossItem {
  dst: number;
  kind: CrossKind;
  /** For Data: the sender's TunnelFrame bytes. */
  frame: Uint8Array | null;
  credit: number;
  reason: Reason;
}

type RelayTable = 'ClientMessage' | 'RelayMessage' | 'TunnelFrame' | 'WorkerMessage' | 'CrossBatch';

const REASON_MAX = Reason.Overloaded;
const CROSS_BATCH_FRAMES_MAX = 1 << 16;

function fail<T>(what: string): DecodeResult<T> {
  return { ok: false, error: new RelayDecodeError(what) };
}

/**
 * Verifies the buffer (src/wire/verify.ts), then reads it through the checked reader, so a
 * decoder never touches an unverified offset; the reader's own checks also make the hot-path
 * tunnel inspection in the shard safe without a second pass.
 */
function guarded<T>(what: RelayTable, bytes: Uint8Array, read: (root: FlatTable) => T | null): DecodeResult<T> {
  const problem = verifyBuffer(bytes, `offset.relay.${what}`);
  if (problem !== null) return fail(`${what}: ${problem.message}`);
  try {
    const value = read(FlatTable.root(bytes));
    return value === null ? fail(`${what}: invalid content`) : { ok: true, value };
  } catch (err) {
    return fail(`${what}: ${(err as Error).message}`);
  }
}

function key(table: FlatTable | null, index: number): Uint8Array | null {
  return table === null ? null : table.struct(index, KEY_BYTES);
}

function reason(value: number): Reason | null {
  return value <= REASON_MAX ? (value as Reason) : null;
}

// ---------- encoding helpers ----------

const sharedBuilder = new flatbuffers.Builder(256);

function finish(build: (b: flatbuffers.Builder) => number): Uint8Array {
  const b = sharedBuilder;
  b.clear();
  b.finish(build(b));
  return b.asUint8Array().slice();
}

function addKey(b: flatbuffers.Builder, slot: number, bytes: Uint8Array): void {
  // The generated struct writer indexes its argument, so a Uint8Array serves as number[].
  b.addFieldStruct(slot, PublicKey.createPublicKey(b, bytes as unknown as number[]), 0);
}

function keyTable(b: flatbuffers.Builder, bytes: Uint8Array): number {
  b.startObject(1);
  addKey(b, 0, bytes);
  return b.endObject();
}

function union(b: flatbuffers.Builder, type: number, body: number): number {
  b.startObject(2);
  b.addFieldInt8(0, type, 0);
  b.addFieldOffset(1, body, 0);
  return b.endObject();
}

// ---------- ClientMessage ----------

export function encodeClientMessage(msg: ClientMsg): Uint8Array {
  return finish((b) => readyClientMessage(b, msg));
}

function readClientMessage(root: FlatTable): ClientMsg | null {
  const type = root.u8(0);
  const body = root.table(1);
  if (body === null) return null;
  switch (type) {
    case ClientBody.Listen:
      return { kind: 'listen' };
    case ClientBody.Connect: {
      const target = key(body, 0);
      return target === null ? null : { kind: 'connect', target };
    }
    case ClientBody.Accept: {
      const caller = key(body, 0);
      return caller === null ? null : { kind: 'accept', caller };
    }
    case ClientBody.Reject: {
      const caller = key(body, 0);
      return caller === null ? null : { kind: 'reject', caller };
    }
    case ClientBody.Keepalive:
      return { kind: 'keepalive' };
    default:
      return null;
  }
}

export function decodeClientMessage(bytes: Uint8Array): DecodeResult<ClientMsg> {
  return guarded('ClientMessage', bytes, readClientMessage);
}

// ---------- RelayMessage ----------

export function encodeRelayMessage(msg: RelayMsg): Uint8Array {
  return finish((b) => {
    switch (msg.kind) {
      case 'incoming':
        return union(b, RelayBody.IncomingConnection, keyTable(b, msg.caller));
      case 'connected': {
        b.startObject(2);
        addKey(b, 0, msg.peer);
        b.addFieldInt32(1, msg.windowBytes, 0);
        return union(b, RelayBody.Connected, b.endObject());
      }
      case 'failed':
        return union(b, RelayBody.Failed, Failed.createFailed(b, msg.reason));
      case 'draining':
        return union(b, RelayBody.Draining, Draining.createDraining(b, msg.graceMs));
      case 'keepalive':
        return union(b, RelayBody.Keepalive, Keepalive.createKeepalive(b));
    }
  });
}

export function decodeRelayMessage(bytes: Uint8Array): DecodeResult<RelayMsg> {
  return guarded('RelayMessage', bytes, (root): RelayMsg | null => {
    const type = root.u8(0);
    const body = root.table(1);
    if (body === null) return null;
    switch (type) {
      case RelayBody.IncomingConnection: {
        const caller = key(body, 0);
        return caller === null ? null : { kind: 'incoming', caller };
      }
      case RelayBody.Connected: {
        const peer = key(body, 0);
        return peer === null ? null : { kind: 'connected', peer, windowBytes: body.u32(1) };
      }
      case RelayBody.Failed: {
        const r = reason(body.u8(0));
        return r === null ? null : { kind: 'failed', reason: r };
      }
      case RelayBody.Draining:
        return { kind: 'draining', graceMs: body.u32(0) };
      case RelayBody.Keepalive:
        return { kind: 'keepalive' };
      default:
        return null;
    }
  });
}

// ---------- TunnelFrame (hot path) ----------

/** Bytes a Data frame adds around its payload (see encodeTunnelData). */
export const TUNNEL_DATA_OVERHEAD_BYTES = 44;

/**
 * Builds a Data TunnelFrame with one allocation and one copy. The layout is a valid FlatBuffer
 * (the generated reader and the checked reader both read it; a test pins that), laid out by hand
 * because the generic builder grows and copies its buffer for large payloads:
 *   0  root offset -> 12        4  TunnelFrame vtable (8 B)   12 TunnelFrame table (12 B)
 *   24 Data vtable (6 B + pad)  32 Data table (8 B)           40 payload length, 44 payload
 */
export function encodeTunnelData(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(TUNNEL_DATA_OVERHEAD_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, 12, true);
  view.setUint16(4, 8, true); // vtable bytes
  view.setUint16(6, 12, true); // table bytes
  view.setUint16(8, 8, true); // field 0 (body_type) at table+8
  view.setUint16(10, 4, true); // field 1 (body) at table+4
  view.setInt32(12, 12 - 4, true); // soffset to vtable
  view.setUint32(16, 32 - 16, true); // body -> Data table
  out[20] = TunnelBody.Data;
  view.setUint16(24, 6, true);
  view.setUint16(26, 8, true);
  view.setUint16(28, 4, true); // field 0 (bytes) at table+4
  view.setInt32(32, 32 - 24, true);
  view.setUint32(36, 40 - 36, true);
  view.setUint32(40, payload.byteLength, true);
  out.set(payload, TUNNEL_DATA_OVERHEAD_BYTES);
  return out;
}

export function encodeTunnelCredit(bytes: number): Uint8Array {
  return finish((b) => union(b, TunnelBody.Credit, Credit.createCredit(b, bytes)));
}

export function encodeTunnelClose(why: Reason): Uint8Array {
  return finish((b) => union(b, TunnelBody.Close, Close.createClose(b, why)));
}

export function decodeTunnelFrame(bytes: Uint8Array): DecodeResult<TunnelMsg> {
  return guarded('TunnelFrame', bytes, (root): TunnelMsg | null => {
    const type = root.u8(0);
    const body = root.table(1);
    if (body === null) return null;
    switch (type) {
      case TunnelBody.Data: {
        const payload = body.byteVector(0);
        return payload === null ? null : { kind: 'data', payload };
      }
      case TunnelBody.Credit:
        return { kind: 'credit', bytes: body.u32(0) };
      case TunnelBody.Close: {
        const r = reason(body.u8(0));
        return r === null ? null : { kind: 'close', reason: r };
      }
      default:
        return null;
    }
  });
}

// ---------- WorkerMessage ----------

function connRef(b: flatbuffers.Builder, slot: number, conn: ConnAddr): void {
  b.addFieldStruct(slot, ConnRef.createConnRef(b, conn.worker, conn.id), 0);
}

function readConn(table: FlatTable, index: number): ConnAddr | null {
  const raw = table.struct(index, 8);
  if (raw === null) return null;
  const view = new DataView(raw.buffer, raw.byteOffset, 8);
  return { worker: view.getUint16(0, true), id: view.getUint32(4, true) };
}

export function encodeWorkerMessage(msg: WorkerMsg): Uint8Array {
  return finish((b) => {
    switch (msg.kind) {
      case 'conn-init': {
        const init = readyClientMessage(b, msg.init);
        b.startObject(3);
        connRef(b, 0, msg.conn);
        addKey(b, 1, msg.key);
        b.addFieldOffset(2, init, 0);
        return union(b, WorkerBody.ConnInit, b.endObject());
      }
      case 'listener-reject':
      case 'notify': {
        b.startObject(2);
        connRef(b, 0, msg.conn);
        addKey(b, 1, msg.caller);
        const type = msg.kind === 'notify' ? WorkerBody.Notify : WorkerBody.ListenerReject;
        return union(b, type, b.endObject());
      }
      case 'conn-gone': {
        b.startObject(1);
        connRef(b, 0, msg.conn);
        return union(b, WorkerBody.ConnGone, b.endObject());
      }
      case 'listening':
        return union(b, WorkerBody.WorkerListening, WorkerListening.createWorkerListening(b, msg.worker, msg.port));
      case 'stats': {
        const json = b.createString(msg.json);
        return union(b, WorkerBody.WorkerStats, WorkerStats.createWorkerStats(b, msg.worker, json));
      }
      case 'splice': {
        b.startObject(3);
        connRef(b, 0, msg.conn);
        connRef(b, 1, msg.peer);
        addKey(b, 2, msg.peerKey);
        return union(b, WorkerBody.Splice, b.endObject());
      }
      case 'end-conn': {
        b.startObject(2);
        connRef(b, 0, msg.conn);
        b.addFieldInt8(1, msg.reason, 0);
        return union(b, WorkerBody.EndConn, b.endObject());
      }
      case 'drain':
        return union(b, WorkerBody.Drain, Drain.createDrain(b, msg.graceMs));
      case 'stats-request':
        return union(b, WorkerBody.StatsRequest, StatsRequest.createStatsRequest(b));
      case 'stop':
        return union(b, WorkerBody.Stop, Stop.createStop(b));
    }
  });
}

/** A nested ClientMessage table inside another buffer (built before its parent starts). */
function readyClientMessage(b: flatbuffers.Builder, msg: ClientMsg): number {
  switch (msg.kind) {
    case 'listen':
      return union(b, ClientBody.Listen, Listen.createListen(b));
    case 'connect':
      return union(b, ClientBody.Connect, keyTable(b, msg.target));
    case 'accept':
      return union(b, ClientBody.Accept, keyTable(b, msg.caller));
    case 'reject':
      return union(b, ClientBody.Reject, keyTable(b, msg.caller));
    case 'keepalive':
      return union(b, ClientBody.Keepalive, Keepalive.createKeepalive(b));
  }
}

export function decodeWorkerMessage(bytes: Uint8Array): DecodeResult<WorkerMsg> {
  return guarded('WorkerMessage', bytes, (root): WorkerMsg | null => {
    const type = root.u8(0);
    const body = root.table(1);
    if (body === null) return null;
    switch (type) {
      case WorkerBody.ConnInit: {
        const conn = readConn(body, 0);
        const k = key(body, 1);
        const inner = body.table(2);
        const init = inner === null ? null : readClientMessage(inner);
        return conn && k && init ? { kind: 'conn-init', conn, key: k, init } : null;
      }
      case WorkerBody.ListenerReject:
      case WorkerBody.Notify: {
        const conn = readConn(body, 0);
        const caller = key(body, 1);
        if (conn === null || caller === null) return null;
        return { kind: type === WorkerBody.Notify ? 'notify' : 'listener-reject', conn, caller };
      }
      case WorkerBody.ConnGone: {
        const conn = readConn(body, 0);
        return conn === null ? null : { kind: 'conn-gone', conn };
      }
      case WorkerBody.WorkerListening:
        return { kind: 'listening', worker: body.u16(0), port: body.u16(1) };
      case WorkerBody.WorkerStats: {
        const json = body.string(1);
        return json === null ? null : { kind: 'stats', worker: body.u16(0), json };
      }
      case WorkerBody.Splice: {
        const conn = readConn(body, 0);
        const peer = readConn(body, 1);
        const peerKey = key(body, 2);
        return conn && peer && peerKey ? { kind: 'splice', conn, peer, peerKey } : null;
      }
      case WorkerBody.EndConn: {
        const conn = readConn(body, 0);
        const r = reason(body.u8(1));
        return conn === null || r === null ? null : { kind: 'end-conn', conn, reason: r };
      }
      case WorkerBody.Drain:
        return { kind: 'drain', graceMs: body.u32(0) };
      case WorkerBody.StatsRequest:
        return { kind: 'stats-request' };
      case WorkerBody.Stop:
        return { kind: 'stop' };
      default:
        return null;
    }
  });
}

// ---------- CrossBatch ----------

/**
 * Gathers cross-worker tunnel events into one FlatBuffer. Appending a Data frame copies its bytes
 * once, out of the uWS receive buffer (valid only during the callback) into the batch; the
 * finished batch's ArrayBuffer is then transferred to the other worker, not copied again.
 */
export class CrossBatchWriter {
  private builder: flatbuffers.Builder;
  private offsets: number[] = [];
  private payloadBytes = 0;

  constructor(initialBytes = 64 * 1024) {
    this.builder = new flatbuffers.Builder(initialBytes);
  }

  get count(): number {
    return this.offsets.length;
  }

  get bytes(): number {
    return this.payloadBytes;
  }

  add(item: CrossItem): void {
    const b = this.builder;
    const frame = item.frame === null ? 0 : b.createByteVector(item.frame);
    this.offsets.push(CrossFrame.createCrossFrame(b, item.dst, item.kind, frame, item.credit, item.reason));
    this.payloadBytes += item.frame === null ? 16 : item.frame.byteLength + 16;
  }

  /** The finished batch in an ArrayBuffer of its own, ready to transfer; resets the writer. */
  take(): ArrayBuffer {
    const b = this.builder;
    const vector = CrossBatch.createFramesVector(b, this.offsets);
    b.finish(CrossBatch.createCrossBatch(b, vector));
    const view = b.asUint8Array();
    const out = new ArrayBuffer(view.byteLength);
    new Uint8Array(out).set(view);
    b.clear();
    this.offsets = [];
    this.payloadBytes = 0;
    return out;
  }
}

export function decodeCrossBatch(bytes: Uint8Array): DecodeResult<CrossItem[]> {
  return guarded('CrossBatch', bytes, (root): CrossItem[] | null => {
    const frames = root.tables(0, CROSS_BATCH_FRAMES_MAX);
    if (frames === null) return null;
    const out: CrossItem[] = [];
    for (const f of frames) {
      const kind = f.u8(1);
      const r = reason(f.u8(4));
      if (kind > CrossKind.Close || r === null) return null;
      const frame = f.byteVector(2);
      if (kind === CrossKind.Data && frame === null) return null;
      out.push({ dst: f.u32(0), kind: kind as CrossKind, frame, credit: f.u32(3), reason: r });
    }
    return out;
  });
}

