/** Valid instances of the verifier test schema (test/fixtures/wire), built with flatc's builders. */
import * as flatbuffers from 'flatbuffers';
import { WireVerifier } from '../../src/wire/verify.js';
import { layouts } from '../fixtures/wire/generated/layouts.js';
import { Everything, EverythingT } from '../fixtures/wire/generated/offset/wiretest/everything.js';
import { LeafT } from '../fixtures/wire/generated/offset/wiretest/leaf.js';
import { OtherT } from '../fixtures/wire/generated/offset/wiretest/other.js';
import { ChainT } from '../fixtures/wire/generated/offset/wiretest/chain.js';
import { WithIdsT } from '../fixtures/wire/generated/offset/wiretest/with-ids.js';
import { Payload } from '../fixtures/wire/generated/offset/wiretest/payload.js';
import { KeyT } from '../fixtures/wire/generated/offset/shapes/key.js';
import { MixedT } from '../fixtures/wire/generated/offset/shapes/mixed.js';
import { PairT } from '../fixtures/wire/generated/offset/shapes/pair.js';
import { Color } from '../fixtures/wire/generated/offset/shapes/color.js';
import { Perm } from '../fixtures/wire/generated/offset/shapes/perm.js';

export const fixtureVerifier = new WireVerifier(layouts);
export { layouts as fixtureLayouts };

const key = (seed: number): KeyT => new KeyT(Array.from({ length: 32 }, (_, i) => (seed + i) & 0xff));

export function chainOf(depth: number): ChainT {
  let chain = new ChainT(null, depth);
  for (let i = depth - 1; i >= 1; i--) chain = new ChainT(chain, i);
  return chain;
}

export function fullEverything(): EverythingT {
  const e = new EverythingT();
  e.flag = false;
  e.i8 = -3;
  e.u16 = 9;
  e.i32 = 123456;
  e.u64 = 0xfedcba9876543210n;
  e.f32 = 2.5;
  e.f64 = -1e300;
  e.color = Color.Blue;
  e.perm = Perm.Read | Perm.Exec;
  e.mixed = new MixedT(true, 1n << 60n, -2);
  e.pair = new PairT(new MixedT(false, 5n, 6), [key(1), key(2)], [7, 8, 9]);
  e.name = 'everything';
  e.bytes = [1, 2, 3];
  e.longs = [-1n, 2n];
  e.keys = [key(3), key(4), key(5)];
  e.mixeds = [new MixedT(true, 9n, 1)];
  e.names = ['a', '', 'ünïcode'];
  e.leaves = [new LeafT(key(6), 'first'), new LeafT(key(7), null)];
  e.colors = [Color.Red, Color.Green];
  e.payloadType = Payload.Leaf;
  e.payload = new LeafT(key(8), 'payload');
  e.chain = chainOf(5);
  e.maybe = 0;
  return e;
}

export function minimalEverything(): EverythingT {
  const e = new EverythingT();
  e.name = '';
  return e;
}

export function otherPayloadEverything(): EverythingT {
  const e = minimalEverything();
  e.payloadType = Payload.Other;
  e.payload = new OtherT(42n);
  return e;
}

export function buildEverything(value: EverythingT): Uint8Array {
  const builder = new flatbuffers.Builder(64);
  Everything.finishEverythingBuffer(builder, value.pack(builder));
  return builder.asUint8Array().slice();
}

export function buildWithIds(value: WithIdsT): Uint8Array {
  const builder = new flatbuffers.Builder(64);
  builder.finish(value.pack(builder));
  return builder.asUint8Array().slice();
}

export { WithIdsT, KeyT, LeafT, OtherT, Payload, Everything, ChainT };

/** Little helpers to find things inside a buffer for precise corruption. */
export const at = {
  u16: (b: Uint8Array, p: number): number => b[p] | (b[p + 1] << 8),
  u32: (b: Uint8Array, p: number): number => new DataView(b.buffer, b.byteOffset).getUint32(p, true),
  setU16: (b: Uint8Array, p: number, v: number): void => new DataView(b.buffer, b.byteOffset).setUint16(p, v, true),
  setU32: (b: Uint8Array, p: number, v: number): void => new DataView(b.buffer, b.byteOffset).setUint32(p, v >>> 0, true),
  root: (b: Uint8Array): number => at.u32(b, 0),
  vtable: (b: Uint8Array, t: number): number => t - new DataView(b.buffer, b.byteOffset).getInt32(t, true),
  /** Position of field `slot` of the table at `t` (0 when absent). */
  field: (b: Uint8Array, t: number, slot: number): number => {
    const vt = at.vtable(b, t);
    if (slot >= at.u16(b, vt)) return 0;
    const fo = at.u16(b, vt + slot);
    return fo === 0 ? 0 : t + fo;
  },
  deref: (b: Uint8Array, p: number): number => p + at.u32(b, p),
};

export function slotOf(table: string, field: string): number {
  const f = layouts.tables[table as keyof typeof layouts.tables].fields.find((x) => x.name === field);
  if (!f) throw new Error(`no field ${table}.${field}`);
  return f.slot;
}
