import t from 'tap';
import * as flatbuffers from 'flatbuffers';
import { PublicKey } from '../../src/wire/generated/offset/common/public-key.js';
import { Signature } from '../../src/wire/generated/offset/common/signature.js';
import { U128 } from '../../src/wire/generated/offset/common/u128.js';
import { Rate } from '../../src/wire/generated/offset/common/rate.js';
import {
  createCurrency, currencyProblem, decodeRoot, readCurrency, readI128, readPublicKey, readRate, readSignature,
  readU128, readText, writeI128, writePublicKey, writeRate, writeSignature, writeU128, WireError, READER_THREW, finishBytes, unwrap, malformed, check, fieldPos, refPos,
} from '../../src/wire/decode.js';
import { I128_MAX, I128_MIN, U128_MAX } from '../../src/common/bytes.js';

const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const sig = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);

t.test('bulk struct writers produce the same bytes as the generated per-byte ones', async (t) => {
  for (const [ours, theirs] of [
    [(b: flatbuffers.Builder) => writePublicKey(b, key), (b: flatbuffers.Builder) => PublicKey.createPublicKey(b, [...key])],
    [(b: flatbuffers.Builder) => writeSignature(b, sig), (b: flatbuffers.Builder) => Signature.createSignature(b, [...sig])],
    [(b: flatbuffers.Builder) => writeU128(b, (5n << 64n) | 9n), (b: flatbuffers.Builder) => U128.createU128(b, 5n, 9n)],
    [(b: flatbuffers.Builder) => writeRate(b, { mul: 0xffffffff, add: 3 }), (b: flatbuffers.Builder) => Rate.createRate(b, 0xffffffff, 3)],
  ] as const) {
    // A small initial size forces the builder to grow inside prep().
    const a = new flatbuffers.Builder(1);
    const b = new flatbuffers.Builder(1);
    a.addInt8(1);
    b.addInt8(1);
    t.equal(ours(a), theirs(b));
    t.same(a.asUint8Array(), b.asUint8Array());
  }
});

t.test('readers return zero-copy views and exact big integers', async (t) => {
  const b = new flatbuffers.Builder(8);
  const pk = writePublicKey(b, key);
  const bytes = b.asUint8Array();
  const bb = new flatbuffers.ByteBuffer(bytes);
  const pos = bytes.length - pk;
  const view = readPublicKey(bb, pos);
  t.same(view, key);
  t.equal(view.buffer, bytes.buffer, 'shares the inbound buffer');
  t.same(readSignature(new flatbuffers.ByteBuffer(sigBytes()), 0), sig);

  for (const value of [0n, 1n, (1n << 64n) - 1n, 1n << 64n, U128_MAX]) {
    const c = new flatbuffers.Builder(1);
    const off = writeU128(c, value);
    const u = c.asUint8Array();
    t.equal(readU128(new flatbuffers.ByteBuffer(u), u.length - off), value);
  }
  for (const value of [0n, -1n, I128_MIN, I128_MAX, -(1n << 64n)]) {
    const c = new flatbuffers.Builder(1);
    const off = writeI128(c, value);
    const u = c.asUint8Array();
    t.equal(readI128(new flatbuffers.ByteBuffer(u), u.length - off), value);
  }
  const r = new flatbuffers.Builder(1);
  const off = writeRate(r, { mul: 0x80000000, add: 0xffffffff });
  const ru = r.asUint8Array();
  t.same(readRate(new flatbuffers.ByteBuffer(ru), ru.length - off), { mul: 0x80000000, add: 0xffffffff });
  t.throws(() => writeU128(new flatbuffers.Builder(1), -1n), /out of range/);
  t.throws(() => writePublicKey(new flatbuffers.Builder(1), new Uint8Array(31)), /expected 32 bytes/);
});

function sigBytes(): Uint8Array {
  const b = new flatbuffers.Builder(1);
  writeSignature(b, sig);
  return b.asUint8Array();
}

/** A one-field table holding a string at slot 4, finished. */
function stringTable(raw: Uint8Array | string): Uint8Array {
  const b = new flatbuffers.Builder(16);
  const s = b.createString(raw);
  b.startObject(1);
  b.addFieldOffset(0, s, 0);
  return finishBytes(b, b.endObject());
}

t.test('currency names are 1..16 bytes of well-formed text', async (t) => {
  const read = (bytes: Uint8Array) => {
    const bb = new flatbuffers.ByteBuffer(bytes);
    return readCurrency(bb, bb.readUint32(0), 4, 'T.currency');
  };
  t.same(read(stringTable('EUR')), { ok: true, value: 'EUR' });
  t.same(read(stringTable('€€€€€')), { ok: true, value: '€€€€€' }, '15 bytes of UTF-8');
  for (const [raw, problem] of [
    ['', /0 bytes \(must be 1\.\.16\)|fewer than 1/],
    ['ABCDEFGHIJKLMNOPQ', /17 bytes, more than 16/],
    [Uint8Array.of(0xc3, 0x28), /not valid UTF-8/],
    ['a\nb', /control character/],
  ] as const) {
    const r = read(stringTable(raw));
    t.equal(r.ok, false);
    if (!r.ok) {
      t.ok(r.error instanceof WireError);
      t.equal(r.error.path, 'T.currency');
      t.match(r.error.problem, problem);
    }
  }
  t.equal(currencyProblem('USD'), null);
  t.match(currencyProblem('\ud800'), /well-formed/);
  t.throws(() => createCurrency(new flatbuffers.Builder(1), 'x'.repeat(17)), /17 bytes/);
  const bytes = stringTable('abc');
  const bb = new flatbuffers.ByteBuffer(bytes);
  const root = bb.readUint32(0);
  t.same(readText(bb, root, 6, 'T.other', { bytesMax: 4, optional: true }), { ok: true, value: null });
  t.match(readText(bb, root, 6, 'T.other', { bytesMax: 4 }), { ok: false, error: { problem: 'missing' } });
  t.ok(fieldPos(bb, root, 4) > root);
  t.equal(refPos(bb, root, 6), 0);
});

t.test('decodeRoot verifies first and turns a reader throw into a marked WireError', async (t) => {
  const bytes = stringTable('abc');
  t.match(decodeRoot(new Uint8Array(3), 'offset.relay.Data', () => 1), { ok: false, error: { code: 'ERR_WIRE_MALFORMED' } });
  // relay Data is `bytes: [ubyte] (required)` at slot 4; a string is a valid [ubyte], so this verifies.
  const r = decodeRoot(bytes, 'offset.relay.Data', () => {
    throw new RangeError('boom');
  });
  t.match(r, { ok: false, error: { code: 'ERR_WIRE_MALFORMED', problem: `${READER_THREW}: boom` } });
  t.same(decodeRoot(bytes, 'offset.relay.Data', () => 7), { ok: true, value: 7 });
  t.match(decodeRoot(bytes, 'offset.relay.Data', () => unwrap(malformed('x.Y.z', 'bad'))), { ok: false, error: { path: 'x.Y.z', problem: 'bad' } });
  t.match(decodeRoot(bytes, 'offset.relay.Data', () => check(false, 'x.Y.w', 'worse')), { ok: false, error: { path: 'x.Y.w', problem: 'worse' } });
});
