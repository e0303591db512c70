#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { toBase64Url } from '../common/bytes.js';
import { announceListening, componentLogger } from '../common/log.js';
import { loadIdentityFile } from '../files/identity_file.js';
import { DEFAULT_INDEX_LIMITS, type IndexLimits } from '../index/limits.js';
import { IndexServer } from '../index/server.js';
import { parseListenAddress, parseWorkerCount, runProgram } from './cli_common.js';

/**
 * stindex: the index server. Nodes connect on --lclient, trusted index servers on --lserver;
 * --trusted holds the peers' index tickets (their server ports) and is re-read every tick, so
 * adding or removing a ticket takes effect without a restart. Node connections are spread over
 * --workers client shards (threads sharing the client port), which answer route searches
 * themselves; signature checks run on as many threads. Stops cleanly on SIGTERM or SIGINT.
 */

function tickMs(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 10 || n > 60_000) throw new InvalidArgumentError('expected milliseconds from 10 to 60000');
  return n;
}

/** One `--limit name=value` (src/index/limits.ts), added to those given before. */
function limitOption(text: string, previous: Partial<IndexLimits> = {}): Partial<IndexLimits> {
  const at = text.indexOf('=');
  const name = at < 0 ? text : text.slice(0, at);
  if (!(name in DEFAULT_INDEX_LIMITS)) throw new InvalidArgumentError(`unknown limit ${name}; known: ${Object.keys(DEFAULT_INDEX_LIMITS).join(', ')}`);
  const value = Number(text.slice(at + 1));
  if (at < 0 || !(value > 0)) throw new InvalidArgumentError(`expected ${name}=<positive number>`);
  return { ...previous, [name]: value };
}

interface StindexOptions {
  idfile: string;
  lclient: { host: string; port: number };
  lserver: { host: string; port: number };
  trusted: string;
  workers?: number;
  metricsAddr?: { host: string; port: number };
  tickMs?: number;
  limit?: Partial<IndexLimits>;
}

async function run(options: StindexOptions): Promise<void> {
  const logger = componentLogger('stindex');
  const identity = loadIdentityFile(options.idfile);
  const server = await IndexServer.start({
    identity,
    clientHost: options.lclient.host,
    clientPort: options.lclient.port,
    serverHost: options.lserver.host,
    serverPort: options.lserver.port,
    trustedDir: options.trusted,
    workers: options.workers ?? 2,
    tickMs: options.tickMs,
    limits: options.limit,
    metricsHost: options.metricsAddr?.host,
    metricsPort: options.metricsAddr?.port,
    logger: componentLogger('index'),
  });
  logger.info({ publicKey: toBase64Url(identity.publicKey) }, 'index server started');
  announceListening(logger, 'clients', options.lclient.host, server.clientPort);
  announceListening(logger, 'servers', options.lserver.host, server.serverPort);
  if (options.metricsAddr !== undefined) announceListening(logger, 'metrics', options.metricsAddr.host, server.metricsPort);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await server.close();
  logger.info({ event: 'stopped' }, 'index server stopped');
}

export function stindexProgram(): Command {
  return new Command('stindex')
    .description('Offset index server: federated credit graph and route search')
    .requiredOption('-i, --idfile <file>', 'identity file of the index server')
    .requiredOption('-c, --lclient <host:port>', 'address to listen on for nodes', parseListenAddress)
    .requiredOption('-s, --lserver <host:port>', 'address to listen on for trusted index servers', parseListenAddress)
    .requiredOption('-t, --trusted <dir>', 'directory of trusted index servers\' tickets (re-read every tick)')
    .option('-w, --workers <n>', 'client shard threads, which own node connections and search routes (default 2)', parseWorkerCount)
    .option('-m, --metrics-addr <host:port>', 'address for Prometheus /metrics', parseListenAddress)
    .option('--tick-ms <ms>', 'hash clock tick (default 1000)', tickMs)
    .option('--limit <name=value>', 'set one quota against abusive clients and peers (repeatable; names and defaults in src/index/limits.ts)', limitOption)
    .action(run);
}

await runProgram(stindexProgram());
