import { assert } from '../common/errors.js';
import { layouts } from '../wire/generated/layouts.js';
import type { Layouts } from '../wire/layout.js';

/**
 * The schema verifier's checks (src/wire/verify.ts) written out for the one shape the ingest
 * path sees all the time: a ClientMessage whose body is a MutationsUpdate. The generic verifier
 * walks per-field plans; here every field's offset, size and alignment is a constant, which
 * takes most of the verification cost off each update.
 *
 * It answers only "passes" (the MutationsUpdate table's position) or "not sure" (-1): on -1 the
 * caller runs the generic verifier, which then gives the verdict and the error message. So the
 * fast path may be stricter than the generic verifier but never looser: every check the generic
 * verifier makes on such a buffer is made here too (bounds and alignment of every offset,
 * vtable, field, string and vector; the NUL terminator; the object budget of one object per
 * four bytes). test/fuzz/index-update.test.ts compares the two on every fuzzed buffer.
 *
 * The layout constants below are checked against the generated layouts when this module loads,
 * so a schema change that moves a field fails loudly instead of reading the wrong bytes.
 */

const BUFFER_BYTES_MIN = 12;
const UNION_TAG_MUTATIONS_UPDATE = 1;

// Module state: verification is synchronous and allocates nothing.
let b: Uint8Array = new Uint8Array(0);
let len = 0;
let objectsLeft = 0;
let vt = 0;
let vsize = 0;
let tsize = 0;

function u16(at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function u32(at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
}

/** Opens the table at `t`: false when the table or its vtable is out of bounds or misaligned. */
function openTable(t: number): boolean {
  if (--objectsLeft < 0) return false;
  if ((t & 3) !== 0 || t + 4 > len) return false;
  const v = t - (b[t] | (b[t + 1] << 8) | (b[t + 2] << 16) | (b[t + 3] << 24));
  if (v < 0 || v + 4 > len || (v & 1) !== 0) return false;
  const vs = u16(v);
  const ts = u16(v + 2);
  if (vs < 4 || (vs & 1) !== 0 || v + vs > len) return false;
  if (ts < 4 || t + ts > len) return false;
  vt = v;
  vsize = vs;
  tsize = ts;
  return true;
}

/** The vtable entry at `slot` of the open table, 0 when absent. */
function slotOffset(slot: number): number {
  return slot < vsize ? u16(vt + slot) : 0;
}

/** A struct field: may lie past the table's inline size, never past the buffer. */
function structOk(t: number, fo: number, size: number, align: number): boolean {
  return fo === 0 || (fo >= 4 && t + fo + size <= len && ((t + fo) & (align - 1)) === 0);
}

/** A scalar or offset field: inside the table's inline size. */
function inlineOk(t: number, fo: number, size: number): boolean {
  return fo === 0 || (fo >= 4 && fo + size <= tsize && ((t + fo) & (size - 1)) === 0);
}

/** Target of the uoffset at `p`, -1 when it points outside the buffer. */
function follow(p: number): number {
  const o = u32(p);
  return o === 0 || o > 0x7fffffff || p + o >= len ? -1 : p + o;
}

function stringOk(s: number): boolean {
  if (--objectsLeft < 0) return false;
  if ((s & 3) !== 0 || s + 4 > len) return false;
  const end = s + 4 + u32(s);
  return end + 1 <= len && b[end] === 0;
}

/** IndexMutation: kind u8 @4, friend PublicKey @6, currency string @8, recv_capacity U128 @10, rate Rate @12. */
function mutationOk(t: number): boolean {
  if (!openTable(t)) return false;
  if (!inlineOk(t, slotOffset(4), 1)) return false;
  if (!structOk(t, slotOffset(6), 32, 1)) return false;
  const currency = slotOffset(8);
  if (!inlineOk(t, currency, 4)) return false;
  if (!structOk(t, slotOffset(10), 16, 8)) return false;
  if (!structOk(t, slotOffset(12), 8, 4)) return false;
  if (currency !== 0) {
    const s = follow(t + currency);
    if (s < 0 || !stringOk(s)) return false;
  }
  return true;
}

/**
 * MutationsUpdate: node @4, mutations [IndexMutation] @6, time_hash @8, session_epoch u64 @10,
 * session_id @12, counter u64 @14, rand_nonce @16, signature @18.
 */
function updateOk(t: number): boolean {
  if (!openTable(t)) return false;
  if (!structOk(t, slotOffset(4), 32, 1)) return false;
  const list = slotOffset(6);
  if (!inlineOk(t, list, 4)) return false;
  if (!structOk(t, slotOffset(8), 32, 1)) return false;
  if (!inlineOk(t, slotOffset(10), 8)) return false;
  if (!structOk(t, slotOffset(12), 16, 1)) return false;
  if (!inlineOk(t, slotOffset(14), 8)) return false;
  if (!structOk(t, slotOffset(16), 16, 1)) return false;
  if (!structOk(t, slotOffset(18), 64, 1)) return false;
  if (list === 0) return true;
  const v = follow(t + list);
  if (v < 0) return false;
  if (--objectsLeft < 0) return false;
  if ((v & 3) !== 0 || v + 4 > len) return false;
  const n = u32(v);
  const data = v + 4;
  if (data + n * 4 > len) return false;
  for (let i = 0; i < n; i++) {
    const m = follow(data + 4 * i);
    if (m < 0 || !mutationOk(m)) return false;
  }
  return true;
}

/**
 * Position of the MutationsUpdate table when `bytes` is a ClientMessage carrying one and passes
 * every check of verifyBuffer(bytes, 'offset.index.ClientMessage'); otherwise -1 (anything else,
 * valid or not, is for the generic verifier).
 */
export function verifiedClientUpdateAt(bytes: Uint8Array): number {
  const length = bytes.byteLength;
  if (length < BUFFER_BYTES_MIN || length > 0x7fffffff) return -1;
  b = bytes;
  len = length;
  objectsLeft = Math.ceil(length / 4);
  let at = -1;
  const root = u32(0);
  if (root !== 0 && root <= 0x7fffffff && root < length && openTable(root)) {
    // ClientMessage: body_type u8 @4, body union @6.
    const tagOffset = slotOffset(4);
    const bodyOffset = slotOffset(6);
    if (inlineOk(root, tagOffset, 1) && tagOffset !== 0 && b[root + tagOffset] === UNION_TAG_MUTATIONS_UPDATE && bodyOffset !== 0 && inlineOk(root, bodyOffset, 4)) {
      const body = follow(root + bodyOffset);
      if (body >= 0 && updateOk(body)) at = body;
    }
  }
  b = new Uint8Array(0); // do not keep the caller's buffer alive
  return at;
}

/** The generated layouts must be the ones the constants above were written for. */
function checkLayouts(l: Layouts): void {
  const shape = (table: string): string =>
    JSON.stringify(l.tables[table]?.fields.filter((f) => !f.deprecated).map((f) => [f.slot, f.required, f.type]));
  const expect = (table: string, fields: unknown[]): void => assert(shape(table) === JSON.stringify(fields), `update-verifier: layout of ${table} changed`);
  const st = (name: string) => ({ kind: 'struct', struct: `offset.common.${name}` });
  expect('offset.index.ClientMessage', [
    [4, false, { kind: 'utype', union: 'offset.index.ClientBody' }],
    [6, false, { kind: 'union', union: 'offset.index.ClientBody' }],
  ]);
  assert(l.tables['offset.index.ClientMessage']?.fileIdentifier === undefined, 'update-verifier: ClientMessage gained a file identifier');
  expect('offset.index.MutationsUpdate', [
    [4, false, st('PublicKey')],
    [6, false, { kind: 'vector', element: { kind: 'table', table: 'offset.index.IndexMutation' } }],
    [8, false, st('Hash32')],
    [10, false, { kind: 'scalar', scalar: 'uint64' }],
    [12, false, st('Uid')],
    [14, false, { kind: 'scalar', scalar: 'uint64' }],
    [16, false, st('Uid')],
    [18, false, st('Signature')],
  ]);
  expect('offset.index.IndexMutation', [
    [4, false, { kind: 'scalar', scalar: 'uint8', enum: 'offset.index.MutationKind' }],
    [6, false, st('PublicKey')],
    [8, false, { kind: 'string' }],
    [10, false, st('U128')],
    [12, false, st('Rate')],
  ]);
  const sizes: [string, number, number][] = [['PublicKey', 32, 1], ['Hash32', 32, 1], ['Uid', 16, 1], ['Signature', 64, 1], ['U128', 16, 8], ['Rate', 8, 4]];
  for (const [name, size, align] of sizes) {
    const s = l.structs[`offset.common.${name}`];
    assert(s !== undefined && s.size === size && s.align === align, `update-verifier: struct ${name} changed`);
  }
  const member = l.unions['offset.index.ClientBody']?.members.find((m) => m.tag === UNION_TAG_MUTATIONS_UPDATE);
  assert(member?.table === 'offset.index.MutationsUpdate', 'update-verifier: ClientBody tag of MutationsUpdate changed');
}

checkLayouts(layouts);
