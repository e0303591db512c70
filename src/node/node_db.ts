import { existsSync } from 'node:fs';
import { bytesEqual, fromBase64Url, toBase64Url } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { NodeError, NodeErrorCode } from './errors.js';
import { RocksStore, type BatchOp } from './rocks.js';

/**
 * The node's database: one RocksDB directory. The node's own records live under `meta/`; the
 * payment core's records live under their own prefix (written by its store). The identity the
 * database was made for is recorded at creation, so a node started with another identity file
 * refuses to run instead of signing on behalf of a state that is not its own.
 */

const FORMAT = 'offset-node-db/1';
const KEY_FORMAT = 'meta/format';
const KEY_IDENTITY = 'meta/identity';
const KEY_INDEX_SERVERS = 'meta/index-servers';

export interface IndexServerEntry {
  readonly publicKey: Uint8Array;
  readonly address: string;
  readonly name: string;
}

/** Creates a database for `publicKey`; refuses an existing path. */
export async function initNodeDb(path: string, publicKey: Uint8Array): Promise<void> {
  if (existsSync(path)) throw new NodeError(NodeErrorCode.DbExists, `${path} already exists; a node database is never overwritten`);
  const store = await RocksStore.open(path, 'create');
  try {
    await store.write([
      { type: 'put', key: KEY_FORMAT, value: Buffer.from(FORMAT) },
      { type: 'put', key: KEY_IDENTITY, value: Buffer.from(publicKey) },
      { type: 'put', key: KEY_INDEX_SERVERS, value: Buffer.from('[]') },
    ]);
  } finally {
    await store.close();
  }
}

export class NodeDb {
  private constructor(readonly store: RocksStore) {}

  /** Opens the database made for `publicKey`; any other database is refused with a typed error. */
  static async open(path: string, publicKey: Uint8Array): Promise<NodeDb> {
    if (!existsSync(path)) throw new NodeError(NodeErrorCode.DbMissing, `no node database at ${path} (create one with: stmgr init-node-db)`);
    let store: RocksStore;
    try {
      store = await RocksStore.open(path, 'existing');
    } catch (err) {
      const text = errorMessage(err);
      const code = /lock/i.test(text) ? NodeErrorCode.DbLocked : NodeErrorCode.DbCorrupt;
      throw new NodeError(code, `cannot open node database ${path}: ${text}`, { cause: err });
    }
    try {
      const format = await store.get(KEY_FORMAT);
      if (format === null || format.toString() !== FORMAT) {
        throw new NodeError(NodeErrorCode.DbCorrupt, `${path} is not a node database (format ${format === null ? 'missing' : JSON.stringify(format.toString().slice(0, 40))})`);
      }
      const identity = await store.get(KEY_IDENTITY);
      if (identity === null || !bytesEqual(identity, publicKey)) {
        throw new NodeError(
          NodeErrorCode.IdentityMismatch,
          `${path} was made for identity ${identity === null ? '(none)' : toBase64Url(identity)}, not ${toBase64Url(publicKey)}`,
        );
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return new NodeDb(store);
  }

  async indexServers(): Promise<IndexServerEntry[]> {
    const raw = await this.store.get(KEY_INDEX_SERVERS);
    if (raw === null) return [];
    const parsed = JSON.parse(raw.toString()) as { publicKey: string; address: string; name: string }[];
    const out: IndexServerEntry[] = [];
    for (const item of parsed) {
      const key = fromBase64Url(item.publicKey);
      if (key === null || key.byteLength !== 32) throw new NodeError(NodeErrorCode.DbCorrupt, 'bad index server record');
      out.push({ publicKey: key, address: item.address, name: item.name });
    }
    return out;
  }

  indexServersOp(servers: readonly IndexServerEntry[]): BatchOp {
    const json = JSON.stringify(servers.map((s) => ({ publicKey: toBase64Url(s.publicKey), address: s.address, name: s.name })));
    return { type: 'put', key: KEY_INDEX_SERVERS, value: Buffer.from(json) };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
