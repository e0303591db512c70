/**
 * An independent oracle for the verifier: walks everything a verified buffer's accessors could
 * reach, reading through a DataView, which throws RangeError on any out-of-bounds read.
 */
import type { Layouts, ScalarType } from '../../src/wire/layout.js';

const scalarBytes: Record<ScalarType, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8,
};

export function walk(layouts: Layouts, bytes: Uint8Array, table: string): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const touch = (p: number, size: number): void => {
    if (size > 0) dv.getUint8(p + size - 1);
    dv.getUint8(p);
  };
  const deref = (p: number): number => p + dv.getUint32(p, true);
  const str = (p: number): void => {
    const n = dv.getUint32(p, true);
    if (dv.getUint8(p + 4 + n) !== 0) throw new Error('unterminated string');
  };
  const visit = (name: string, t: number): void => {
    const vt = t - dv.getInt32(t, true);
    const vsize = dv.getUint16(vt, true);
    for (const f of layouts.tables[name].fields) {
      if (f.deprecated) continue;
      const fo = f.slot < vsize ? dv.getUint16(vt + f.slot, true) : 0;
      if (fo === 0) continue;
      const p = t + fo;
      const ty = f.type;
      if (ty.kind === 'scalar') touch(p, scalarBytes[ty.scalar]);
      else if (ty.kind === 'utype') touch(p, 1);
      else if (ty.kind === 'struct') touch(p, layouts.structs[ty.struct].size);
      else if (ty.kind === 'string') str(deref(p));
      else if (ty.kind === 'table') visit(ty.table, deref(p));
      else if (ty.kind === 'union') {
        const tagField = layouts.tables[name].fields.find((g) => g.id === f.id - 1);
        const tagOffset = tagField && tagField.slot < vsize ? dv.getUint16(vt + tagField.slot, true) : 0;
        const tag = tagOffset ? dv.getUint8(t + tagOffset) : 0;
        const member = layouts.unions[ty.union].members.find((m) => m.tag === tag);
        if (!member) throw new Error(`verified union with tag ${tag}`);
        visit(member.table, deref(p));
      } else {
        const v = deref(p);
        const n = dv.getUint32(v, true);
        const e = ty.element;
        if (e.kind === 'scalar' || e.kind === 'struct') {
          const size = e.kind === 'scalar' ? scalarBytes[e.scalar] : layouts.structs[e.struct].size;
          if (n > 0) touch(v + 4, n * size);
        } else {
          for (let i = 0; i < n; i++) {
            const target = deref(v + 4 + 4 * i);
            if (e.kind === 'string') str(target);
            else visit(e.table, target);
          }
        }
      }
    }
  };
  visit(table, deref(0));
}
