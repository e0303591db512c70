import { bytesEqual } from '../common/bytes.js';
import { OffsetError } from '../common/errors.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes } from '../crypto/primitives.js';
import {
  emptyChangeSet, isEmptyChangeSet, type AppMessage, type ChangeSet, type Effect, type FunderEvent, type PeerFault,
} from './api.js';
import { encodeFriendMessage } from './codec.js';
import { handleEvent, type CoreEnv } from './handler.js';
import { newFunderState, type FunderState } from './state.js';
import { FunderCorruptRecordError, RecordKeeper, readNodeRecord, stateFromRecords, toBatch } from './store/persist.js';
import { RocksStore } from './store/rocks.js';
import type { PublicKey } from './types.js';

/**
 * Runs the pure core against RocksDB. Events are applied in memory at once; the entities they
 * changed are gathered, and serialised when the next batch is cut. A batch is
 * written atomically and fsynced, and only then are the messages and replies of its events
 * released (write-ahead). While one batch is being synced, new events gather into the next, so
 * under load one fsync covers many events (group commit) with no timer.
 */

export interface RuntimeSink {
  sendFriend(friend: PublicKey, bytes: Uint8Array): void;
  toApp(appId: string, message: AppMessage): void;
  peerFault?(fault: PeerFault): void;
}

export interface RuntimeOptions {
  /** Wall-clock milliseconds: deadlines are persisted and must survive a restart. */
  nowMs?: () => number;
  random?: (length: number) => Uint8Array;
  /** Called after each durable write, before its effects are released (crash tests). */
  afterDurable?: (writeCount: number) => void;
}

export class FunderWrongIdentityError extends OffsetError {
  constructor() {
    super('ERR_FUNDER_WRONG_IDENTITY', 'the database belongs to another identity');
  }
}

export class FunderRuntime {
  private pendingChanges: ChangeSet = emptyChangeSet();
  private pendingEffects: Effect[] = [];
  private writing: Promise<void> | null = null;
  private closed = false;
  readonly stats = { events: 0, writes: 0, eventsWritten: 0, writeMs: 0, writeBytes: 0, writeKeys: 0 };
  private eventsInBatch = 0;

  private constructor(
    readonly state: FunderState,
    private readonly env: CoreEnv,
    private readonly store: RocksStore,
    private readonly keeper: RecordKeeper,
    private readonly sink: RuntimeSink,
    private readonly options: RuntimeOptions,
  ) {}

  static async open(location: string, identity: Identity, sink: RuntimeSink, options: RuntimeOptions = {}): Promise<FunderRuntime> {
    const store = await RocksStore.open(location);
    const records = await store.readAll();
    const state = newFunderState(identity.publicKey);
    const keeper = new RecordKeeper();
    const node = records.get('n');
    try {
      if (node !== undefined) {
        if (!bytesEqual(readNodeRecord(node).publicKey, identity.publicKey)) throw new FunderWrongIdentityError();
        stateFromRecords(state, records, keeper);
      } else if (records.size > 0) {
        throw new FunderCorruptRecordError('n', 'missing while other records exist');
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    const env: CoreEnv = { signer: identity, random: options.random ?? randomBytes };
    const runtime = new FunderRuntime(state, env, store, keeper, sink, options);
    if (node === undefined) {
      runtime.pendingChanges.node = true;
      runtime.schedule();
    }
    return runtime;
  }

  private now(): number {
    return (this.options.nowMs ?? Date.now)();
  }

  /** Applies one event; its effects leave once the batch holding its changes is durable. */
  submit(event: FunderEvent): void {
    if (this.closed) return;
    const out = handleEvent(this.state, this.env, event, this.now(), this.pendingChanges);
    this.stats.events++;
    for (const fault of out.faults) this.sink.peerFault?.(fault);
    for (const effect of out.effects) this.pendingEffects.push(effect);
    this.eventsInBatch++;
    this.schedule();
  }

  private schedule(): void {
    if (this.writing === null) this.writing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    // Wait for the end of this event-loop phase, so every event already due in it (frames read
    // in one poll, loopback deliveries queued together) joins this batch, not only the first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (!isEmptyChangeSet(this.pendingChanges) || this.pendingEffects.length > 0) {
      // Cut the batch synchronously: the records then show the state after exactly the events
      // whose effects this batch releases, however many there were.
      const ops = this.keeper.changesToOps(this.state, this.pendingChanges);
      this.pendingChanges = emptyChangeSet();
      const effects = this.pendingEffects;
      const events = this.eventsInBatch;
      this.pendingEffects = [];
      this.eventsInBatch = 0;
      if (ops.size > 0) {
        const t0 = performance.now();
        const batch = toBatch(ops);
        for (const op of batch) this.stats.writeBytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
        this.stats.writeKeys += batch.length;
        await this.store.write(batch);
        this.stats.writeMs += performance.now() - t0;
        this.stats.writes++;
        this.stats.eventsWritten += events;
        this.options.afterDurable?.(this.stats.writes);
      }
      for (const effect of effects) this.release(effect);
    }
    this.writing = null;
  }

  private release(effect: Effect): void {
    if (effect.kind === 'sendFriend') this.sink.sendFriend(effect.friend, encodeFriendMessage(effect.message));
    else this.sink.toApp(effect.appId, effect.message);
  }

  /** Resolves once everything submitted so far is durable and released. */
  async drain(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  idle(): boolean {
    return this.writing === null && isEmptyChangeSet(this.pendingChanges) && this.pendingEffects.length === 0;
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    await this.store.close();
  }

  isFriend(key: PublicKey): boolean {
    for (const friend of this.state.friends.values()) if (bytesEqual(friend.publicKey, key)) return true;
    return false;
  }
}
