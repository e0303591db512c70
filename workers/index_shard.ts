/**
 * Entry of one index client shard thread (src/index/shard.ts): builds the shard from its
 * workerData and starts listening; the shard reports `listening` to the main thread and lives
 * until the main thread says stop. An exception nothing caught closes the shard's sockets
 * before the thread ends (a uWS thread that ends with sockets open aborts the whole process);
 * the main thread sees the exit, serves on with its other shards and starts a new one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../src/common/errors.js';
import { componentLogger } from '../src/common/log.js';
import { Identity } from '../src/crypto/identity.js';
import type { IndexShardData } from '../src/index/server.js';
import { IndexShard } from '../src/index/shard.js';
import { ShardCounters } from '../src/index/shard-counters.js';

const data = workerData as IndexShardData;
const logger = componentLogger('index.shard', { shard: data.index });
const shard = new IndexShard({
  index: data.index,
  host: data.host,
  port: data.port,
  identity: Identity.fromSeed(data.seed),
  mainPort: parentPort!,
  counters: new ShardCounters(data.counters, data.index),
  timeHash: data.timeHash,
  snapshot: data.snapshot,
  bounds: data.bounds,
  queueMax: data.queueMax,
  turnBudgetMs: data.turnBudgetMs,
  backlogMax: data.backlogMax,
  limits: data.limits,
  admission: data.admission,
  logger,
});
process.on('uncaughtException', (err) => {
  logger.error({ err: errorMessage(err) }, 'index shard failed; closing its connections');
  shard.stop({ force: true });
});
await shard.start();
