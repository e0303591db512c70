#!/usr/bin/env node
import { Command } from 'commander';
import { announceListening, componentLogger } from '../common/log.js';
import { toBase64Url } from '../common/bytes.js';
import { loadIdentityFile } from '../files/identity_file.js';
import { loadRelayConfigFile, parseRelayConfig, type RelayConfig } from '../relay/config.js';
import { RelayConfigError } from '../relay/errors.js';
import { RelayMetrics, serveMetrics } from '../relay/metrics.js';
import { RelayServer } from '../relay/server.js';
import { parseListenAddress, parseWorkerCount, runProgram } from './cli_common.js';

/**
 * strelay: the relay server. Shards connections over worker threads on one port, serves
 * Prometheus /metrics and JSON /status on a separate address, and drains on SIGTERM or SIGINT
 * (stop accepting, tell clients, close everything after the grace period, exit 0).
 */

interface StrelayOptions {
  idfile: string;
  laddr: { host: string; port: number };
  workers?: number;
  metricsAddr?: { host: string; port: number };
  config?: string;
}

async function run(options: StrelayOptions): Promise<void> {
  const logger = componentLogger('strelay');
  const fileConfig: RelayConfig = options.config === undefined ? parseRelayConfig({}) : loadRelayConfigFile(options.config);
  const config = options.workers === undefined ? fileConfig : parseRelayConfig({ ...structuredClone(fileConfig), workers: options.workers });
  if (config === undefined) throw new RelayConfigError('no configuration');
  const identity = loadIdentityFile(options.idfile);
  const relay = await RelayServer.start({ identity, host: options.laddr.host, port: options.laddr.port, config, logger: componentLogger('relay') });
  logger.info({ publicKey: toBase64Url(identity.publicKey), workers: relay.workerCount }, 'relay started');
  announceListening(logger, 'clients', options.laddr.host, relay.port);
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>>['server'] | null = null;
  if (options.metricsAddr !== undefined) {
    const served = await serveMetrics(new RelayMetrics(relay), options.metricsAddr.host, options.metricsAddr.port, logger);
    metricsServer = served.server;
    announceListening(logger, 'metrics', options.metricsAddr.host, served.port);
  }
  await new Promise<void>((resolve) => {
    let draining = false;
    const drain = (signal: string): void => {
      if (draining) return;
      draining = true;
      logger.info({ signal, graceMs: config.timeouts.drainGraceMs }, 'draining');
      relay.drain().then(resolve, (err: Error) => {
        logger.error({ err: err.message }, 'drain failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => drain('SIGTERM'));
    process.once('SIGINT', () => drain('SIGINT'));
  });
  metricsServer?.close();
  logger.info({ event: 'stopped' }, 'relay stopped');
}

export function strelayProgram(): Command {
  return new Command('strelay')
    .description('Offset relay server: a meeting point that splices connections between nodes')
    .requiredOption('-i, --idfile <file>', 'identity file of the relay')
    .requiredOption('-l, --laddr <host:port>', 'address to listen on for nodes', parseListenAddress)
    .option('-w, --workers <n>', 'worker threads (default: one per core)', parseWorkerCount)
    .option('-m, --metrics-addr <host:port>', 'address for /metrics and /status', parseListenAddress)
    .option('-c, --config <file>', 'JSON file with limits and timeouts')
    .action(run);
}

await runProgram(strelayProgram());
