/**
 * Tunnel flow control, as in HTTP/2 or yamux but with the relay as the party that grants credit.
 *
 * Why: uWebSockets cannot pause reading a socket, and a uWS send into a receiver whose backlog is
 * over its limit silently drops the message. Dropping is never allowed inside a tunnel (the
 * nodes' end-to-end channel counts nonces, so one lost frame kills it). So each sender gets a
 * byte window: it may have at most `windowBytes` of WebSocket-message bytes that the relay has
 * not yet handed to the receiver's socket. The relay returns credit as the receiver's outbound
 * buffer drains; a receiver that reads slowly therefore slows its sender, and the relay holds at
 * most one window per direction. A sender that overruns its window broke the protocol and is
 * cut off (WindowExceeded); an honest sender never sees that.
 *
 * Both sides count the same bytes: the full length of every tunnel WebSocket message the sender
 * sends (Data frames; Close ends the tunnel and is not counted).
 */

/** The relay's view of one sender's window. */
export class SendWindow {
  constructor(private remainingBytes: number) {}

  get remaining(): number {
    return this.remainingBytes;
  }

  /** Accounts a received message; false when it overran the window (cut the sender off). */
  consume(bytes: number): boolean {
    this.remainingBytes -= bytes;
    return this.remainingBytes >= 0;
  }

  grant(bytes: number): void {
    this.remainingBytes += bytes;
  }
}

/**
 * The receiving side's ledger: bytes forwarded to the receiver's socket and not yet credited
 * back to the sender. Bytes still queued in the relay's outbound buffer for the receiver are
 * not creditable; everything else has left the relay.
 */
export class CreditLedger {
  private owedBytes = 0;

  constructor(private readonly batchBytes: number) {}

  get owed(): number {
    return this.owedBytes;
  }

  forwarded(bytes: number): void {
    this.owedBytes += bytes;
  }

  /**
   * Credit to return now, given the receiver's current outbound backlog; 0 when it is not yet
   * worth a message. `flush` returns any creditable amount (used on drain and on the periodic
   * sweep so a sender near the end of its window is never left waiting).
   */
  take(bufferedBytes: number, flush: boolean): number {
    const creditable = this.owedBytes - Math.max(0, bufferedBytes);
    if (creditable <= 0) return 0;
    if (!flush && creditable < this.batchBytes) return 0;
    this.owedBytes -= creditable;
    return creditable;
  }
}

/** The client's view of its own window: how much it may still send. */
export class ClientWindow {
  constructor(private availableBytes: number) {}

  get available(): number {
    return this.availableBytes;
  }

  canSend(bytes: number): boolean {
    return bytes <= this.availableBytes;
  }

  spend(bytes: number): void {
    this.availableBytes -= bytes;
  }

  credit(bytes: number): void {
    this.availableBytes += bytes;
  }
}
