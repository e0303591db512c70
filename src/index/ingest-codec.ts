import * as flatbuffers from 'flatbuffers';
import { domainPrefix, SigningDomain } from '../crypto/domains.js';
import { verifyDetached } from '../crypto/primitives.js';
import { FlatTable } from '../wire/flat_table.js';
import { assert } from '../common/errors.js';
import { canonicalDigest, mutationsUpdateDigestRoom, writeMutationsUpdateDigest } from './signing.js';
import type { MutationsUpdate } from './types.js';

/**
 * The messages between the index server's main thread and its signature-check workers
 * (schemas/ingest.fbs). The main thread decodes each update anyway (it must screen it), so it
 * also writes the signed digest into the batch; a worker then does nothing but Ed25519.
 * Verdicts come back as one byte per item. Both buffers are transferred, never copied.
 */

/** Where the one vtable every SignedDigest item shares sits. */
const ITEM_VTABLE_AT = 4;
/** A SignedDigest table: soffset, node (32), signature (64), digest uoffset; then the digest's length. */
const ITEM_TABLE_BYTES = 104;
const ITEM_HEAD_BYTES = ITEM_TABLE_BYTES + 4;
/** Root uoffset, the item vtable (10 bytes, padded), the root's vtable (6, padded) and table (8), the vector's length. */
const HEADER_BYTES = 4 + 12 + 8 + 8 + 4;

/**
 * Writes a VerifyBatch front to back with no FlatBuffers builder: every item shares one vtable
 * near the start, items follow one another, and `finish` writes the root table and the items
 * vector into room reserved for `itemsMax` entries just before the first item (so every offset
 * points forward, as the format wants, without moving a byte). The result is an ordinary
 * FlatBuffers buffer of the schema (test/index/ingest-codec.test.ts checks it with the schema
 * verifier and the generated accessors).
 */
export class VerifyBatchBuilder {
  private bytes: Uint8Array;
  private at: number;
  private readonly itemsStart: number;
  private readonly items: Int32Array;
  private count = 0;

  constructor(
    readonly itemsMax = 256,
    private readonly initialBytes = 16 * 1024,
  ) {
    assert(Number.isInteger(itemsMax) && itemsMax >= 0, 'itemsMax must be a count');
    this.itemsStart = HEADER_BYTES + 4 * itemsMax;
    this.items = new Int32Array(itemsMax);
    this.bytes = this.fresh();
    this.at = this.itemsStart;
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.itemsMax;
  }

  /** Starting size of the next batch, from the item sizes of the last one. */
  private lastBytes = 0;

  private fresh(): Uint8Array {
    const bytes = new Uint8Array(Math.max(this.initialBytes, this.lastBytes, this.itemsStart + ITEM_HEAD_BYTES + 1024));
    const vtable = [10, ITEM_TABLE_BYTES, 4, 36, 100];
    for (let i = 0; i < vtable.length; i++) putU16(bytes, ITEM_VTABLE_AT + 2 * i, vtable[i]);
    return bytes;
  }

  /** Room for an item whose digest takes up to `digestBytes`; returns where the item starts. */
  private reserve(digestBytes: number): number {
    assert(this.count < this.itemsMax, 'verify batch full');
    const need = this.at + ITEM_HEAD_BYTES + digestBytes + 3;
    if (need > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(need, this.bytes.byteLength * 2));
      grown.set(this.bytes.subarray(0, this.at));
      this.bytes = grown;
    }
    return this.at;
  }

  private commit(p: number, node: Uint8Array, signature: Uint8Array, digestBytes: number): void {
    if (node.byteLength !== 32 || signature.byteLength !== 64) throw new RangeError('a node key is 32 bytes and a signature 64');
    const b = this.bytes;
    putU32(b, p, p - ITEM_VTABLE_AT);
    // Plain loops: for 32 and 64 bytes they beat TypedArray.set's call overhead.
    for (let i = 0; i < 32; i++) b[p + 4 + i] = node[i];
    for (let i = 0; i < 64; i++) b[p + 36 + i] = signature[i];
    putU32(b, p + 100, 4);
    putU32(b, p + 104, digestBytes);
    this.items[this.count++] = p;
    this.at = (p + ITEM_HEAD_BYTES + digestBytes + 3) & ~3;
  }

  /** One signature to check over an already computed digest. */
  add(node: Uint8Array, signature: Uint8Array, digest: Uint8Array): void {
    const p = this.reserve(digest.byteLength);
    this.bytes.set(digest, p + ITEM_HEAD_BYTES);
    this.commit(p, node, signature, digest.byteLength);
  }

  /** An update's signature, its digest written straight into the batch (no copy of its own). */
  addUpdate(update: MutationsUpdate): void {
    const p = this.reserve(mutationsUpdateDigestRoom(update.mutations.length));
    const end = writeMutationsUpdateDigest(update, this.bytes, p + ITEM_HEAD_BYTES);
    if (end < 0) this.add(update.node, update.signature, canonicalDigest(update));
    else this.commit(p, update.node, update.signature, end - p - ITEM_HEAD_BYTES);
  }

  /**
   * The finished VerifyBatch, a view (from byte 0) of a buffer of its own that the caller may
   * transfer; the builder starts a new one.
   */
  finish(): Uint8Array {
    const b = this.bytes;
    const n = this.count;
    const vector = this.itemsStart - 4 - 4 * n;
    const table = vector - 8;
    const vtable = table - 8;
    putU16(b, vtable, 6);
    putU16(b, vtable + 2, 8);
    putU16(b, vtable + 4, 4);
    putU32(b, table, table - vtable);
    putU32(b, table + 4, vector - (table + 4));
    putU32(b, vector, n);
    for (let i = 0; i < n; i++) {
      const entry = vector + 4 + 4 * i;
      putU32(b, entry, this.items[i] - entry);
    }
    putU32(b, 0, table);
    const out = b.subarray(0, this.at);
    // The next batch starts with room for itemsMax items the size of this batch's (plus an
    // eighth), so a full batch rarely grows and copies; one batch of big items does not stick.
    if (n > 0) this.lastBytes = this.itemsStart + Math.ceil((((this.at - this.itemsStart) / n) * this.itemsMax * 9) / 8);
    this.bytes = this.fresh();
    this.at = this.itemsStart;
    this.count = 0;
    return out;
  }
}

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

/**
 * Where a worker assembles each signed message: the mutations-update domain prefix, then the
 * digest, exactly the bytes verifySignature would build, but in one reused buffer instead of
 * a new one per item (the prefix is written once).
 */
class SignedMessages {
  private readonly prefix = domainPrefix(SigningDomain.MutationsUpdate);
  private bytes = this.fresh(4096);

  private fresh(size: number): Buffer {
    const bytes = Buffer.alloc(size);
    bytes.set(this.prefix);
    return bytes;
  }

  verify(node: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
    const length = this.prefix.byteLength + digest.byteLength;
    if (length > this.bytes.byteLength) this.bytes = this.fresh(Math.max(length, this.bytes.byteLength * 2));
    this.bytes.set(digest, this.prefix.byteLength);
    return verifyDetached(signature, this.bytes.subarray(0, length), node);
  }
}

const signedMessages = new SignedMessages();

/**
 * What a signature worker does with one batch: check each item's signature under the
 * mutations-update domain and answer a VerifyVerdicts. An unreadable item gets verdict 0. The
 * batch comes from this process's encoder; it is still read through the bounds-checked reader.
 */
export function checkVerifyBatch(batch: Uint8Array): Uint8Array {
  let items: FlatTable[];
  try {
    items = FlatTable.root(batch).tables(0, 1 << 20) ?? [];
  } catch {
    items = [];
  }
  const verdicts = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i++) {
    try {
      const node = items[i].struct(0, 32);
      const signature = items[i].struct(1, 64);
      const digest = items[i].byteVector(2);
      if (node === null || signature === null || digest === null) continue;
      verdicts[i] = signedMessages.verify(node, digest, signature) ? 1 : 0;
    } catch {
      verdicts[i] = 0;
    }
  }
  const b = new flatbuffers.Builder(items.length + 64);
  const ok = b.createByteVector(verdicts);
  b.startObject(1);
  b.addFieldOffset(0, ok, 0);
  b.finish(b.endObject());
  return b.asUint8Array();
}

/** The verdict bytes of a VerifyVerdicts, or null when it is not one of `expected` entries. */
export function decodeVerifyVerdicts(bytes: Uint8Array, expected: number): Uint8Array | null {
  try {
    const ok = FlatTable.root(bytes).byteVector(0);
    return ok !== null && ok.byteLength === expected ? ok : null;
  } catch {
    return null;
  }
}
