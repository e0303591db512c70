import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64Url, toBase64Url, toHex } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { RocksStore, type BatchOp } from '../funder/store/rocks.js';
import type { RetiredRelay } from './relay_listen_set.js';
import { NodeError, NodeErrorCode } from './errors.js';

/**
 * The node's database: a directory holding two RocksDB stores, `meta` (the node's own settings:
 * the identity it was made for, index servers, relay names) and `funder` (the payment core's
 * records, written by its runtime). The identity is recorded at creation, so a node started
 * with another identity file refuses to run instead of signing for a state that is not its own.
 */

const FORMAT = 'offset-node-db/1';
const KEY_FORMAT = 'meta/format';
const KEY_IDENTITY = 'meta/identity';
const KEY_INDEX_SERVERS = 'meta/index-servers';
const KEY_RELAY_NAMES = 'meta/relay-names';
const KEY_RETIRED_RELAYS = 'meta/retired-relays';

export interface IndexServerEntry {
  readonly publicKey: Uint8Array;
  readonly address: string;
  readonly name: string;
}

const metaPath = (path: string): string => join(path, 'meta');

/** Where the payment core's runtime keeps its records. */
export const funderPath = (path: string): string => join(path, 'funder');

/** Creates a database for `publicKey`; refuses an existing path. */
export async function initNodeDb(path: string, publicKey: Uint8Array): Promise<void> {
  if (existsSync(path)) throw new NodeError(NodeErrorCode.DbExists, `${path} already exists; a node database is never overwritten`);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const store = await RocksStore.open(metaPath(path));
  try {
    await store.write([
      { type: 'put', key: KEY_FORMAT, value: FORMAT },
      { type: 'put', key: KEY_IDENTITY, value: toHex(publicKey) },
      { type: 'put', key: KEY_INDEX_SERVERS, value: '[]' },
    ]);
  } finally {
    await store.close();
  }
}

export class NodeDb {
  private constructor(private readonly store: RocksStore, private readonly records: Map<string, string>, readonly path: string) {}

  /** Opens the database made for `publicKey`; any other database is refused with a typed error. */
  static async open(path: string, publicKey: Uint8Array): Promise<NodeDb> {
    if (!existsSync(path)) throw new NodeError(NodeErrorCode.DbMissing, `no node database at ${path} (create one with: stmgr init-node-db)`);
    if (!existsSync(join(metaPath(path), 'CURRENT'))) throw new NodeError(NodeErrorCode.DbCorrupt, `${path} is not a node database`);
    let store: RocksStore;
    try {
      store = await RocksStore.open(metaPath(path));
    } catch (err) {
      const text = errorMessage(err);
      const code = /lock/i.test(text) ? NodeErrorCode.DbLocked : NodeErrorCode.DbCorrupt;
      throw new NodeError(code, `cannot open node database ${path}: ${text}`, { cause: err });
    }
    const records = new Map([...await store.readAll()].map(([key, value]) => [key, value.toString('utf8')]));
    const format = records.get(KEY_FORMAT);
    const identity = records.get(KEY_IDENTITY);
    if (format !== FORMAT) {
      await store.close();
      throw new NodeError(NodeErrorCode.DbCorrupt, `${path} is not a node database (format ${JSON.stringify(format ?? null)})`);
    }
    if (identity !== toHex(publicKey)) {
      await store.close();
      const made = identity === undefined ? '(none)' : toBase64Url(Buffer.from(identity, 'hex'));
      throw new NodeError(NodeErrorCode.IdentityMismatch, `${path} was made for identity ${made}, not ${toBase64Url(publicKey)}`);
    }
    return new NodeDb(store, records, path);
  }

  indexServers(): IndexServerEntry[] {
    return this.list(KEY_INDEX_SERVERS, (item) => {
      const { publicKey, address, name } = item as { publicKey?: unknown; address?: unknown; name?: unknown };
      const key = typeof publicKey === 'string' ? fromBase64Url(publicKey) : null;
      if (key === null || key.byteLength !== 32 || typeof address !== 'string' || typeof name !== 'string') return null;
      return { publicKey: key, address, name };
    });
  }

  /** Names the owner gave its relays (the payment core keeps keys and addresses only). */
  relayNames(): Map<string, string> {
    return new Map(this.list(KEY_RELAY_NAMES, (item) => (
      Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && typeof item[1] === 'string' ? [item[0], item[1]] as const : null
    )));
  }

  /** Relays the node moved away from and still listens on until their grace period ends. */
  retiredRelays(): RetiredRelay[] {
    return this.list(KEY_RETIRED_RELAYS, (item) => {
      const { publicKey, address, untilMs } = item as { publicKey?: unknown; address?: unknown; untilMs?: unknown };
      const key = typeof publicKey === 'string' ? fromBase64Url(publicKey) : null;
      if (key === null || key.byteLength !== 32 || typeof address !== 'string' || typeof untilMs !== 'number') return null;
      return { relay: { publicKey: key, address }, untilMs };
    });
  }

  async saveRetiredRelays(retired: readonly RetiredRelay[]): Promise<void> {
    const json = JSON.stringify(retired.map((r) => ({ publicKey: toBase64Url(r.relay.publicKey), address: r.relay.address, untilMs: r.untilMs })));
    await this.put({ type: 'put', key: KEY_RETIRED_RELAYS, value: json });
  }

  /** A JSON list record, each item checked by `read`; anything unreadable is a corrupt database, named by key. */
  private list<T>(key: string, read: (item: unknown) => T | null): T[] {
    const raw = this.records.get(key);
    if (raw === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = null;
    }
    if (!Array.isArray(parsed)) throw new NodeError(NodeErrorCode.DbCorrupt, `${this.path}: record ${key} is not a list`);
    return parsed.map((item, i) => {
      const value = read(item);
      if (value === null) throw new NodeError(NodeErrorCode.DbCorrupt, `${this.path}: record ${key} has a bad entry at ${i}`);
      return value;
    });
  }

  async saveIndexServers(servers: readonly IndexServerEntry[]): Promise<void> {
    const json = JSON.stringify(servers.map((s) => ({ publicKey: toBase64Url(s.publicKey), address: s.address, name: s.name })));
    await this.put({ type: 'put', key: KEY_INDEX_SERVERS, value: json });
  }

  async saveRelayNames(names: ReadonlyMap<string, string>): Promise<void> {
    await this.put({ type: 'put', key: KEY_RELAY_NAMES, value: JSON.stringify([...names]) });
  }

  private async put(op: BatchOp & { type: 'put'; value: string }): Promise<void> {
    await this.store.write([op]);
    this.records.set(op.key, op.value);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
