import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * The few RocksDB calls the payment core needs, promisified and typed. The `rocksdb` package
 * ships no types; this is the only file that touches its callback API.
 */
interface RawIterator {
  next(cb: (err: Error | null, key?: string, value?: Buffer) => void): void;
  end(cb: (err?: Error | null) => void): void;
}

interface RawDb {
  open(options: { createIfMissing: boolean }, cb: (err?: Error | null) => void): void;
  close(cb: (err?: Error | null) => void): void;
  batch(ops: BatchOp[], options: { sync: boolean }, cb: (err?: Error | null) => void): void;
  iterator(options: { keyAsBuffer: false; valueAsBuffer: true; gte?: string; lt?: string }): RawIterator;
}

export type BatchOp = { type: 'put'; key: string; value: Buffer | string } | { type: 'del'; key: string };

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb') as (location: string) => RawDb;

export class RocksStore {
  private constructor(private readonly db: RawDb) {}

  static async open(location: string): Promise<RocksStore> {
    mkdirSync(dirname(location), { recursive: true });
    const db = rocksdb(location);
    await new Promise<void>((resolve, reject) => db.open({ createIfMissing: true }, (err) => (err ? reject(err) : resolve())));
    return new RocksStore(db);
  }

  /** One atomic write, fsynced before the promise resolves. */
  write(ops: BatchOp[]): Promise<void> {
    return new Promise((resolve, reject) => this.db.batch(ops, { sync: true }, (err) => (err ? reject(err) : resolve())));
  }

  /** Every key and value, in key order. */
  async readAll(): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const it = this.db.iterator({ keyAsBuffer: false, valueAsBuffer: true });
    await new Promise<void>((resolve, reject) => {
      const step = (): void => it.next((err, key, value) => {
        if (err) return reject(err);
        if (key === undefined) return resolve();
        out.set(key, value ?? Buffer.alloc(0));
        step();
      });
      step();
    });
    await new Promise<void>((resolve) => it.end(() => resolve()));
    return out;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
