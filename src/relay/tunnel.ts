import type { FramePipe } from '../transport/pipe.js';
import { TransportErrorCode } from '../transport/errors.js';
import { Reason, decodeTunnelFrame, encodeTunnelClose, encodeTunnelData } from './codec.js';
import { ClientWindow } from './flow.js';

/**
 * A node's end of a spliced relay tunnel, as a FramePipe: the nodes run their end-to-end
 * SecureChannel (purpose 'node-to-node') over it exactly as over a direct WebSocket.
 *
 * Each message becomes a TunnelFrame Data on the relay connection. The tunnel keeps to the credit
 * window the relay granted (Connected.window_bytes, then Credit frames): a message that does not
 * fit waits in a local queue, and `bufferedBytes()` counts that queue, so the channel above sees
 * back-pressure through the usual high-water mark and `onDrain`. The queue itself is capped; an
 * application that ignores back-pressure past the cap gets the tunnel closed, never a silently
 * dropped frame.
 */
export const TUNNEL_QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

export class RelayTunnel implements FramePipe {
  private readonly window: ClientWindow;
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private closed = false;
  private blocked = false;
  private messageHandler: (message: Uint8Array) => void = () => {};
  private closeHandler: (reason: string, localError?: TransportErrorCode) => void = () => {};
  private drainHandler: () => void = () => {};
  /** Frames that arrived before a message handler was set (the peer may send at once). */
  private early: Uint8Array[] | null = [];

  constructor(
    /** The relay connection underneath (tests use it to misbehave on purpose). */
    readonly pipe: FramePipe,
    readonly peerKey: Uint8Array,
    windowBytes: number,
    private readonly queueBytesMax = TUNNEL_QUEUE_BYTES_MAX_DEFAULT,
  ) {
    this.window = new ClientWindow(windowBytes);
    pipe.onMessage((message) => this.receive(message));
    pipe.onClose((reason, localError) => this.finish(reason, localError));
    pipe.onDrain?.(() => this.maybeDrained());
  }

  send(message: Uint8Array): void {
    if (this.closed) return;
    const frame = encodeTunnelData(message);
    if (this.queuedBytes === 0 && this.window.canSend(frame.byteLength)) {
      this.window.spend(frame.byteLength);
      this.pipe.send(frame);
      return;
    }
    if (this.queuedBytes + frame.byteLength > this.queueBytesMax) {
      this.fail('ERR_RELAY_QUEUE_FULL: tunnel send queue over its cap', TransportErrorCode.Backpressure);
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.byteLength;
    this.blocked = true;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.flushQueue();
    this.pipe.send(encodeTunnelClose(Reason.None));
    this.closed = true;
    this.pipe.close(reason);
    this.closeHandler(reason);
  }

  bufferedBytes(): number {
    return this.queuedBytes + this.pipe.bufferedBytes();
  }

  /** Credit the tunnel may still use before it must wait for the relay. */
  windowAvailable(): number {
    return this.window.available;
  }

  onMessage(handler: (message: Uint8Array) => void): void {
    this.messageHandler = handler;
    const early = this.early;
    this.early = null;
    for (const message of early ?? []) handler(message);
  }

  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void {
    this.closeHandler = handler;
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }

  private receive(bytes: Uint8Array): void {
    if (this.closed) return;
    const decoded = decodeTunnelFrame(bytes);
    if (!decoded.ok) {
      this.fail(`ERR_RELAY_DECODE: ${decoded.error.message}`, TransportErrorCode.Protocol);
      return;
    }
    const msg = decoded.value;
    switch (msg.kind) {
      case 'data':
        if (this.early !== null) this.early.push(msg.payload);
        else this.messageHandler(msg.payload);
        return;
      case 'credit':
        this.window.credit(msg.bytes);
        this.flushQueue();
        this.maybeDrained();
        return;
      case 'close':
        this.finish(`relay tunnel closed: ${Reason[msg.reason] ?? msg.reason}`);
        this.pipe.close('tunnel closed');
        return;
    }
  }

  private flushQueue(): void {
    while (this.queueHead < this.queue.length) {
      const frame = this.queue[this.queueHead];
      if (!this.window.canSend(frame.byteLength)) break;
      this.window.spend(frame.byteLength);
      this.pipe.send(frame);
      this.queuedBytes -= frame.byteLength;
      this.queueHead++;
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private maybeDrained(): void {
    if (!this.blocked || this.queuedBytes > 0) return;
    this.blocked = false;
    this.drainHandler();
  }

  private fail(reason: string, localError: TransportErrorCode): void {
    if (this.closed) return;
    this.pipe.close(reason);
    this.finish(reason, localError);
  }

  private finish(reason: string, localError?: TransportErrorCode): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.closeHandler(reason, localError);
  }
}
