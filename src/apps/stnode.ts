#!/usr/bin/env node
import { Command } from 'commander';
import { toBase64Url } from '../common/bytes.js';
import { announceListening, componentLogger } from '../common/log.js';
import { loadIdentityFile } from '../files/identity_file.js';
import { indexClientFactory } from '../node/index_client_factory.js';
import { NodeMetrics } from '../node/metrics.js';
import { NodeService } from '../node/node_service.js';
import { relayNetwork } from '../node/relay_network.js';
import { parseListenAddress, runProgram } from './cli_common.js';

/**
 * stnode: one Offset node. Runs the payment core over its database, keeps its friends linked
 * through relays, reports to an index server and serves trusted apps. SIGTERM or SIGINT stops it
 * cleanly: apps and friends are disconnected, pending writes finish, the database is closed.
 */

interface StnodeOptions {
  idfile: string;
  laddr: { host: string; port: number };
  database: string;
  trusted: string;
  metricsAddr?: { host: string; port: number };
}

async function run(options: StnodeOptions): Promise<void> {
  const logger = componentLogger('stnode');
  const identity = loadIdentityFile(options.idfile);
  const metrics = new NodeMetrics();
  const node = await NodeService.start({
    identity,
    dbPath: options.database,
    host: options.laddr.host,
    port: options.laddr.port,
    trustedDir: options.trusted,
    relayNetwork: relayNetwork(identity, componentLogger('node.relay')),
    indexClientFactory: indexClientFactory(identity, componentLogger('node.index')),
    logger: componentLogger('node'),
    metrics,
  });
  logger.info({ publicKey: toBase64Url(identity.publicKey) }, 'node started');
  announceListening(logger, 'apps', options.laddr.host, node.appPort);
  let metricsServer: Awaited<ReturnType<NodeMetrics['serve']>>['server'] | null = null;
  if (options.metricsAddr !== undefined) {
    const served = await metrics.serve(options.metricsAddr.host, options.metricsAddr.port);
    metricsServer = served.server;
    announceListening(logger, 'metrics', options.metricsAddr.host, served.port);
  }
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping');
  metricsServer?.close();
  await node.stop();
  logger.info({ event: 'stopped' }, 'node stopped');
  // Sockets of dropped links may linger in their closing handshakes; nothing is left to save.
  setTimeout(() => process.exit(0), 200).unref();
}

export function stnodeProgram(): Command {
  return new Command('stnode')
    .description('Offset node: pays and forwards payments through relays and index servers for its trusted apps')
    .requiredOption('-i, --idfile <file>', 'identity file of the node')
    .requiredOption('-l, --laddr <host:port>', 'address to listen on for apps (port 0 lets the system choose)', parseListenAddress)
    .requiredOption('-d, --database <path>', 'node database (create it with: stmgr init-node-db)')
    .requiredOption('-t, --trusted <dir>', 'directory of trusted app tickets (re-read when it changes)')
    .option('-m, --metrics-addr <host:port>', 'address for Prometheus /metrics', parseListenAddress)
    .action((options: StnodeOptions) => run(options));
}

await runProgram(stnodeProgram());
