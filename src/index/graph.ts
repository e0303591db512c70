import { assert } from '../common/errors.js';
import type { Rate } from '../common/rate.js';
import { byteTag } from './byte-tag.js';
import { MAX_CURRENCIES } from './constants.js';
import { DEFAULT_INDEX_LIMITS } from './limits.js';
import { CurrencyGraph, floorToDouble, Snapshot, type SnapshotHandle } from './snapshot.js';
import type { IndexMutation } from './types.js';

/**
 * Write side of the index graph.
 *
 * Every node owns its reports: N's `UpdateFriendCurrency{F, currency, recvCapacity, rate}` is
 * stored under N and means "F can still push recvCapacity to N; N charges `rate` to forward
 * payments that arrive from F". Only N's own updates change N's reports, so expiring or
 * removing N drops N's reports and nothing else (the original wiped other graphs).
 *
 * A send edge A→B exists when A reports B and B reports A in that currency; its capacity is
 * B's recvCapacity for A and its rate is B's rate for A (what B charges when it forwards a
 * payment that came from A). Compaction turns the reports into an immutable CSR snapshot.
 */

interface Report {
  capacity: bigint;
  capacityFloor: number;
  mul: number;
  add: number;
  /** Tick of the update that last set this report. */
  tick: number;
}

/** Public keys interned to dense ids; the bytes live in a shared buffer workers can read. */
export class KeyTable {
  private readonly ids = new Map<string, number>();
  private buffer: SharedArrayBuffer;
  private bytes: Uint8Array;
  private count = 0;

  constructor(initialKeys = 1024) {
    this.buffer = new SharedArrayBuffer(initialKeys * 32);
    this.bytes = new Uint8Array(this.buffer);
  }

  get size(): number {
    return this.count;
  }
  get sharedBuffer(): SharedArrayBuffer {
    return this.buffer;
  }

  static tag(key: Uint8Array): string {
    return byteTag(key);
  }

  lookup(key: Uint8Array): number | undefined {
    return this.ids.get(KeyTable.tag(key));
  }

  intern(key: Uint8Array): number {
    assert(key.byteLength === 32, 'public keys are 32 bytes');
    const tag = KeyTable.tag(key);
    const known = this.ids.get(tag);
    if (known !== undefined) return known;
    if ((this.count + 1) * 32 > this.bytes.byteLength) {
      // Existing snapshots keep the old buffer, so grow by copying into a new one.
      const next = new SharedArrayBuffer(this.bytes.byteLength * 2);
      new Uint8Array(next).set(this.bytes);
      this.buffer = next;
      this.bytes = new Uint8Array(next);
    }
    const id = this.count++;
    this.bytes.set(key, id * 32);
    this.ids.set(tag, id);
    return id;
  }

  keyOf(id: number): Uint8Array {
    assert(id < this.count, 'node id out of range');
    return this.bytes.slice(id * 32, id * 32 + 32);
  }
}

export interface CompactionStats {
  readonly generation: number;
  readonly nodes: number;
  readonly edges: number;
  readonly bytes: number;
  readonly millis: number;
}

export interface WriteGraphOptions {
  /**
   * A compaction rebuilds a currency from scratch when more than this share of its nodes have
   * rows to redo; below it, only those rows are rebuilt and the rest is copied from the previous
   * snapshot. 0 always rebuilds (the reference the incremental path is tested against).
   */
  readonly fullRebuildShare?: number;
  /** Currencies one node may report in at once (DEFAULT_INDEX_LIMITS.currenciesPerNodeMax). */
  readonly currenciesPerNodeMax?: number;
  /** Reports one node may hold at once (DEFAULT_INDEX_LIMITS.reportsPerNodeMax). */
  readonly reportsPerNodeMax?: number;
  /**
   * Interned keys no report or reporter uses any more are reclaimed at a compaction once there
   * are more of them than live keys and at least this many (renumbering costs a full rebuild,
   * so it is amortised over at least that many dead keys). Default 4,096.
   */
  readonly keyReclaimMinDead?: number;
}

/** Why a node's update would break a quota of the graph. */
export type QuotaRefusal = 'too-many-currencies' | 'node-currency-quota' | 'node-report-quota';

/** A copy of `a` with room for at least `n` entries (doubling, so growth is amortised). */
function grown(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  if (n <= a.length) return a;
  const next = new Int32Array(Math.max(n, a.length * 2, 1024));
  next.set(a);
  return next;
}

export class WriteGraph {
  private keyTable = new KeyTable();
  private readonly fullRebuildShare: number;
  private readonly currenciesPerNodeMax: number;
  private readonly reportsPerNodeMax: number;
  private readonly keyReclaimMinDead: number;
  /**
   * Per key id: how many things use it (being a reporter, and each report naming it as the
   * friend). A key at 0 is dead: nothing would be lost if it were forgotten.
   */
  private refs = new Int32Array(0);
  private liveKeys = 0;
  /** Per node id: reports it holds, and currencies it reports in (its quotas). */
  private nodeReports = new Int32Array(0);
  private nodeCurrencies = new Int32Array(0);
  /** Bumped whenever key ids are renumbered (a snapshot's readers rebuild their key maps). */
  private keyEpoch = 0;
  /** Currency ids whose currency had no report left at a compaction, to be given out again. */
  private readonly freeCurrencyIds: number[] = [];

  constructor(options: WriteGraphOptions = {}) {
    this.fullRebuildShare = options.fullRebuildShare ?? 0.25;
    this.currenciesPerNodeMax = options.currenciesPerNodeMax ?? DEFAULT_INDEX_LIMITS.currenciesPerNodeMax;
    this.reportsPerNodeMax = options.reportsPerNodeMax ?? DEFAULT_INDEX_LIMITS.reportsPerNodeMax;
    this.keyReclaimMinDead = options.keyReclaimMinDead ?? 4096;
  }

  /** The key table (replaced when dead keys are reclaimed: do not keep it across compactions). */
  get keys(): KeyTable {
    return this.keyTable;
  }

  /** Interned keys that something still uses. */
  get liveKeyCount(): number {
    return this.liveKeys;
  }

  /** Times key ids were renumbered to reclaim dead keys. */
  get keyReclaims(): number {
    return this.keyEpoch;
  }

  private intern(key: Uint8Array): number {
    const id = this.keyTable.intern(key);
    if (id >= this.refs.length) {
      this.refs = grown(this.refs, id + 1);
      this.nodeReports = grown(this.nodeReports, id + 1);
      this.nodeCurrencies = grown(this.nodeCurrencies, id + 1);
    }
    return id;
  }

  private ref(id: number): void {
    if (this.refs[id]++ === 0) this.liveKeys++;
  }

  private unref(id: number): void {
    if (--this.refs[id] === 0) this.liveKeys--;
  }

  /** Reports `node` holds (0 for a node never seen). */
  reportsOf(node: Uint8Array): number {
    const id = this.keyTable.lookup(node);
    return id === undefined ? 0 : this.nodeReports[id];
  }

  /** Currencies `node` reports in. */
  currenciesOf(node: Uint8Array): number {
    const id = this.keyTable.lookup(node);
    return id === undefined ? 0 : this.nodeCurrencies[id];
  }

  private dirtyRows(c: number): Set<number> {
    let set = this.dirty.get(c);
    if (set === undefined) {
      set = new Set();
      this.dirty.set(c, set);
    }
    return set;
  }

  private markDirty(c: number, nodeId: number, friendId: number): void {
    const set = this.dirtyRows(c);
    set.add(nodeId);
    set.add(friendId);
  }

  private readonly currencyIds = new Map<string, number>();
  private readonly currencyNames: string[] = [];
  /** Per currency: reporter id → (friend id → report). */
  private readonly reports: Map<number, Map<number, Report>>[] = [];
  /** Reporter id → last tick it was refreshed; insertion order is refresh order. */
  private readonly lastSeen = new Map<number, number>();
  /**
   * Per changed currency: the rows to redo at the next compaction. A change of N's report of
   * F can change only two rows: N's (edge N→F exists iff both report each other) and F's (edge
   * F→N carries N's report of F). Every other row stays as it is.
   */
  private readonly dirty = new Map<number, Set<number>>();
  private readonly graphs = new Map<number, CurrencyGraph>();
  private generation = 0;
  private reportCount = 0;

  get reporterCount(): number {
    return this.lastSeen.size;
  }
  /** Directed send edges in the newest snapshot, all currencies. */
  get edgeCount(): number {
    let edges = 0;
    for (const graph of this.graphs.values()) edges += graph.edgeCount;
    return edges;
  }
  /** Friend reports held, all currencies. */
  get storedReports(): number {
    return this.reportCount;
  }
  get hasChanges(): boolean {
    return this.dirty.size > 0;
  }
  /** Currencies in the table (a currency no report uses any more leaves it at a compaction). */
  get currencyCount(): number {
    return this.currencyIds.size;
  }

  /** Would `apply` keep to the currency table and to this node's quotas? Null when it would. */
  quotaCheck(node: Uint8Array, mutations: readonly IndexMutation[]): QuotaRefusal | null {
    // Upper bounds first, without a lookup per mutation: an honest node is far from every
    // quota, and only an update that might cross one pays for the exact count below.
    let updates = 0;
    let runs = 0;
    let freshRuns = 0;
    let last: string | null = null;
    for (const m of mutations) {
      if (m.kind !== 'update') continue;
      updates++;
      if (m.currency !== last) {
        last = m.currency;
        runs++;
        if (!this.currencyIds.has(m.currency)) freshRuns++;
      }
    }
    const nodeId = this.keyTable.lookup(node);
    const reports = nodeId === undefined ? 0 : this.nodeReports[nodeId];
    const currencies = nodeId === undefined ? 0 : this.nodeCurrencies[nodeId];
    if (this.currencyIds.size + freshRuns <= MAX_CURRENCIES && currencies + runs <= this.currenciesPerNodeMax && reports + updates <= this.reportsPerNodeMax) {
      return null;
    }
    return this.exactQuotaCheck(nodeId, mutations, reports);
  }

  /** The node's counts after the update, by replaying it against its current reports. */
  private exactQuotaCheck(nodeId: number | undefined, mutations: readonly IndexMutation[], reportsNow: number): QuotaRefusal | null {
    const fresh = new Set<string>();
    /** Per currency touched: the node's reports in it after the mutations so far. */
    const perCurrency = new Map<string, { before: number; after: number }>();
    const present = new Map<string, boolean>();
    let reports = reportsNow;
    for (const m of mutations) {
      const c = this.currencyIds.get(m.currency);
      if (m.kind === 'update' && c === undefined) fresh.add(m.currency);
      let counts = perCurrency.get(m.currency);
      if (counts === undefined) {
        const size = c === undefined || nodeId === undefined ? 0 : (this.reports[c].get(nodeId)?.size ?? 0);
        counts = { before: size, after: size };
        perCurrency.set(m.currency, counts);
      }
      const tag = `${m.currency}\0${KeyTable.tag(m.friend)}`;
      let has = present.get(tag);
      if (has === undefined) {
        const friendId = this.keyTable.lookup(m.friend);
        has = c !== undefined && nodeId !== undefined && friendId !== undefined && this.reports[c].get(nodeId)?.has(friendId) === true;
      }
      if (m.kind === 'update' && !has) {
        reports++;
        counts.after++;
      } else if (m.kind !== 'update' && has) {
        reports--;
        counts.after--;
      }
      present.set(tag, m.kind === 'update');
    }
    if (this.currencyIds.size + fresh.size > MAX_CURRENCIES) return 'too-many-currencies';
    let currencies = nodeId === undefined ? 0 : this.nodeCurrencies[nodeId];
    for (const { before, after } of perCurrency.values()) {
      if (before === 0 && after > 0) currencies++;
      else if (before > 0 && after === 0) currencies--;
    }
    if (currencies > this.currenciesPerNodeMax) return 'node-currency-quota';
    if (reports > this.reportsPerNodeMax) return 'node-report-quota';
    return null;
  }

  /** Is node `id` currently reporting (not expired or removed)? */
  isReporting(id: number): boolean {
    return this.lastSeen.has(id);
  }

  knowsCurrency(currency: string): boolean {
    return this.currencyIds.has(currency);
  }

  private currencyId(currency: string): number {
    let id = this.currencyIds.get(currency);
    if (id === undefined) {
      assert(this.currencyIds.size < MAX_CURRENCIES, 'currency limit checked by the caller');
      const free = this.freeCurrencyIds.pop();
      if (free !== undefined) {
        id = free;
        this.currencyNames[id] = currency;
      } else {
        id = this.currencyNames.length;
        this.currencyNames.push(currency);
        this.reports.push(new Map());
      }
      this.currencyIds.set(currency, id);
    }
    return id;
  }

  /** Applies a node's accepted mutations and refreshes its TTL. */
  apply(node: Uint8Array, mutations: readonly IndexMutation[], tick: number): void {
    const nodeId = this.intern(node);
    if (!this.lastSeen.delete(nodeId)) this.ref(nodeId);
    this.lastSeen.set(nodeId, tick);
    // An update's mutations are mostly in one currency: its lookups are done once per run.
    let currency: string | null = null;
    let c = 0;
    let mine: Map<number, Report> | undefined;
    let dirty: Set<number> | undefined;
    for (const m of mutations) {
      if (m.kind === 'update') {
        if (m.currency !== currency) {
          currency = m.currency;
          c = this.currencyId(currency);
          const byReporter = this.reports[c];
          mine = byReporter.get(nodeId);
          if (mine === undefined) {
            mine = new Map();
            byReporter.set(nodeId, mine);
            this.nodeCurrencies[nodeId]++;
          }
          dirty = this.dirtyRows(c);
          dirty.add(nodeId);
        }
        const friendId = this.intern(m.friend);
        const report = mine!.get(friendId);
        if (report === undefined) {
          this.reportCount++;
          this.nodeReports[nodeId]++;
          this.ref(friendId);
          mine!.set(friendId, setReport(m.recvCapacity, m.rate, tick));
        } else {
          // In place: reports are long-lived, so a new object per update is old-generation
          // garbage; nothing outside a compaction holds a report.
          report.capacity = m.recvCapacity;
          report.capacityFloor = floorToDouble(m.recvCapacity);
          report.mul = m.rate.mul;
          report.add = m.rate.add;
          report.tick = tick;
        }
        dirty!.add(friendId);
      } else {
        // A removal may drop the node's map of this currency: look everything up again after.
        currency = null;
        const rc = this.currencyIds.get(m.currency);
        if (rc === undefined) continue;
        const theirs = this.reports[rc].get(nodeId);
        const friendId = this.keyTable.lookup(m.friend);
        if (theirs === undefined || friendId === undefined) continue;
        if (theirs.delete(friendId)) {
          this.reportCount--;
          this.nodeReports[nodeId]--;
          this.unref(friendId);
          this.markDirty(rc, nodeId, friendId);
        }
        if (theirs.size === 0) {
          this.reports[rc].delete(nodeId);
          this.nodeCurrencies[nodeId]--;
        }
      }
    }
  }

  /** Drops a node's own reports (and only those). */
  removeNode(node: Uint8Array): void {
    const nodeId = this.keyTable.lookup(node);
    if (nodeId !== undefined) this.removeNodeId(nodeId);
  }

  private removeNodeId(nodeId: number): void {
    if (this.lastSeen.delete(nodeId)) this.unref(nodeId);
    for (let c = 0; c < this.reports.length; c++) {
      const mine = this.reports[c].get(nodeId);
      if (mine === undefined) continue;
      this.reportCount -= mine.size;
      this.nodeReports[nodeId] -= mine.size;
      this.nodeCurrencies[nodeId]--;
      this.reports[c].delete(nodeId);
      for (const friendId of mine.keys()) {
        this.unref(friendId);
        this.markDirty(c, nodeId, friendId);
      }
    }
  }

  /** Removes every node not refreshed in the last `ttlTicks` ticks; returns how many. */
  expire(nowTick: number, ttlTicks: number): number {
    let removed = 0;
    for (const [nodeId, seen] of this.lastSeen) {
      if (nowTick - seen < ttlTicks) break;
      this.removeNodeId(nodeId);
      removed++;
    }
    return removed;
  }

  private ageCursor: Iterator<number> | null = null;

  /**
   * Report ageing: drops each report not set again within `ttlTicks`, even while its node stays
   * alive by refreshing others (a report whose removal was lost does not live forever). Each
   * call visits at most `reportersMax` reporters, continuing where the last call stopped, so the
   * work per tick is bounded; a caller visiting at least reporters/ttlTicks per tick bounds a
   * stale report's life to 2·ttlTicks. Returns the reports dropped.
   */
  ageReports(nowTick: number, ttlTicks: number, reportersMax: number): number {
    let dropped = 0;
    for (let visited = 0; visited < reportersMax; visited++) {
      if (this.ageCursor === null) this.ageCursor = this.lastSeen.keys();
      const next = this.ageCursor.next();
      if (next.done === true) {
        this.ageCursor = null;
        if (visited === 0 || this.lastSeen.size <= visited) break;
        continue;
      }
      const nodeId = next.value;
      for (let c = 0; c < this.reports.length; c++) {
        const mine = this.reports[c].get(nodeId);
        if (mine === undefined) continue;
        for (const [friendId, report] of mine) {
          if (nowTick - report.tick < ttlTicks) continue;
          mine.delete(friendId);
          this.reportCount--;
          this.nodeReports[nodeId]--;
          this.unref(friendId);
          dropped++;
          this.markDirty(c, nodeId, friendId);
        }
        if (mine.size === 0) {
          this.reports[c].delete(nodeId);
          this.nodeCurrencies[nodeId]--;
        }
      }
    }
    return dropped;
  }

  /** Rebuilds the graphs of the currencies that changed; returns the newest snapshot handle. */
  compact(): { handle: SnapshotHandle; stats: CompactionStats } {
    const started = performance.now();
    const dead = this.keyTable.size - this.liveKeys;
    if (dead >= this.keyReclaimMinDead && dead > this.liveKeys) this.reclaimKeys();
    const nodeCount = this.keyTable.size;
    for (const [c, reporters] of this.dirty) {
      const previous = this.graphs.get(c);
      const next =
        previous === undefined || this.fullRebuildShare <= 0
          ? null
          : updateCurrencyGraph(previous, this.reports[c], reporters, nodeCount, Math.floor(this.fullRebuildShare * nodeCount));
      this.graphs.set(c, next ?? buildCurrencyGraph(this.currencyNames[c], this.reports[c], nodeCount));
    }
    this.dirty.clear();
    this.reclaimCurrencies();
    this.generation++;
    const currencies = [...this.graphs.values()].map((g) => g.handle);
    // Route planning on the shards asks whether both ends report; a bit per node answers it.
    const reporting = new SharedArrayBuffer(Math.ceil(nodeCount / 8));
    const bits = new Uint8Array(reporting);
    for (const id of this.lastSeen.keys()) bits[id >>> 3] |= 1 << (id & 7);
    const handle: SnapshotHandle = {
      generation: this.generation,
      keyEpoch: this.keyEpoch,
      keys: this.keyTable.sharedBuffer,
      keyCount: this.keyTable.size,
      reporting,
      currencies,
    };
    let bytes = 0;
    for (const g of this.graphs.values()) bytes += g.bytes;
    return {
      handle,
      stats: { generation: this.generation, nodes: nodeCount, edges: this.edgeCount, bytes, millis: performance.now() - started },
    };
  }

  /**
   * A currency no node reports in any more leaves the table, and its id is given out again:
   * the table holds what is in use, not every name ever seen. Run after the dirty graphs were
   * rebuilt, so a freed id has no pending rows.
   */
  private reclaimCurrencies(): void {
    for (const [name, c] of this.currencyIds) {
      if (this.reports[c].size > 0) continue;
      this.currencyIds.delete(name);
      this.currencyNames[c] = '';
      this.graphs.delete(c);
      this.freeCurrencyIds.push(c);
    }
  }

  /**
   * Forgets every key nothing uses (no report names it, it reports nothing) by renumbering the
   * live ones densely, in their old order, into a new key table; every graph is then rebuilt in
   * full. Snapshots already handed out keep their own key table; the new one carries a new key
   * epoch so readers rebuild their key maps instead of extending them.
   */
  private reclaimKeys(): void {
    const old = this.keyTable;
    const remap = new Int32Array(old.size).fill(-1);
    const table = new KeyTable(Math.max(1024, this.liveKeys));
    for (let id = 0; id < old.size; id++) if (this.refs[id] > 0) remap[id] = table.intern(old.keyOf(id));
    const size = Math.max(1024, table.size);
    const refs = new Int32Array(size);
    const nodeReports = new Int32Array(size);
    const nodeCurrencies = new Int32Array(size);
    for (let id = 0; id < old.size; id++) {
      const to = remap[id];
      if (to < 0) continue;
      refs[to] = this.refs[id];
      nodeReports[to] = this.nodeReports[id];
      nodeCurrencies[to] = this.nodeCurrencies[id];
    }
    for (let c = 0; c < this.reports.length; c++) {
      const next = new Map<number, Map<number, Report>>();
      for (const [reporter, mine] of this.reports[c]) {
        const row = new Map<number, Report>();
        for (const [friend, report] of mine) row.set(remap[friend], report);
        next.set(remap[reporter], row);
      }
      this.reports[c] = next;
    }
    const seen = [...this.lastSeen];
    this.lastSeen.clear();
    for (const [id, tick] of seen) this.lastSeen.set(remap[id], tick);
    this.keyTable = table;
    this.refs = refs;
    this.nodeReports = nodeReports;
    this.nodeCurrencies = nodeCurrencies;
    this.ageCursor = null;
    this.keyEpoch++;
    // Every graph is built again from scratch under the new ids.
    this.graphs.clear();
    this.dirty.clear();
    for (const c of this.currencyIds.values()) this.dirty.set(c, new Set());
  }

  /** A read view of the newest snapshot (compacting first if anything changed). */
  snapshot(): Snapshot {
    return new Snapshot(this.compact().handle);
  }
}

function setReport(capacity: bigint, rate: Rate, tick: number): Report {
  return { capacity, capacityFloor: floorToDouble(capacity), mul: rate.mul, add: rate.add, tick };
}

/** Node u's send edges from the reports: mutual neighbours sorted, each with its report about u. */
function rowOf(u: number, byReporter: Map<number, Map<number, Report>>): { targets: number[]; reports: Report[] } | null {
  const mine = byReporter.get(u);
  if (mine === undefined) return null;
  const pairs: [number, Report][] = [];
  for (const v of mine.keys()) {
    const back = v === u ? undefined : byReporter.get(v)?.get(u);
    if (back !== undefined) pairs.push([v, back]);
  }
  if (pairs.length === 0) return null;
  pairs.sort((a, b) => a[0] - b[0]);
  return { targets: pairs.map((p) => p[0]), reports: pairs.map((p) => p[1]) };
}

/**
 * The next snapshot of one currency from the previous one, redoing only the rows that can have
 * changed (`changed`: both ends of every report set or dropped since). Every other row is copied, in runs,
 * from the previous arrays; mirror slots are shifted by the row moves, or looked up again when
 * they point into a redone row. Returns null when too many rows changed (a full build is then
 * cheaper). The result is identical, array for array, to buildCurrencyGraph's.
 */
function updateCurrencyGraph(
  previous: CurrencyGraph,
  byReporter: Map<number, Map<number, Report>>,
  changed: ReadonlySet<number>,
  nodeCount: number,
  rowsMax: number,
): CurrencyGraph | null {
  const prevNodes = previous.nodeCount;
  const prevOffsets = previous.offsets;
  const prevTargets = previous.targets;
  if (changed.size > rowsMax) return null;
  const redo = new Uint8Array(nodeCount);
  const rows = new Map<number, { targets: number[]; reports: Report[] } | null>();
  for (const u of changed) {
    redo[u] = 1;
    rows.set(u, rowOf(u, byReporter));
  }

  const oldDegree = (u: number) => (u < prevNodes ? prevOffsets[u + 1] - prevOffsets[u] : 0);
  let edgeCount = previous.edgeCount;
  for (const [u, row] of rows) edgeCount += (row?.targets.length ?? 0) - oldDegree(u);
  const graph = CurrencyGraph.allocate(previous.currency, nodeCount, edgeCount);
  const { offsets, targets, mirror, rateMul, rateAdd, capacity } = graph;
  let at = 0;
  for (let u = 0; u < nodeCount; u++) {
    offsets[u] = at;
    at += redo[u] === 1 ? (rows.get(u)?.targets.length ?? 0) : oldDegree(u);
  }
  offsets[nodeCount] = at;

  // Rows kept: copy maximal runs of consecutive kept rows in one go (they stay contiguous).
  const copyRun = (from: number, to: number) => {
    if (from >= to || from >= prevNodes) return;
    const end = Math.min(to, prevNodes);
    const src = prevOffsets[from];
    const srcEnd = prevOffsets[end];
    if (srcEnd === src) return;
    const dst = offsets[from];
    targets.set(prevTargets.subarray(src, srcEnd), dst);
    rateMul.set(previous.rateMul.subarray(src, srcEnd), dst);
    rateAdd.set(previous.rateAdd.subarray(src, srcEnd), dst);
    capacity.set(previous.capacity.subarray(src, srcEnd), dst);
  };
  let runStart = 0;
  for (let u = 0; u <= nodeCount; u++) {
    if (u < nodeCount && redo[u] === 0) continue;
    copyRun(runStart, u);
    runStart = u + 1;
    if (u === nodeCount) break;
    const row = rows.get(u);
    if (row === null || row === undefined) continue;
    let s = offsets[u];
    for (let i = 0; i < row.targets.length; i++, s++) {
      const report = row.reports[i];
      targets[s] = row.targets[i];
      capacity[s] = report.capacityFloor;
      rateMul[s] = report.mul;
      rateAdd[s] = report.add;
    }
  }

  // Mirrors: a kept row pointing into a kept row moves with that row; anything touching a
  // redone row is looked up in the new arrays (rows are sorted).
  const prevMirror = previous.mirror;
  for (let u = 0; u < nodeCount; u++) {
    const start = offsets[u];
    const end = offsets[u + 1];
    if (start === end) continue;
    if (redo[u] === 0) {
      const shift = prevOffsets[u] - start;
      for (let s = start; s < end; s++) {
        const v = targets[s];
        mirror[s] = redo[v] === 0 ? prevMirror[s + shift] - prevOffsets[v] + offsets[v] : graph.slotOf(v, u);
      }
    } else {
      for (let s = start; s < end; s++) mirror[s] = graph.slotOf(targets[s], u);
    }
  }
  return graph;
}

function buildCurrencyGraph(currency: string, byReporter: Map<number, Map<number, Report>>, nodeCount: number): CurrencyGraph {
  // Pass 1: mutual neighbours per node, sorted, with the neighbour's report about the node
  // (what the edge u→v carries), so pass 2 needs no map lookups.
  const degree = new Uint32Array(nodeCount + 1);
  const lists: (Uint32Array | undefined)[] = new Array(nodeCount);
  const theirs: (Report[] | undefined)[] = new Array(nodeCount);
  let edgeCount = 0;
  for (const [u, mine] of byReporter) {
    const mutual: number[] = [];
    const reports: Report[] = [];
    for (const v of mine.keys()) {
      const back = v === u ? undefined : byReporter.get(v)?.get(u);
      if (back === undefined) continue;
      mutual.push(v);
      reports.push(back);
    }
    if (mutual.length === 0) continue;
    const order = mutual.map((_, i) => i).sort((a, b) => mutual[a] - mutual[b]);
    lists[u] = Uint32Array.from(order, (i) => mutual[i]);
    theirs[u] = order.map((i) => reports[i]);
    degree[u] = mutual.length;
    edgeCount += mutual.length;
  }
  const graph = CurrencyGraph.allocate(currency, nodeCount, edgeCount);
  const { offsets, targets, mirror, rateMul, rateAdd, capacity } = graph;
  let at = 0;
  for (let u = 0; u < nodeCount; u++) {
    offsets[u] = at;
    at += degree[u];
  }
  offsets[nodeCount] = at;
  // Pass 2: fill. Visiting u in increasing order meets the entries that point back at u in
  // each neighbour's sorted list in order too, so a cursor per node yields the mirror slots.
  const cursor = new Uint32Array(nodeCount);
  for (let u = 0; u < nodeCount; u++) {
    const list = lists[u];
    if (list === undefined) continue;
    const reports = theirs[u]!;
    let s = offsets[u];
    for (let i = 0; i < list.length; i++, s++) {
      const v = list[i];
      const report = reports[i];
      targets[s] = v;
      capacity[s] = report.capacityFloor;
      rateMul[s] = report.mul;
      rateAdd[s] = report.add;
      mirror[s] = offsets[v] + cursor[v]++;
    }
  }
  return graph;
}
