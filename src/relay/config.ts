import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RelayConfigError } from './errors.js';

/**
 * Every tunable of the relay, declared once with its default. Defaults are sized for a public
 * relay on a small machine; an operator overrides any of them in the JSON file given with
 * --config (unknown keys are rejected, so a typo is an error, not a silently ignored setting).
 */
const limitsSchema = z.strictObject({
  /** All connections on all workers. */
  connectionsMax: z.number().int().positive().default(100_000),
  /** Connections from one IP address (all workers together). */
  connectionsPerIpMax: z.number().int().positive().default(256),
  /** New connections per second over the whole relay (each worker gets an equal share). */
  acceptsPerSecond: z.number().positive().default(2_000),
  /** Noise handshakes in progress over the whole relay. */
  handshakesInProgressMax: z.number().int().positive().default(512),
  /** Per connection: WebSocket messages per second (burst: one second's worth). */
  framesPerSecondMax: z.number().positive().default(200_000),
  /** Per connection: bytes per second (burst: one second's worth). */
  bytesPerSecondMax: z.number().positive().default(512 * 1024 * 1024),
  /** Largest WebSocket message accepted; larger ones close the connection (FrameTooLarge). */
  frameBytesMax: z.number().int().min(1024).default(1024 * 1024 + 1024),
  /** Connects waiting for one listener key, and in total. */
  pendingPerListenerMax: z.number().int().positive().default(64),
  pendingTotalMax: z.number().int().positive().default(100_000),
  /** Per connection: bytes queued for sending before the connection is cut off (QueueFull). */
  outboundQueueBytesMax: z.number().int().min(64 * 1024).default(8 * 1024 * 1024),
  /** Per tunnel direction: bytes a sender may have in flight through the relay. */
  tunnelWindowBytes: z.number().int().min(64 * 1024).default(4 * 1024 * 1024),
});

const timeoutsSchema = z.strictObject({
  handshakeMs: z.number().int().positive().default(8_000),
  /** From the end of the handshake to the first relay message. */
  initMs: z.number().int().positive().default(4_000),
  /** How long a connect waits for its listener to accept. */
  connectMs: z.number().int().positive().default(16_000),
  /** A listener that sends nothing (keepalives included) for this long is dropped. */
  listenerIdleMs: z.number().int().positive().default(32_000),
  /**
   * A tunnel half that sends nothing for this long is closed (with its peer). The nodes' own
   * channel sends a keepalive at least every 15 s, so only a vanished peer trips this.
   */
  tunnelIdleMs: z.number().int().positive().default(120_000),
  /** After SIGTERM: how long clients get before every connection is closed. */
  drainGraceMs: z.number().int().nonnegative().default(5_000),
});

export const relayConfigSchema = z.strictObject({
  workers: z.number().int().min(1).max(64).default(availableParallelism()),
  limits: limitsSchema.default(limitsSchema.parse({})),
  timeouts: timeoutsSchema.default(timeoutsSchema.parse({})),
});

export type RelayConfig = z.infer<typeof relayConfigSchema>;
export type RelayLimits = RelayConfig['limits'];
export type RelayTimeouts = RelayConfig['timeouts'];

/** Validates, cross-checks and freezes a configuration; the error names the field at fault. */
export function parseRelayConfig(input: unknown): RelayConfig {
  const result = relayConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new RelayConfigError(`invalid relay config: ${where}: ${issue.message}`);
  }
  const config = result.data;
  const { limits } = config;
  // A sender must be able to send at least one maximal frame plus the credit batch, or it could
  // wait forever for credit that is never returned.
  if (limits.tunnelWindowBytes < 2 * limits.frameBytesMax) {
    throw new RelayConfigError('invalid relay config: limits.tunnelWindowBytes must be at least twice limits.frameBytesMax');
  }
  if (limits.pendingTotalMax < limits.pendingPerListenerMax) {
    throw new RelayConfigError('invalid relay config: limits.pendingTotalMax must be at least limits.pendingPerListenerMax');
  }
  return deepFreeze(config);
}

export function loadRelayConfigFile(path: string): RelayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RelayConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RelayConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseRelayConfig(json);
}

/** Credit is returned in batches of this many bytes (or on drain). */
export function creditBatchBytes(limits: RelayLimits): number {
  return Math.max(16 * 1024, Math.min(256 * 1024, Math.floor(limits.tunnelWindowBytes / 8)));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
