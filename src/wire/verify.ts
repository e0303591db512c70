/**
 * FlatBuffers verifier for TypeScript, driven by the layouts `npm run gen` derives from
 * schemas/*.fbs. The flatbuffers runtime reads whatever offsets a buffer contains, so every
 * inbound buffer must pass here before a generated accessor touches it: after a null result,
 * every accessor of the root table and everything reachable from it reads inside the buffer.
 *
 * Checks follow flatc's C++ Verifier (bounds and alignment of every uoffset/soffset/vtable,
 * strings with NUL terminator, vectors with overflow-safe lengths, nested tables, depth and object
 * limits) and are stricter where our decoders rely on it: a present field must lie inside its
 * table's inline size, union tag and value must be both present or both absent with a known tag,
 * vector element data must be aligned, and a root with a declared file_identifier must carry it.
 *
 * Layouts are compiled once into per-table plans; verifying allocates nothing unless it fails.
 */
import { assert } from '../common/errors.js';
import { WireError } from './errors.js';
import { layouts as generatedLayouts, type TableName } from './generated/layouts.js';
import type { ElementType, Layouts, ScalarType, TableFieldLayout } from './layout.js';

export { WireError };

export interface VerifyLimits {
  /** Largest buffer accepted (default 2^31 - 1, the format's own limit). */
  readonly bytesMax?: number;
  /** Deepest table nesting (root is depth 1; default 64). */
  readonly depthMax?: number;
  /**
   * Most tables, strings and vectors visited, counting shared ones each time. Default: one per
   * 4 bytes of buffer, which every unshared buffer meets (each object is reached through its own
   * 4-byte offset) and which keeps the work linear in the size even for a crafted buffer whose
   * offsets share subtrees.
   */
  readonly objectsMax?: number;
  /** Whether a root whose schema declares a file_identifier must carry it (default true). */
  readonly checkIdentifier?: boolean;
}

const DEFAULT_BYTES_MAX = 0x7fffffff;
const DEFAULT_DEPTH_MAX = 64;
const BUFFER_BYTES_MIN = 12; // root uoffset + soffset + the smallest vtable

const INLINE = 0;
const STRING = 1;
const TABLE = 2;
const VECTOR_INLINE = 3;
const VECTOR_STRING = 4;
const VECTOR_TABLE = 5;
const UNION_VALUE = 6;

interface FieldPlan {
  readonly name: string;
  readonly slot: number;
  readonly kind: number;
  /** Inline size in the table (4 for offsets). */
  readonly size: number;
  readonly align: number;
  /** Element size/alignment for VECTOR_INLINE. */
  readonly elemSize: number;
  readonly elemAlign: number;
  readonly required: boolean;
  readonly isStruct: boolean;
  readonly what: string;
  table: TablePlan | null;
  union: UnionPlan | null;
  /** Vtable slot of the union's tag field (UNION_VALUE only). */
  readonly tagSlot: number;
}

interface TablePlan {
  readonly name: string;
  readonly fields: FieldPlan[];
  readonly identifier: string | null;
}

interface UnionPlan {
  readonly name: string;
  /** Indexed by tag; null for NONE and unknown tags. */
  readonly byTag: (TablePlan | null)[];
}

const scalarBytes: Record<ScalarType, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8,
};

function compile(layouts: Layouts): Map<string, TablePlan> {
  const plans = new Map<string, TablePlan>();
  const unions = new Map<string, UnionPlan>();
  const pending: { field: FieldPlan; table?: string; union?: string }[] = [];

  const inline = (element: ElementType): { size: number; align: number; what: string } => {
    if (element.kind === 'scalar') return { size: scalarBytes[element.scalar], align: scalarBytes[element.scalar], what: element.enum ?? element.scalar };
    assert(element.kind === 'struct', 'inline element must be a scalar or struct');
    const s = layouts.structs[element.struct];
    assert(s !== undefined, `unknown struct ${element.struct}`);
    return { size: s.size, align: s.align, what: s.name };
  };

  for (const table of Object.values(layouts.tables)) {
    const fields: FieldPlan[] = [];
    for (const f of table.fields) {
      if (f.deprecated) continue; // never read, so never verified (as flatc's verifier)
      const base = { name: f.name, slot: f.slot, required: f.required, isStruct: f.type.kind === 'struct', table: null, union: null, tagSlot: 0, elemSize: 0, elemAlign: 1 };
      const t = f.type;
      let plan: FieldPlan;
      if (t.kind === 'scalar' || t.kind === 'struct') {
        const { size, align, what } = inline(t);
        plan = { ...base, kind: INLINE, size, align, what };
      } else if (t.kind === 'utype') {
        plan = { ...base, kind: INLINE, size: 1, align: 1, what: `${t.union} tag` };
      } else if (t.kind === 'string') {
        plan = { ...base, kind: STRING, size: 4, align: 4, what: 'string' };
      } else if (t.kind === 'table') {
        plan = { ...base, kind: TABLE, size: 4, align: 4, what: t.table };
        pending.push({ field: plan, table: t.table });
      } else if (t.kind === 'union') {
        const tag = table.fields.find((g: TableFieldLayout) => g.type.kind === 'utype' && g.id === f.id - 1);
        assert(tag !== undefined, `${table.name}.${f.name} has no tag field`);
        plan = { ...base, kind: UNION_VALUE, size: 4, align: 4, what: t.union, tagSlot: tag.slot };
        pending.push({ field: plan, union: t.union });
      } else {
        const e = t.element;
        if (e.kind === 'string') plan = { ...base, kind: VECTOR_STRING, size: 4, align: 4, what: '[string]' };
        else if (e.kind === 'table') {
          plan = { ...base, kind: VECTOR_TABLE, size: 4, align: 4, what: `[${e.table}]` };
          pending.push({ field: plan, table: e.table });
        } else {
          const { size, align, what } = inline(e);
          plan = { ...base, kind: VECTOR_INLINE, size: 4, align: 4, elemSize: size, elemAlign: align, what: `[${what}]` };
        }
      }
      fields.push(plan);
    }
    fields.sort((a, b) => a.slot - b.slot);
    plans.set(table.name, { name: table.name, fields, identifier: table.fileIdentifier ?? null });
  }
  for (const u of Object.values(layouts.unions)) {
    const byTag: (TablePlan | null)[] = new Array<TablePlan | null>(256).fill(null);
    for (const m of u.members) {
      const plan = plans.get(m.table);
      assert(plan !== undefined, `unknown union member ${m.table}`);
      byTag[m.tag] = plan;
    }
    unions.set(u.name, { name: u.name, byTag });
  }
  for (const p of pending) {
    if (p.table !== undefined) {
      const plan = plans.get(p.table);
      assert(plan !== undefined, `unknown table ${p.table}`);
      p.field.table = plan;
    } else {
      const plan = unions.get(p.union as string);
      assert(plan !== undefined, `unknown union ${String(p.union)}`);
      p.field.union = plan;
    }
  }
  return plans;
}

/** A verifier over one set of layouts (the project's generated ones, or a test fixture's). */
export class WireVerifier {
  private readonly plans: Map<string, TablePlan>;
  // Per-call state; verification is synchronous, so one set per verifier suffices.
  private b: Uint8Array = new Uint8Array(0);
  private len = 0;
  private depthMax = DEFAULT_DEPTH_MAX;
  private objectsLeft = 0;
  private problem = '';
  private readonly path: string[] = [];

  constructor(layouts: Layouts) {
    this.plans = compile(layouts);
  }

  hasTable(name: string): boolean {
    return this.plans.has(name);
  }

  verify(bytes: Uint8Array, rootTable: string, limits?: VerifyLimits): WireError | null {
    const plan = this.plans.get(rootTable);
    assert(plan !== undefined, `verifyBuffer: unknown table ${rootTable}`);
    const bytesMax = limits?.bytesMax ?? DEFAULT_BYTES_MAX;
    const len = bytes.byteLength;
    if (len < BUFFER_BYTES_MIN) return new WireError(rootTable, `buffer of ${len} bytes is shorter than the ${BUFFER_BYTES_MIN}-byte minimum`);
    if (len > bytesMax) return new WireError(rootTable, `buffer of ${len} bytes exceeds the ${bytesMax}-byte limit`);
    if (plan.identifier !== null && limits?.checkIdentifier !== false) {
      const id = plan.identifier;
      for (let i = 0; i < 4; i++) {
        if (bytes[4 + i] !== id.charCodeAt(i)) return new WireError(rootTable, `file identifier is not "${id}"`);
      }
    }
    this.b = bytes;
    this.len = len;
    this.depthMax = limits?.depthMax ?? DEFAULT_DEPTH_MAX;
    this.objectsLeft = limits?.objectsMax ?? Math.ceil(len / 4);
    this.path.length = 0;
    let ok = false;
    const root = this.u32(0);
    if (root === 0 || root > 0x7fffffff || root >= len) this.problem = `root offset ${root} outside the ${len}-byte buffer`;
    else ok = this.table(plan, root, 1);
    this.b = new Uint8Array(0); // do not keep the caller's buffer alive
    if (ok) return null;
    let path = this.path.length === 0 ? rootTable : '';
    for (let i = this.path.length - 1; i >= 0; i--) {
      const segment = this.path[i];
      path += segment.startsWith('[') || path === '' ? segment : ` -> ${segment}`;
    }
    return new WireError(path, this.problem);
  }

  private u16(p: number): number {
    const b = this.b;
    return b[p] | (b[p + 1] << 8);
  }

  private u32(p: number): number {
    const b = this.b;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
  }

  private i32(p: number): number {
    const b = this.b;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
  }

  private fail(problem: string): false {
    this.problem = problem;
    return false;
  }

  /** Follows the uoffset at `p` (already known to be in bounds and aligned); -1 when it is bad. */
  private follow(p: number): number {
    const o = this.u32(p);
    if (o === 0 || o > 0x7fffffff || p + o >= this.len) {
      this.problem = `offset ${o} at ${p} points outside the ${this.len}-byte buffer`;
      return -1;
    }
    return p + o;
  }

  private table(plan: TablePlan, t: number, depth: number): boolean {
    if (depth > this.depthMax) return this.fail(`nesting deeper than ${this.depthMax}`);
    if (--this.objectsLeft < 0) return this.fail('too many objects for the buffer size (shared subtrees?)');
    const len = this.len;
    if ((t & 3) !== 0) return this.fail(`table at ${t} is not 4-byte aligned`);
    if (t + 4 > len) return this.fail(`table at ${t} extends past the buffer`);
    const vt = t - this.i32(t);
    if (vt < 0 || vt + 4 > len) return this.fail(`vtable at ${vt} outside the buffer`);
    if ((vt & 1) !== 0) return this.fail(`vtable at ${vt} is not 2-byte aligned`);
    const vsize = this.u16(vt);
    const tsize = this.u16(vt + 2);
    if (vsize < 4 || (vsize & 1) !== 0) return this.fail(`vtable size ${vsize} is invalid`);
    if (vt + vsize > len) return this.fail(`vtable of ${vsize} bytes at ${vt} extends past the buffer`);
    if (tsize < 4) return this.fail(`table size ${tsize} is smaller than its vtable offset`);
    if (t + tsize > len) return this.fail(`table of ${tsize} bytes at ${t} extends past the buffer`);

    const fields = plan.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const fo = f.slot < vsize ? this.u16(vt + f.slot) : 0;
      if (f.kind === UNION_VALUE) {
        const tagOffset = f.tagSlot < vsize ? this.u16(vt + f.tagSlot) : 0;
        const tag = tagOffset === 0 ? 0 : this.b[t + tagOffset]; // bounds checked when the tag field was visited
        if (tag === 0) {
          if (fo !== 0) return this.failAt(f, plan, 'union value present without a type');
          if (f.required) return this.failAt(f, plan, 'required field missing');
          continue;
        }
        if (fo === 0) return this.failAt(f, plan, `union type ${tag} present without a value`);
        const member = (f.union as UnionPlan).byTag[tag];
        if (member === null) return this.failAt(f, plan, `unknown union type ${tag}`);
        if (!this.inline(f, plan, t, fo, tsize)) return false;
        const target = this.follow(t + fo);
        if (target < 0 || !this.table(member, target, depth + 1)) return this.wrap(f, plan);
        continue;
      }
      if (fo === 0) {
        if (f.required) return this.failAt(f, plan, 'required field missing');
        continue;
      }
      if (!this.inline(f, plan, t, fo, tsize)) return false;
      const kind = f.kind;
      if (kind === INLINE) continue;
      const target = this.follow(t + fo);
      if (target < 0) return this.wrap(f, plan);
      let ok: boolean;
      if (kind === STRING) ok = this.string(target);
      else if (kind === TABLE) ok = this.table(f.table as TablePlan, target, depth + 1);
      else ok = this.vector(f, target, depth);
      if (!ok) return this.wrap(f, plan);
    }
    return true;
  }

  private inline(f: FieldPlan, plan: TablePlan, t: number, fo: number, tsize: number): boolean {
    // flatc's TypeScript create<Table>() helpers write struct fields before the table starts, so
    // a struct may lie past the table's declared inline size (but never past the buffer); every
    // other inline field is always written inside the table.
    if (fo < 4) return this.failAt(f, plan, `field offset ${fo} overlaps the table's vtable offset`);
    if (f.isStruct ? t + fo + f.size > this.len : fo + f.size > tsize) {
      return this.failAt(f, plan, `${f.what} (${f.size} bytes) at ${fo} does not fit the ${f.isStruct ? `${this.len - t}-byte remainder of the buffer after the` : `${tsize}-byte`} table`);
    }
    if (((t + fo) & (f.align - 1)) !== 0) return this.failAt(f, plan, `${f.what} at ${t + fo} is not ${f.align}-byte aligned`);
    return true;
  }

  private failAt(f: FieldPlan, plan: TablePlan, problem: string): false {
    this.problem = problem;
    return this.wrap(f, plan);
  }

  private wrap(f: FieldPlan, plan: TablePlan): false {
    this.path.push(`${plan.name}.${f.name}`);
    return false;
  }

  private string(s: number): boolean {
    if (--this.objectsLeft < 0) return this.fail('too many objects for the buffer size (shared subtrees?)');
    if ((s & 3) !== 0) return this.fail(`string at ${s} is not 4-byte aligned`);
    if (s + 4 > this.len) return this.fail(`string length at ${s} extends past the buffer`);
    const n = this.u32(s);
    const end = s + 4 + n; // exact in doubles: no overflow
    if (end + 1 > this.len) return this.fail(`string of ${n} bytes at ${s} extends past the buffer`);
    if (this.b[end] !== 0) return this.fail(`string at ${s} lacks its NUL terminator`);
    return true;
  }

  private vector(f: FieldPlan, v: number, depth: number): boolean {
    if (--this.objectsLeft < 0) return this.fail('too many objects for the buffer size (shared subtrees?)');
    if ((v & 3) !== 0) return this.fail(`vector at ${v} is not 4-byte aligned`);
    if (v + 4 > this.len) return this.fail(`vector length at ${v} extends past the buffer`);
    const n = this.u32(v);
    const data = v + 4;
    const kind = f.kind;
    const elemSize = kind === VECTOR_INLINE ? f.elemSize : 4;
    if (data + n * elemSize > this.len) return this.fail(`vector of ${n} x ${elemSize}-byte elements at ${v} extends past the buffer`);
    if (kind === VECTOR_INLINE) {
      if (n > 0 && (data & (f.elemAlign - 1)) !== 0) return this.fail(`vector data at ${data} is not ${f.elemAlign}-byte aligned`);
      return true;
    }
    for (let i = 0; i < n; i++) {
      const e = data + 4 * i;
      const target = this.follow(e);
      const ok = target >= 0 && (kind === VECTOR_STRING ? this.string(target) : this.table(f.table as TablePlan, target, depth + 1));
      if (!ok) {
        this.path.push(`[${i}]`);
        return false;
      }
    }
    return true;
  }
}

const defaultVerifier = new WireVerifier(generatedLayouts);

/**
 * Verifies `bytes` as a buffer whose root is `rootTable` (fully qualified, e.g.
 * 'offset.app.AppToNode'). Returns null when every generated accessor reachable from the root
 * reads inside the buffer, otherwise a WireError naming the table, field and problem.
 */
export function verifyBuffer(bytes: Uint8Array, rootTable: TableName, limits?: VerifyLimits): WireError | null {
  return defaultVerifier.verify(bytes, rootTable, limits);
}
