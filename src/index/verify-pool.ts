import { Piscina } from 'piscina';
import { checkVerifyBatch, decodeVerifyVerdicts, VerifyBatchBuilder } from './ingest-codec.js';

/**
 * Where the signatures of a batch of received updates are checked. `check` resolves to one
 * verdict byte per frame (1 = valid), or null if the answer was unusable (every frame of the
 * batch then counts as unverified).
 */
export interface BatchVerifier {
  /** Batches worth having in flight at once. */
  readonly parallelism: number;
  check(batch: Uint8Array, frames: number): Promise<Uint8Array | null>;
  /** Resolves once checks can run without waiting for threads to start. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Checks on the calling thread (tests, and servers configured without signature workers). */
export class InlineVerifier implements BatchVerifier {
  readonly parallelism = 1;
  check(batch: Uint8Array, frames: number): Promise<Uint8Array | null> {
    return Promise.resolve(decodeVerifyVerdicts(checkVerifyBatch(batch), frames));
  }
  async ready(): Promise<void> {}
  async close(): Promise<void> {}
}

const workerFile = (() => {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(`../../workers/index_verify.${ts ? 'ts' : 'js'}`, import.meta.url).href;
})();

/** Signature checks on worker threads; batches are transferred both ways, never copied. */
export class VerifyPool implements BatchVerifier {
  private readonly pool: Piscina;
  readonly parallelism: number;

  constructor(readonly workers: number) {
    // Enough batches queued that a worker finishing one finds the next waiting.
    this.parallelism = workers * 4;
    this.pool = new Piscina({
      filename: workerFile,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      atomics: 'sync',
    });
  }

  async check(batch: Uint8Array, frames: number): Promise<Uint8Array | null> {
    const answer: unknown = await this.pool.run(Piscina.move(batch));
    return answer instanceof Uint8Array ? decodeVerifyVerdicts(answer, frames) : null;
  }

  /**
   * Runs an empty batch per worker: a worker thread loads its module in the background, which
   * takes seconds on a busy machine, and the first signed update must not wait for that.
   */
  async ready(): Promise<void> {
    const empty = () => this.check(new VerifyBatchBuilder(0).finish(), 0);
    await Promise.all(Array.from({ length: this.workers }, empty));
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
