/**
 * Entry of one relay shard thread: builds the shard from its workerData and starts listening.
 * The shard reports `listening` to the main thread, then lives until the main thread says stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Identity } from '../src/crypto/identity.js';
import { componentLogger } from '../src/common/log.js';
import { encodeWorkerMessage } from '../src/relay/codec.js';
import { relayResponderFactory } from '../src/relay/relay_link.js';
import type { RelayWorkerData } from '../src/relay/server.js';
import { RelayShard } from '../src/relay/shard.js';
import { SharedCounters } from '../src/relay/shared_counters.js';

const data = workerData as RelayWorkerData;
const port = parentPort!;
const identity = Identity.fromSeed(data.seed);
const shard = new RelayShard({
  workerIndex: data.workerIndex,
  host: data.host,
  port: data.port,
  config: data.config,
  counters: new SharedCounters(data.counters),
  mainPort: port,
  peerPorts: data.peerPorts,
  responderFactory: relayResponderFactory(identity, data.config),
  logger: componentLogger('relay.shard', { worker: data.workerIndex }),
});
const bound = await shard.start();
port.postMessage(encodeWorkerMessage({ kind: 'listening', worker: data.workerIndex, port: bound }));
