import type { Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { IndexClient } from '../index/client.js';
import type { IndexClientFactory, IndexClientPort } from './index_link.js';

/** The node's index link over the real index client (one server at a time, rotating). */
export function indexClientFactory(identity: Identity, logger: Logger, options: { backoffMs?: number; refreshMs?: number } = {}): IndexClientFactory {
  return (servers): IndexClientPort => new IndexClient({
    identity,
    servers: servers.map((s) => ({ publicKey: s.publicKey, address: s.address })),
    logger,
    backoffMs: options.backoffMs ?? 2_000,
    refreshMs: options.refreshMs,
  });
}
