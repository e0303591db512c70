import { createRequire } from 'node:module';

/**
 * A promise-shaped view of the `rocksdb` binding (abstract-leveldown API), typed locally: the
 * package ships no declarations. Only what the node uses is exposed.
 */

type Callback<T = void> = (err: Error | undefined | null, value?: T) => void;

interface RawRocks {
  open(options: { createIfMissing: boolean; errorIfExists: boolean }, cb: Callback): void;
  get(key: string | Buffer, options: { asBuffer: boolean }, cb: Callback<Buffer>): void;
  batch(ops: RawBatchOp[], options: { sync: boolean }, cb: Callback): void;
  close(cb: Callback): void;
}

type RawBatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb') as (location: string) => RawRocks;

export type BatchOp = RawBatchOp;

export class RocksStore {
  private closed = false;

  private constructor(private readonly raw: RawRocks, readonly location: string) {}

  /** Opens (or with `create`, creates and requires new) the database at `location`. */
  static open(location: string, mode: 'existing' | 'create'): Promise<RocksStore> {
    const raw = rocksdb(location);
    return new Promise((resolve, reject) => {
      raw.open({ createIfMissing: mode === 'create', errorIfExists: mode === 'create' }, (err) => {
        if (err) reject(err);
        else resolve(new RocksStore(raw, location));
      });
    });
  }

  get(key: string): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.raw.get(key, { asBuffer: true }, (err, value) => {
        if (err) {
          if (/NotFound/i.test(err.message)) resolve(null);
          else reject(err);
        } else resolve(value ?? null);
      });
    });
  }

  /** One atomic, synced write. */
  write(ops: BatchOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.batch(ops, { sync: true }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve, reject) => this.raw.close((err) => (err ? reject(err) : resolve())));
  }
}
