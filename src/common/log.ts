import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One root logger per process; components take a child named after their layer
 * (`relay`, `index.federation`, `node.funder`), so log lines can be filtered by area.
 * Level comes from OFFSET_LOG_LEVEL (default `info`; tests set `silent`).
 */
let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.OFFSET_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  });
  return root;
}

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

/** A logger that discards everything: for pure cores under test and for benchmarks. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Servers announce each listening endpoint with this one log line, so launchers (tests, the
 * demo, benchmarks) can learn ports chosen by the OS: `{"event":"listening","endpoint":...,"port":...}`.
 */
export function announceListening(logger: Logger, endpoint: string, host: string, port: number): void {
  logger.info({ event: 'listening', endpoint, host, port }, `listening for ${endpoint} on ${host}:${port}`);
}
