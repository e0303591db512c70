import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { randomBytes } from '../crypto/primitives.js';
import { toHex } from '../common/bytes.js';
import type { SnapshotHandle } from './snapshot.js';

/**
 * The pool of search workers. A new snapshot is broadcast once to every worker (shared
 * buffers: nothing is copied); queries go to whichever worker is free and run against the
 * newest snapshot that worker holds, so compaction never waits for queries and queries never
 * wait for compaction.
 */
const workerFile = (() => {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(`../../workers/index_search.${ts ? 'ts' : 'js'}`, import.meta.url).href;
})();

export class SearchPool {
  private readonly pool: Piscina;
  private readonly channel: BroadcastChannel;
  private latest: SnapshotHandle | null = null;

  constructor(readonly workers: number, maxQueue = 4096) {
    const snapshotChannel = `offset-index-snapshots:${toHex(randomBytes(8))}`;
    this.channel = new BroadcastChannel(snapshotChannel);
    this.pool = new Piscina({
      filename: workerFile,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      maxQueue,
      concurrentTasksPerWorker: 1,
      // With sync atomics an idle worker parks outside its event loop, so a broadcast may wait;
      // the generation each task carries makes a lagging worker ask for the snapshot instead.
      atomics: 'sync',
      workerData: { snapshotChannel },
    });
  }

  get queued(): number {
    return this.pool.queueSize;
  }

  publish(handle: SnapshotHandle): void {
    this.latest = handle;
    this.channel.postMessage(handle);
  }

  /** Runs one SearchRequest; resolves to the SearchResponse bytes. */
  async search(request: Uint8Array): Promise<Uint8Array> {
    const generation = this.latest?.generation ?? 0;
    const first = (await this.pool.run({ request, generation })) as Uint8Array | { needSnapshot: true };
    if (first instanceof Uint8Array) return first;
    // This worker has not seen the newest snapshot yet: hand it over with the task.
    return (await this.pool.run({ request, generation, snapshot: this.latest ?? undefined })) as Uint8Array;
  }

  async close(): Promise<void> {
    this.channel.close();
    await this.pool.destroy();
  }
}
