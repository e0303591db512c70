import { i32, u16, u32 } from '../wire/flat_table.js';

/**
 * The union tag of a TunnelFrame when it is a well-formed Data frame, without allocating: the
 * relay classifies every forwarded message, and building reader objects for each cost more than
 * the rest of the forwarding path. Returns 1 (Data) only after the same bounds and alignment
 * checks the verifier applies to this shape (root table, vtable, union tag and value, Data table,
 * byte vector); anything else returns 0 and goes through the full decoder.
 */
export function tunnelDataTag(bytes: Uint8Array): number {
  const n = bytes.byteLength;
  if (n < 12) return 0;
  const table = u32(bytes, 0);
  if (table === 0 || table % 4 !== 0 || table + 4 > n) return 0;
  const tagAt = fieldAt(bytes, table, 0, 1);
  const bodyAt = fieldAt(bytes, table, 1, 4);
  if (tagAt <= 0 || bodyAt <= 0 || bytes[tagAt] !== 1) return 0;
  const bodyOffset = u32(bytes, bodyAt);
  const data = bodyAt + bodyOffset;
  if (bodyOffset === 0 || data % 4 !== 0 || data + 4 > n) return 0;
  const vecField = fieldAt(bytes, data, 0, 4);
  if (vecField <= 0) return 0;
  const vecOffset = u32(bytes, vecField);
  const vec = vecField + vecOffset;
  if (vecOffset === 0 || vec % 4 !== 0 || vec + 4 > n) return 0;
  return vec + 4 + u32(bytes, vec) <= n ? 1 : 0;
}

/** Position of field `index` of the table at `pos` (0: absent, -1: malformed). */
function fieldAt(bytes: Uint8Array, pos: number, index: number, size: number): number {
  const vtable = pos - i32(bytes, pos);
  if (vtable < 0 || vtable % 2 !== 0 || vtable + 4 > bytes.byteLength) return -1;
  const vtableBytes = u16(bytes, vtable);
  const tableBytes = u16(bytes, vtable + 2);
  if (vtableBytes < 4 || vtableBytes % 2 !== 0 || vtable + vtableBytes > bytes.byteLength || pos + tableBytes > bytes.byteLength) return -1;
  const slot = 4 + 2 * index;
  if (slot + 2 > vtableBytes) return 0;
  const offset = u16(bytes, vtable + slot);
  if (offset === 0) return 0;
  if (offset < 4 || offset + size > tableBytes) return -1;
  return pos + offset;
}
