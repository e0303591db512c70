import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Reason } from './codec.js';

/**
 * Counters one shard keeps for /metrics and /status. Plain numbers, sent to the main thread as a
 * JSON snapshot on request; the main thread turns the cumulative values into Prometheus counters.
 */
export class ShardStats {
  private connectionsOpened = 0;
  private connectionsClosed = 0;
  private tunnelsOpened = 0;
  private tunnelsOpen = 0;
  private bytesForwarded = 0;
  private framesForwarded = 0;
  private creditFrames = 0;
  private crossBatches = 0;
  private handshakeFailures = 0;
  private malformedMessages = 0;
  private readonly refusals: Record<string, number> = {};
  private readonly closes: Record<string, number> = {};
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();

  opened(): void { this.connectionsOpened++; }
  closed(): void { this.connectionsClosed++; }
  tunnelOpened(): void { this.tunnelsOpened++; this.tunnelsOpen++; }
  tunnelClosed(): void { this.tunnelsOpen--; }
  forwarded(bytes: number): void { this.framesForwarded++; this.bytesForwarded += bytes; }
  creditSent(): void { this.creditFrames++; }
  batchSent(): void { this.crossBatches++; }
  handshakeFailed(): void { this.handshakeFailures++; }
  malformed(): void { this.malformedMessages++; }

  refused(reason: string): void {
    this.refusals[reason] = (this.refusals[reason] ?? 0) + 1;
  }

  /** `abnormal`: the socket ended without a close frame (reset, or a frame far over the limit). */
  closedFor(reason: Reason, abnormal = false): void {
    const label = reason !== Reason.None ? Reason[reason] : abnormal ? 'abnormal' : 'client_closed';
    this.closes[label] = (this.closes[label] ?? 0) + 1;
  }

  /** Event-loop utilisation since the previous call: the shard's load, 0..1. */
  elu(): number {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.lastElu);
    this.lastElu = now;
    return delta.utilization;
  }

  toJSON(): Record<string, unknown> {
    return {
      connectionsOpened: this.connectionsOpened, connectionsClosed: this.connectionsClosed,
      tunnelsOpened: this.tunnelsOpened, tunnelHalvesOpen: this.tunnelsOpen,
      bytesForwarded: this.bytesForwarded, framesForwarded: this.framesForwarded, creditFrames: this.creditFrames,
      crossBatches: this.crossBatches, handshakeFailures: this.handshakeFailures, malformedMessages: this.malformedMessages,
      refusals: { ...this.refusals }, closes: { ...this.closes },
    };
  }
}
