import { fromBase64Url, toBase64Url } from '../common/bytes.js';
import type { Logger } from '../common/log.js';
import type { Clock } from '../common/clock.js';
import { randomBytes } from '../crypto/primitives.js';
import type { Identity } from '../crypto/identity.js';
import {
  emptyChangeSet, isEmptyChangeSet, mergeChangeSet, type ChangeSet, type Effect, type FunderEvent, type PeerFault,
} from '../funder/api.js';
import { handleEvent, type CoreEnv } from '../funder/handler.js';
import { newFunderState, type FunderState } from '../funder/state.js';
import type { NodeDb } from './node_db.js';
import { NodeError, NodeErrorCode } from './errors.js';
import type { BatchOp } from './rocks.js';

/**
 * Runs the payment core durably: events are handled in arrival order; the changes of every
 * event handled while the previous write was in flight go to the database in one synced write
 * (group commit), and only then are their effects released, in order (write-ahead: nothing
 * reaches a friend or an app before the state that produced it is on disk).
 *
 * Persistence here stores the core's whole state under one key per write; the payment core's
 * own per-entity store replaces it once it is available (the interface stays the same).
 */

export interface FunderEngine {
  readonly state: FunderState;
  /** A function is evaluated in order, against the state as earlier events left it (null: nothing to do). */
  submit(event: FunderEvent | ((state: FunderState) => FunderEvent | null)): void;
  /** Extra records (the node's own) to commit atomically with the next write. */
  stageNodeOps(ops: BatchOp[]): Promise<void>;
  /** Resolves when every submitted event's effects have been released. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface EngineHooks {
  /** After every batch, once durable: its effects in event order (possibly none). */
  onEffects(effects: Effect[], changes: ChangeSet): void;
  onFaults?(faults: PeerFault[]): void;
  onCommit?(events: number, ms: number): void;
}

const KEY_SNAPSHOT = 'funder/snapshot';

const BATCH_EVENTS_MAX = 4096;

export class SnapshotFunderEngine implements FunderEngine {
  private readonly queue: (FunderEvent | ((state: FunderState) => FunderEvent | null))[] = [];
  private pendingNodeOps: { ops: BatchOp[]; done: () => void }[] = [];
  private running = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly env: CoreEnv;

  private constructor(
    readonly state: FunderState,
    private readonly db: NodeDb,
    identity: Identity,
    private readonly clock: Clock,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
  ) {
    this.env = { signer: identity, random: randomBytes };
  }

  static async open(db: NodeDb, identity: Identity, clock: Clock, hooks: EngineHooks, log: Logger): Promise<SnapshotFunderEngine> {
    const raw = await db.store.get(KEY_SNAPSHOT);
    const state = raw === null ? newFunderState(identity.publicKey) : decodeState(raw.toString('utf8'));
    return new SnapshotFunderEngine(state, db, identity, clock, hooks, log);
  }

  submit(event: FunderEvent | ((state: FunderState) => FunderEvent | null)): void {
    if (this.closed) return;
    this.queue.push(event);
    this.schedule();
  }

  stageNodeOps(ops: BatchOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new NodeError(NodeErrorCode.Stopped, 'node is stopping'));
    return new Promise((resolve) => {
      this.pendingNodeOps.push({ ops, done: resolve });
      this.schedule();
    });
  }

  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0 && this.pendingNodeOps.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
  }

  private schedule(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.pendingNodeOps.length > 0) {
      const events = this.queue.splice(0, BATCH_EVENTS_MAX);
      const nodeOps = this.pendingNodeOps;
      this.pendingNodeOps = [];
      const effects: Effect[] = [];
      const changes = emptyChangeSet();
      const faults: PeerFault[] = [];
      for (const item of events) {
        const event = typeof item === 'function' ? item(this.state) : item;
        if (event === null) continue;
        const out = handleEvent(this.state, this.env, event, this.clock.nowMs());
        for (const e of out.effects) effects.push(e);
        mergeChangeSet(changes, out.changes);
        for (const f of out.faults) faults.push(f);
      }
      const ops: BatchOp[] = nodeOps.flatMap((n) => n.ops);
      if (!isEmptyChangeSet(changes)) ops.push({ type: 'put', key: KEY_SNAPSHOT, value: Buffer.from(encodeState(this.state), 'utf8') });
      if (ops.length > 0) {
        const startMs = performance.now();
        try {
          await this.db.store.write(ops);
        } catch (err) {
          // A failed write leaves memory ahead of disk: releasing its effects could promise
          // friends what a restart forgets, so the process stops here.
          this.log.fatal({ err: (err as Error).message }, 'database write failed; stopping');
          process.exit(70);
        }
        this.hooks.onCommit?.(events.length, performance.now() - startMs);
      }
      for (const n of nodeOps) n.done();
      if (faults.length > 0) this.hooks.onFaults?.(faults);
      this.hooks.onEffects(effects, changes);
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

// Tagged JSON: Maps, Sets, bigints and byte arrays survive the round trip exactly.

const VOLATILE_FRIEND_FIELDS: Record<string, unknown> = {
  online: false, remoteWantsToken: false, tokenRequested: false, resendPending: false,
};

export function encodeState(state: FunderState): string {
  return JSON.stringify(state, function replacer(this: Record<string, unknown>, key: string, value: unknown) {
    const original = this[key];
    if (original instanceof Uint8Array) return { $u: toBase64Url(original) };
    if (typeof original === 'bigint') return { $b: original.toString() };
    if (original instanceof Map) return { $m: [...original.entries()] };
    if (original instanceof Set) return { $s: [...original.values()] };
    return value;
  });
}

export function decodeState(text: string): FunderState {
  const state = JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const v = value as Record<string, unknown>;
      if (typeof v.$u === 'string') {
        const bytes = fromBase64Url(v.$u);
        if (bytes === null) throw new NodeError(NodeErrorCode.DbCorrupt, 'bad bytes in stored state');
        return bytes;
      }
      if (typeof v.$b === 'string') return BigInt(v.$b);
      if (Array.isArray(v.$m)) return new Map(v.$m as [unknown, unknown][]);
      if (Array.isArray(v.$s)) return new Set(v.$s as unknown[]);
    }
    return value;
  }) as FunderState;
  for (const friend of state.friends.values()) Object.assign(friend, VOLATILE_FRIEND_FIELDS);
  return state;
}
