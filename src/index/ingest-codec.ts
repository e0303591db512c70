import * as flatbuffers from 'flatbuffers';
import { SigningDomain } from '../crypto/domains.js';
import { verifySignature } from '../crypto/identity.js';
import { FlatTable } from '../wire/flat_table.js';

/**
 * The messages between the index server's main thread and its signature-check workers
 * (schemas/ingest.fbs). The main thread decodes each update anyway (it must screen it),
 * so it also writes the signed digest into the batch; a worker then does nothing but Ed25519.
 * Verdicts come back as one byte per item. Both buffers are transferred, never copied.
 */
export class VerifyBatchBuilder {
  private builder: flatbuffers.Builder;
  private offsets: number[] = [];

  constructor(private readonly initialBytes = 64 * 1024) {
    this.builder = new flatbuffers.Builder(initialBytes);
  }

  get size(): number {
    return this.offsets.length;
  }

  add(node: Uint8Array, signature: Uint8Array, digest: Uint8Array): void {
    const b = this.builder;
    const bytes = b.createByteVector(digest);
    b.startObject(3);
    b.addFieldOffset(2, bytes, 0);
    b.addFieldStruct(1, fixedStruct(b, signature, 64), 0);
    b.addFieldStruct(0, fixedStruct(b, node, 32), 0);
    this.offsets.push(b.endObject());
  }

  /** The finished VerifyBatch, a view of a buffer the caller may transfer; resets the builder. */
  finish(): Uint8Array {
    const b = this.builder;
    b.startVector(4, this.offsets.length, 4);
    for (let i = this.offsets.length - 1; i >= 0; i--) b.addOffset(this.offsets[i]);
    const items = b.endVector();
    b.startObject(1);
    b.addFieldOffset(0, items, 0);
    b.finish(b.endObject());
    const out = b.asUint8Array();
    this.builder = new flatbuffers.Builder(this.initialBytes);
    this.offsets = [];
    return out;
  }
}

function fixedStruct(b: flatbuffers.Builder, bytes: Uint8Array, size: number): number {
  if (bytes.byteLength !== size) throw new RangeError(`expected ${size} bytes`);
  b.prep(1, size);
  b.pad(size);
  // The struct's bytes sit at the front of the written region (the builder grows downwards).
  const bb = b.dataBuffer();
  bb.bytes().set(bytes, bb.capacity() - b.offset());
  return b.offset();
}

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
      verdicts[i] = verifySignature(SigningDomain.MutationsUpdate, node, digest, signature) ? 1 : 0;
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
