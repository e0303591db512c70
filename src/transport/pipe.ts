/**
 * The only thing the secure channel needs from below: an ordered, reliable message pipe.
 * A WebSocket is one (ws-pipe.ts, uws-pipe.ts); so is a tunnel through a relay that forwards
 * ciphertext, which is how two nodes run a channel end to end.
 */
import type { TransportErrorCode } from './errors.js';

export interface FramePipe {
  /** Queues one message. Never throws for a closed pipe (the message is dropped). */
  send(message: Uint8Array): void;
  /** Closes the pipe; `reason` travels in the close frame where the pipe has one. */
  close(reason: string): void;
  /** Bytes accepted by send() and not yet handed to the OS. */
  bufferedBytes(): number;
  /**
   * Sets the message handler (one consumer; a later call replaces it). The message belongs to
   * the handler: the pipe never reuses its memory, and the handler may modify it (the channel
   * decrypts in place).
   */
  onMessage(handler: (message: Uint8Array) => void): void;
  /**
   * Sets the close handler, called once whoever closed. `localError` names a limit this end's
   * pipe enforced itself (an oversized message, a full send buffer).
   */
  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void;
  /** Sets a handler for when bufferedBytes() has fallen after being high. */
  onDrain?(handler: () => void): void;
}

/**
 * Two connected in-memory pipes. Delivery is asynchronous and ordered (all messages queued in
 * one turn are delivered in the next), like a socket. For tests and in-process links.
 */
export function memoryPipePair(): [FramePipe, FramePipe] {
  const a = new MemoryPipe();
  const b = new MemoryPipe();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryPipe implements FramePipe {
  peer: MemoryPipe | null = null;
  private messageHandler: (message: Uint8Array) => void = () => {};
  private closeHandler: (reason: string, localError?: TransportErrorCode) => void = () => {};
  private readonly inbox: Uint8Array[] = [];
  private scheduled = false;
  private closed = false;
  private closeNotified = false;
  private pendingClose: string | null = null;

  send(message: Uint8Array): void {
    if (this.closed || this.peer === null) return;
    // A copy, as a socket would deliver: the receiver owns (and may decrypt in place) what it gets.
    this.peer.enqueue(new Uint8Array(message));
  }

  private enqueue(message: Uint8Array): void {
    if (this.closed) return;
    this.inbox.push(message);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = false;
    while (this.inbox.length > 0 && !this.closeNotified) {
      const message = this.inbox.shift() as Uint8Array;
      this.messageHandler(message);
    }
    if (this.pendingClose !== null) this.notifyClose(this.pendingClose);
  }

  private notifyClose(reason: string): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.closed = true;
    this.inbox.length = 0;
    this.closeHandler(reason);
  }

  /** The peer closed: deliver what is already queued, then the close. */
  private remoteClose(reason: string): void {
    if (this.closeNotified) return;
    this.pendingClose = reason;
    this.schedule();
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.length = 0;
    this.peer?.remoteClose(reason);
    setImmediate(() => this.notifyClose(reason));
  }

  bufferedBytes(): number {
    return 0;
  }

  onMessage(handler: (message: Uint8Array) => void): void {
    this.messageHandler = handler;
  }

  onClose(handler: (reason: string, localError?: TransportErrorCode) => void): void {
    this.closeHandler = handler;
  }

  onDrain(): void {}
}
