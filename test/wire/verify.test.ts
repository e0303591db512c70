import * as flatbuffers from 'flatbuffers';
import t from 'tap';
import { WireError } from '../../src/wire/errors.js';
import {
  at, buildEverything, buildWithIds, chainOf, fixtureVerifier as v, fullEverything, LeafT, minimalEverything,
  otherPayloadEverything, Payload, KeyT, slotOf, WithIdsT,
} from './fixture.js';

const E = 'offset.wiretest.Everything';
const slot = (field: string): number => slotOf(E, field);

function expectError(t: Tap.Test, bytes: Uint8Array, path: string | RegExp, problem: RegExp, root = E, limits = {}): void {
  const err = v.verify(bytes, root, limits);
  t.ok(err instanceof WireError, 'returns a WireError');
  if (!err) return;
  t.equal(err.code, 'ERR_WIRE_MALFORMED');
  if (typeof path === 'string') t.equal(err.path, path);
  else t.match(err.path, path);
  t.match(err.problem, problem);
  t.match(err.message, err.problem);
}
declare namespace Tap { type Test = typeof t }

t.test('accepts buffers built by the flatc builders', async (t) => {
  t.equal(v.verify(buildEverything(fullEverything()), E), null, 'full instance');
  t.equal(v.verify(buildEverything(minimalEverything()), E), null, 'only the required field');
  t.equal(v.verify(buildEverything(otherPayloadEverything()), E), null, 'other union member');
  const deep = minimalEverything();
  deep.chain = chainOf(63); // root is depth 1, so 63 chain links reach exactly 64
  t.equal(v.verify(buildEverything(deep), E), null, 'nesting at the depth limit');
  t.equal(v.verify(buildWithIds(new WithIdsT('a', Payload.Leaf, new LeafT(new KeyT(new Array(32).fill(1)), 'x'), 5)), 'offset.wiretest.WithIds'), null, 'explicit ids');
});

t.test('rejects buffers that are too short, too long or mis-identified', async (t) => {
  expectError(t, new Uint8Array(8), E, /shorter than the 12-byte minimum/);
  const ok = buildEverything(minimalEverything());
  expectError(t, ok, E, /exceeds the 16-byte limit/, E, { bytesMax: 16 });
  const wrongId = ok.slice();
  wrongId[4] = 'X'.charCodeAt(0);
  expectError(t, wrongId, E, /file identifier is not "WTST"/);
  t.equal(v.verify(wrongId, E, { checkIdentifier: false }), null, 'identifier check can be disabled');
});

t.test('rejects a root offset outside the buffer', async (t) => {
  const b = buildEverything(minimalEverything());
  at.setU32(b, 0, b.length + 4);
  expectError(t, b, E, /root offset \d+ outside/);
  at.setU32(b, 0, 0);
  expectError(t, b, E, /root offset 0 outside/);
});

t.test('rejects an out-of-bounds offset to a nested object', async (t) => {
  const b = buildEverything(fullEverything());
  const p = at.field(b, at.root(b), slot('chain'));
  at.setU32(b, p, b.length * 2);
  expectError(t, b, `${E}.chain`, /offset \d+ at \d+ points outside/);
});

t.test('rejects a bad vtable', async (t) => {
  const b = buildEverything(minimalEverything());
  const root = at.root(b);
  new DataView(b.buffer).setInt32(root, -b.length, true);
  expectError(t, b, E, /vtable at \d+ outside the buffer/);

  const c = buildEverything(minimalEverything());
  at.setU16(c, at.vtable(c, at.root(c)), 7);
  expectError(t, c, E, /vtable size 7 is invalid/);

  const d = buildEverything(minimalEverything());
  at.setU16(d, at.vtable(d, at.root(d)), 0xfffe);
  expectError(t, d, E, /vtable of 65534 bytes .* extends past the buffer/);

  const e = buildEverything(minimalEverything());
  at.setU16(e, at.vtable(e, at.root(e)) + 2, 0xfff0);
  expectError(t, e, E, /table of 65520 bytes .* extends past the buffer/);
});

t.test('rejects a misaligned table', async (t) => {
  const b = buildEverything(minimalEverything());
  at.setU32(b, 0, at.root(b) + 1);
  expectError(t, b, E, /not 4-byte aligned/);
});

t.test('rejects a truncated string', async (t) => {
  const b = buildEverything(fullEverything());
  const p = at.deref(b, at.field(b, at.root(b), slot('name')));
  b[p + 4 + at.u32(b, p)] = 0x78; // overwrite the terminator
  expectError(t, b, `${E}.name`, /string at \d+ lacks its NUL terminator/);
  at.setU32(b, p, b.length);
  expectError(t, b, `${E}.name`, /string of \d+ bytes at \d+ extends past the buffer/);
  const c = buildEverything(fullEverything());
  const names = at.deref(c, at.field(c, at.root(c), slot('names')));
  const lastString = at.deref(c, names + 4 + 4 * 2);
  at.setU32(c, lastString, c.length - lastString - 4); // the terminator would be one past the end
  expectError(t, c, `${E}.names[2]`, /string of \d+ bytes at \d+ extends past the buffer/);
});

t.test('rejects oversize vector lengths without overflowing', async (t) => {
  for (const field of ['bytes', 'longs', 'keys', 'mixeds', 'names', 'leaves']) {
    const b = buildEverything(fullEverything());
    const p = at.deref(b, at.field(b, at.root(b), slot(field)));
    at.setU32(b, p, 0xffffffff);
    expectError(t, b, `${E}.${field}`, /vector of 4294967295 x \d+-byte elements .* extends past the buffer/);
  }
});

t.test('rejects union tags that are unknown or without a value', async (t) => {
  const b = buildEverything(fullEverything());
  const tag = at.field(b, at.root(b), slot('payload_type'));
  b[tag] = 9;
  expectError(t, b, `${E}.payload`, /unknown union type 9/);
  b[tag] = 0;
  expectError(t, b, `${E}.payload`, /union value present without a type/);

  const c = buildEverything(fullEverything());
  at.setU16(c, at.vtable(c, at.root(c)) + slot('payload'), 0);
  expectError(t, c, `${E}.payload`, /union type 1 present without a value/);

});

t.test('rejects a missing required field, also inside nested tables', async (t) => {
  const b = buildEverything(minimalEverything());
  at.setU16(b, at.vtable(b, at.root(b)) + slot('name'), 0);
  expectError(t, b, `${E}.name`, /required field missing/);

  const c = buildEverything(fullEverything());
  const leaves = at.deref(c, at.field(c, at.root(c), slot('leaves')));
  const leaf = at.deref(c, leaves + 4);
  at.setU16(c, at.vtable(c, leaf) + slotOf('offset.wiretest.Leaf', 'key'), 0);
  expectError(t, c, /^offset\.wiretest\.Everything\.leaves\[\d\] -> offset\.wiretest\.Leaf\.key$/, /required field missing/);
});

t.test('rejects a struct or scalar that does not fit (wrong fixed size)', async (t) => {
  const builder = new flatbuffers.Builder(64);
  builder.finish(new LeafT(new KeyT(new Array(32).fill(7)), null).pack(builder));
  const b = builder.asUint8Array().slice();
  const keyPos = at.field(b, at.root(b), slotOf('offset.wiretest.Leaf', 'key'));
  t.equal(v.verify(b, 'offset.wiretest.Leaf'), null);
  expectError(t, b.slice(0, keyPos + 31), 'offset.wiretest.Leaf.key', /offset\.shapes\.Key \(32 bytes\) at \d+ does not fit the \d+-byte remainder/, 'offset.wiretest.Leaf');

  const c = buildEverything(fullEverything());
  const vt = at.vtable(c, at.root(c));
  at.setU16(c, vt + 2, 4); // a table of nothing but its vtable offset
  expectError(t, c, `${E}.flag`, /bool \(1 bytes\) at \d+ does not fit the 4-byte table/);
});

t.test('rejects misaligned scalars and structs', async (t) => {
  const b = buildEverything(fullEverything());
  const vt = at.vtable(b, at.root(b));
  at.setU16(b, vt + slot('u64'), at.u16(b, vt + slot('u64')) + 1);
  expectError(t, b, `${E}.u64`, /uint64 at \d+ is not 8-byte aligned/);
});

t.test('rejects nesting deeper than the limit and runaway object counts', async (t) => {
  const deep = minimalEverything();
  deep.chain = chainOf(64);
  const b = buildEverything(deep);
  expectError(t, b, /^offset\.wiretest\.Everything\.chain( -> offset\.wiretest\.Chain\.next){63}$/, /nesting deeper than 64/);
  const shallow = minimalEverything();
  shallow.chain = chainOf(3);
  const c = buildEverything(shallow);
  expectError(t, c, /Chain\.next$/, /nesting deeper than 3/, E, { depthMax: 3 });
  expectError(t, buildEverything(fullEverything()), /./, /too many objects/, E, { objectsMax: 5 });
});

t.test('a self-referencing table cannot hang the verifier', async (t) => {
  const shallow = minimalEverything();
  shallow.chain = chainOf(2);
  const b = buildEverything(shallow);
  const first = at.deref(b, at.field(b, at.root(b), slot('chain')));
  const nextPos = at.field(b, first, slotOf('offset.wiretest.Chain', 'next'));
  // Point `next` backwards at its own table: uoffsets are unsigned, so the closest we can get is a
  // loop through wrap-around, which must be rejected as out of bounds.
  at.setU32(b, nextPos, 0x100000000 - (nextPos - first));
  expectError(t, b, /Chain\.next$/, /points outside/);
});

/** A Tree whose 8 kids are all the previous level, `levels` deep: 8^levels visits from a few bytes. */
function sharedTree(levels: number): Uint8Array {
  const builder = new flatbuffers.Builder(64);
  builder.startObject(1);
  let level = builder.endObject();
  for (let depth = 0; depth < levels; depth++) {
    builder.startVector(4, 8, 4);
    for (let i = 0; i < 8; i++) builder.addOffset(level);
    const kids = builder.endVector();
    builder.startObject(1);
    builder.addFieldOffset(0, kids, 0);
    level = builder.endObject();
  }
  builder.finish(level);
  return builder.asUint8Array().slice();
}

t.test('shared subtrees cannot make verification work grow beyond the buffer size', async (t) => {
  const T = 'offset.wiretest.Tree';
  const huge = sharedTree(9);
  t.ok(huge.length < 500, `${huge.length} bytes`);
  expectError(t, huge, /^offset\.wiretest\.Tree\.kids\[0\]/, /too many objects for the buffer size/, T);
  const small = sharedTree(3); // 1 + 8 + 64 + 512 tables and 73 vectors
  expectError(t, small, /^offset\.wiretest\.Tree\.kids\[0\]/, /too many objects/, T);
  t.equal(v.verify(small, T, { objectsMax: 658 }), null, 'an explicit limit overrides the default');
  expectError(t, small, /Tree\.kids\[\d\]/, /too many objects/, T, { objectsMax: 657 });
  t.equal(v.verify(buildEverything(fullEverything()), E), null, 'a buffer without shared subtrees stays under the default');
});
