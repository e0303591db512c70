import * as flatbuffers from 'flatbuffers';
import { FlatTable } from '../wire/flat_table.js';
import { IndexDecodeError, type DecodeResult } from './codec.js';

/**
 * The messages between the index server's main thread and its client shards (schemas/index.fbs
 * ShardReport and ShardCommand). Both come from this process's own encoders, so they skip the
 * schema pass, but they are still read through the bounds-checked reader and never throw.
 * A report's buffer is transferred to the main thread, not copied.
 */
export interface ShardConnRef {
  readonly node: Uint8Array;
  readonly conn: number;
}

export interface ShardUpdateFrame {
  /** The verified key of the connection the frame came on (a copy). */
  readonly node: Uint8Array;
  /** The ClientMessage bytes as received (a view into the report's buffer). */
  readonly frame: Uint8Array;
}

export interface ShardReportMsg {
  readonly listening: boolean;
  readonly updates: readonly ShardUpdateFrame[];
  readonly opened: readonly ShardConnRef[];
  readonly closed: readonly ShardConnRef[];
}

export interface ShardCommandMsg {
  readonly timeHash: Uint8Array | null;
  readonly close: readonly number[];
  readonly stop: boolean;
}

/** Items in one report or command; a shard flushes long before this (one report per turn). */
export const SHARD_ITEMS_MAX = 1 << 20;

function fixedStruct(b: flatbuffers.Builder, bytes: Uint8Array, size: number): number {
  if (bytes.byteLength !== size) throw new RangeError(`expected ${size} bytes`);
  b.prep(1, size);
  b.pad(size);
  const bb = b.dataBuffer();
  bb.bytes().set(bytes, bb.capacity() - b.offset());
  return b.offset();
}

function tableVector(b: flatbuffers.Builder, offsets: readonly number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

/**
 * Gathers one event-loop turn's worth of a shard's news for the main thread. Update frames are
 * copied once, into the report (the channel's receive buffer is not the shard's to keep).
 */
export class ShardReportBuilder {
  private builder = new flatbuffers.Builder(4096);
  private updates: number[] = [];
  private opened: number[] = [];
  private closed: number[] = [];
  private listening = false;

  get empty(): boolean {
    return this.updates.length === 0 && this.opened.length === 0 && this.closed.length === 0 && !this.listening;
  }

  get updateCount(): number {
    return this.updates.length;
  }

  markListening(): void {
    this.listening = true;
  }

  addUpdate(node: Uint8Array, frame: Uint8Array): void {
    const b = this.builder;
    const bytes = b.createByteVector(frame);
    b.startObject(2);
    b.addFieldOffset(1, bytes, 0);
    b.addFieldStruct(0, fixedStruct(b, node, 32), 0);
    this.updates.push(b.endObject());
  }

  private conn(node: Uint8Array, conn: number): number {
    const b = this.builder;
    b.startObject(2);
    b.addFieldStruct(0, fixedStruct(b, node, 32), 0);
    b.addFieldInt32(1, conn, 0);
    return b.endObject();
  }

  addOpened(node: Uint8Array, conn: number): void {
    this.opened.push(this.conn(node, conn));
  }

  addClosed(node: Uint8Array, conn: number): void {
    this.closed.push(this.conn(node, conn));
  }

  /** The finished ShardReport, a view of a buffer of its own (to transfer); resets the builder. */
  finish(): Uint8Array {
    const b = this.builder;
    const updates = tableVector(b, this.updates);
    const opened = tableVector(b, this.opened);
    const closed = tableVector(b, this.closed);
    b.startObject(4);
    b.addFieldOffset(1, updates, 0);
    b.addFieldOffset(2, opened, 0);
    b.addFieldOffset(3, closed, 0);
    b.addFieldInt8(0, this.listening ? 1 : 0, 0);
    b.finish(b.endObject());
    const out = b.asUint8Array();
    this.builder = new flatbuffers.Builder(4096);
    this.updates = [];
    this.opened = [];
    this.closed = [];
    this.listening = false;
    return out;
  }
}

function fail<T>(what: string): DecodeResult<T> {
  return { ok: false, error: new IndexDecodeError(what) };
}

function readConns(root: FlatTable, index: number): ShardConnRef[] | null {
  const tables = root.tables(index, SHARD_ITEMS_MAX);
  if (tables === null) return [];
  const out: ShardConnRef[] = [];
  for (const t of tables) {
    const node = t.struct(0, 32);
    if (node === null) return null;
    out.push({ node: node.slice(), conn: t.u32(1) });
  }
  return out;
}

export function decodeShardReport(bytes: Uint8Array): DecodeResult<ShardReportMsg> {
  try {
    const root = FlatTable.root(bytes);
    const updates: ShardUpdateFrame[] = [];
    for (const t of root.tables(1, SHARD_ITEMS_MAX) ?? []) {
      const node = t.struct(0, 32);
      const frame = t.byteVector(1);
      if (node === null || frame === null) return fail('ShardReport: update without key or frame');
      updates.push({ node: node.slice(), frame });
    }
    const opened = readConns(root, 2);
    const closed = readConns(root, 3);
    if (opened === null || closed === null) return fail('ShardReport: connection without key');
    return { ok: true, value: { listening: root.bool(0), updates, opened, closed } };
  } catch (err) {
    return fail(`ShardReport: ${(err as Error).message}`);
  }
}

/** A buffer of its own (byteOffset may be non-zero: pass `.buffer` to transfer it). */
export function encodeShardCommand(msg: ShardCommandMsg): Uint8Array {
  const b = new flatbuffers.Builder(64 + 4 * msg.close.length);
  let close = 0;
  if (msg.close.length > 0) {
    b.startVector(4, msg.close.length, 4);
    for (let i = msg.close.length - 1; i >= 0; i--) b.addInt32(msg.close[i]);
    close = b.endVector();
  }
  b.startObject(3);
  if (close !== 0) b.addFieldOffset(1, close, 0);
  if (msg.timeHash !== null) b.addFieldStruct(0, fixedStruct(b, msg.timeHash, 32), 0);
  b.addFieldInt8(2, msg.stop ? 1 : 0, 0);
  b.finish(b.endObject());
  return b.asUint8Array();
}

export function decodeShardCommand(bytes: Uint8Array): DecodeResult<ShardCommandMsg> {
  try {
    const root = FlatTable.root(bytes);
    const hash = root.struct(0, 32);
    const closeVec = root.structVector(1, 4, SHARD_ITEMS_MAX);
    const close: number[] = [];
    if (closeVec !== null) {
      const view = new DataView(closeVec.bytes.buffer, closeVec.bytes.byteOffset, closeVec.bytes.byteLength);
      for (let i = 0; i < closeVec.length; i++) close.push(view.getUint32(4 * i, true));
    }
    return { ok: true, value: { timeHash: hash === null ? null : hash.slice(), close, stop: root.bool(2) } };
  } catch (err) {
    return fail(`ShardCommand: ${(err as Error).message}`);
  }
}
