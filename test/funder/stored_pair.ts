import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { Loopback, befriend, type LoopbackNode } from '../../src/funder/loopback.js';

export interface StoredPair {
  readonly net: Loopback;
  readonly a: LoopbackNode;
  readonly b: LoopbackNode;
}

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/**
 * Nodes a and b, each on its own RocksDB store in a temporary directory removed after the test.
 * `open()` (re)opens both from their stores, so a test can close them and check what survived.
 */
export function storedPair(t: Test, prefix: string): { open: () => Promise<StoredPair> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return {
    open: async () => {
      const net = new Loopback();
      const a = await net.add('a', seed(1), join(dir, 'a'));
      const b = await net.add('b', seed(2), join(dir, 'b'));
      return { net, a, b };
    },
  };
}

/** The first opening of a stored pair: friends with 1,000 of credit each way in FST, connected. */
export async function openFriends(open: () => Promise<StoredPair>): Promise<StoredPair> {
  const pair = await open();
  befriend(pair.a, pair.b, 'FST', 1000n);
  pair.net.connectAll();
  await pair.net.ready('FST');
  return pair;
}
