import { assert } from '../common/errors.js';
import type { IndexCore, IngestOutcome, UpdateRejection } from './core.js';
import { VerifyBatchBuilder } from './ingest-codec.js';
import type { ChainLink, ForwardMutationsUpdate, MutationsUpdate } from './types.js';
import type { BatchVerifier } from './verify-pool.js';

/**
 * The index server's ingest pipeline. Received updates are screened on arrival (the core's
 * cheap checks), their signatures are checked in batches elsewhere (worker threads), and they
 * are applied strictly in arrival order once every earlier update is decided: the core re-runs
 * its state checks at that moment, so the outcome is exactly that of checking each update in
 * turn on one thread. A bad signature changes nothing; ratchets and the graph move only for
 * updates whose signature passed.
 */
export interface IngestOptions {
  /** Frames per signature batch. */
  readonly batchFramesMax?: number;
  /** Updates waiting for a verdict or for their turn; beyond this, arrivals are refused. */
  readonly backlogMax?: number;
  /**
   * Updates of one source (a client connection, a peer link) in the backlog; beyond this its
   * arrivals are refused as connection-backlog, so no single source can fill the backlog that
   * every other source shares. Default 1,024.
   */
  readonly backlogPerSourceMax?: number;
}

type Done = (outcome: IngestOutcome) => void;

interface Entry {
  readonly update: MutationsUpdate;
  readonly chain: readonly ChainLink[];
  readonly done: Done;
  /** Refused on arrival; counted when its turn comes. */
  readonly early: UpdateRejection | null;
  /** 0 waiting for a verdict, 1 valid, 2 invalid. */
  verdict: 0 | 1 | 2;
  /** Whose backlog share it takes (null: not counted). */
  readonly source: string | null;
}

interface Batch {
  readonly bytes: Uint8Array;
  readonly entries: Entry[];
}

export class IngestPipeline {
  private readonly queue: (Entry | undefined)[] = [];
  private head = 0;
  private readonly builder: VerifyBatchBuilder;
  private building: Entry[] = [];
  private readonly ready: Batch[] = [];
  private inFlight = 0;
  private flushScheduled = false;
  private closed = false;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private readonly batchFramesMax: number;
  private readonly backlogMax: number;
  private readonly backlogPerSourceMax: number;
  /** Entries in the backlog per source. */
  private readonly perSource = new Map<string, number>();

  constructor(
    private readonly core: IndexCore,
    private readonly verifier: BatchVerifier,
    options: IngestOptions = {},
  ) {
    this.batchFramesMax = options.batchFramesMax ?? 64;
    this.backlogMax = options.backlogMax ?? 16_384;
    this.backlogPerSourceMax = options.backlogPerSourceMax ?? 1024;
    this.builder = new VerifyBatchBuilder(this.batchFramesMax);
  }

  /** Resolves once the signature checker has started (see BatchVerifier.ready). */
  started(): Promise<void> {
    return this.verifier.ready();
  }

  /** Updates received and not yet applied or refused. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  /**
   * An update that arrived on a node's own connection. `done` gets its outcome, in arrival
   * order; it runs before this returns when nothing is waiting ahead and the update is refused.
   */
  submitClient(connectionKey: Uint8Array, update: MutationsUpdate, done: Done, source: string | null = null): void {
    this.submit(update, [], () => this.core.screenClientUpdate(connectionKey, update), done, source);
  }

  /** An update forwarded by a peer, with the trust in that peer as it stood on arrival. */
  submitPeer(mutuallyTrusted: boolean, forward: ForwardMutationsUpdate, done: Done, source: string | null = null): void {
    this.submit(forward.update, forward.chain, () => this.core.screenPeerUpdate(mutuallyTrusted, forward), done, source);
  }

  /** Updates of `source` in the backlog. */
  backlogOf(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  /** Resolves once everything received so far is applied or refused. */
  idle(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.verifier.close();
  }

  private submit(update: MutationsUpdate, chain: readonly ChainLink[], screen: () => UpdateRejection | null, done: Done, source: string | null): void {
    if (this.closed) return;
    if (this.backlog >= this.backlogMax) {
      done(this.core.rejectUpdate('overloaded'));
      return;
    }
    let held = 0;
    if (source !== null) {
      held = this.perSource.get(source) ?? 0;
      if (held >= this.backlogPerSourceMax) {
        // Its own share is full: it waits behind itself, never in front of the others.
        done(this.core.rejectUpdate('connection-backlog'));
        return;
      }
    }
    const early = screen();
    // Refused on arrival costs no verify, but it still holds its place until its turn.
    if (source !== null) this.perSource.set(source, held + 1);
    const entry: Entry = { update, chain, done, early, verdict: 0, source };
    this.queue.push(entry);
    if (early !== null) {
      this.drain();
      return;
    }
    this.builder.addUpdate(update);
    this.building.push(entry);
    if (this.builder.full) this.seal();
    else if (!this.flushScheduled) {
      // Frames of one event-loop turn share a batch.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.seal();
      });
    }
  }

  private seal(): void {
    if (this.building.length > 0) {
      this.ready.push({ bytes: this.builder.finish(), entries: this.building });
      this.building = [];
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.inFlight < this.verifier.parallelism && this.ready.length > 0) {
      const batch = this.ready.shift()!;
      this.inFlight++;
      this.verifier.check(batch.bytes, batch.entries.length).then(
        (verdicts) => this.settle(batch.entries, verdicts),
        () => this.settle(batch.entries, null),
      );
    }
  }

  private settle(entries: Entry[], verdicts: Uint8Array | null): void {
    this.inFlight--;
    for (let i = 0; i < entries.length; i++) entries[i].verdict = verdicts !== null && verdicts[i] === 1 ? 1 : 2;
    if (this.closed) return;
    this.dispatch();
    this.drain();
  }

  /** Applies or refuses, in arrival order, every update at the head that is decided. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      this.drainHead();
    } finally {
      this.draining = false;
    }
  }

  private drainHead(): void {
    const queue = this.queue;
    while (this.head < queue.length) {
      const entry = queue[this.head]!;
      let outcome: IngestOutcome;
      if (entry.early !== null) outcome = this.core.rejectUpdate(entry.early);
      else if (entry.verdict === 0) break;
      else outcome = this.core.acceptScreened(entry.update, entry.chain, entry.verdict === 1);
      queue[this.head++] = undefined;
      if (entry.source !== null) {
        const held = this.perSource.get(entry.source)! - 1;
        if (held === 0) this.perSource.delete(entry.source);
        else this.perSource.set(entry.source, held);
      }
      entry.done(outcome);
    }
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    } else if (this.head > 4096 && this.head * 2 > queue.length) {
      queue.splice(0, this.head);
      this.head = 0;
    }
    assert(this.head <= queue.length, 'ingest queue head past its end');
  }
}
