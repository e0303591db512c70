import type { Identity } from '../crypto/identity.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { toBase64Url } from '../common/bytes.js';
import { connectSecure } from '../transport/ws-pipe.js';
import type { SecureChannel, ChannelOptions } from '../transport/channel.js';
import { Reason, decodeRelayMessage, encodeClientMessage, type ClientMsg } from './codec.js';
import { RelayClosedError, RelayTimeoutError } from './errors.js';
import { RelayTunnel } from './tunnel.js';

/**
 * The node side of the relay protocol.
 *
 * - `openTunnel(relay, target)`: connect(K) on a new relay connection; resolves with a
 *   RelayTunnel once K accepted, or fails with the relay's reason or on the deadline.
 * - `RelayListener`: a listen connection; reports callers, accepts (a new connection sending
 *   accept(C)) or rejects them.
 * - `RelayListenPool`: keeps a listener on each configured relay, reconnecting with jittered
 *   exponential backoff.
 * - `connectViaRelays(relays, target)`: tries a friend's relays in turn within one deadline.
 */

export interface RelayAddress {
  /** ws://host:port/ */
  url: string;
  publicKey: Uint8Array;
}

export interface RelayClientOptions {
  identity: Identity;
  channelOptions?: ChannelOptions;
  logger?: Logger;
}

async function openLink(relay: RelayAddress, o: RelayClientOptions, timeoutMs: number): Promise<SecureChannel> {
  return connectSecure(relay.url, {
    identity: o.identity,
    expectedRemoteKey: relay.publicKey,
    purpose: 'relay',
    connectTimeoutMs: timeoutMs,
    options: { handshakeTimeoutMs: timeoutMs, logger: o.logger ?? silentLogger, ...o.channelOptions },
  });
}

/**
 * Sends `first` on a new relay connection and waits for Connected (-> tunnel) or Failed. The
 * tunnel takes over the raw pipe at the message that said Connected, so no tunnel frame can be
 * read by the channel.
 */
async function spliceRequest(relay: RelayAddress, first: ClientMsg, o: RelayClientOptions, timeoutMs: number): Promise<RelayTunnel> {
  const deadlineMs = performance.now() + timeoutMs;
  const channel = await openLink(relay, o, timeoutMs);
  return new Promise<RelayTunnel>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | null, tunnel?: RelayTunnel): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== null) {
        channel.close('gave up');
        reject(error);
      } else resolve(tunnel!);
    };
    const timer = setTimeout(
      () => settle(new RelayTimeoutError(`no splice through the relay within ${timeoutMs} ms`)),
      Math.max(0, deadlineMs - performance.now()),
    );
    channel.onFrame((frame) => {
      if (settled) return;
      const decoded = decodeRelayMessage(frame);
      if (!decoded.ok) return settle(decoded.error);
      const msg = decoded.value;
      if (msg.kind === 'connected') {
        const pipe = channel.detach();
        settle(null, new RelayTunnel(pipe, new Uint8Array(msg.peer), msg.windowBytes));
      } else if (msg.kind === 'failed') {
        settle(new RelayClosedError(Reason[msg.reason] ?? String(msg.reason)));
      } else if (msg.kind === 'draining') {
        settle(new RelayClosedError('Draining'));
      }
    });
    channel.onClose((error) => settle(new RelayClosedError('ConnectionLost', `relay connection closed: ${error.message}`)));
    channel.send(encodeClientMessage(first));
  });
}

/** connect(target) through `relay`. */
export function openTunnel(relay: RelayAddress, target: Uint8Array, o: RelayClientOptions & { timeoutMs?: number }): Promise<RelayTunnel> {
  return spliceRequest(relay, { kind: 'connect', target }, o, o.timeoutMs ?? 20_000);
}

export interface IncomingDecision {
  (caller: Uint8Array): 'accept' | 'reject';
}

export interface RelayListenerEvents {
  /** Decides on a caller; default: accept. */
  decide?: IncomingDecision;
  /** A caller was accepted and its tunnel is spliced. */
  onTunnel: (tunnel: RelayTunnel, caller: Uint8Array) => void;
  /** Accepting a caller failed (it left, or the relay refused). */
  onAcceptError?: (caller: Uint8Array, error: Error) => void;
}

/** A listen connection on one relay. */
export class RelayListener {
  private closedReason: string | null = null;
  private closeHandlers: ((reason: string) => void)[] = [];
  readonly closed: Promise<string>;

  private constructor(
    private readonly relay: RelayAddress,
    private readonly channel: SecureChannel,
    private readonly o: RelayClientOptions & RelayListenerEvents & { acceptTimeoutMs: number },
  ) {
    this.closed = new Promise((resolve) => this.closeHandlers.push(resolve));
    channel.onFrame((frame) => this.frame(frame));
    channel.onClose((error) => this.finish(error.message));
  }

  static async open(relay: RelayAddress, o: RelayClientOptions & RelayListenerEvents & { timeoutMs?: number; acceptTimeoutMs?: number }): Promise<RelayListener> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const channel = await openLink(relay, o, timeoutMs);
    channel.send(encodeClientMessage({ kind: 'listen' }));
    return new RelayListener(relay, channel, { ...o, acceptTimeoutMs: o.acceptTimeoutMs ?? 10_000 });
  }

  get isClosed(): boolean {
    return this.closedReason !== null;
  }

  /** Refuses `caller` (its connect fails with Rejected). */
  reject(caller: Uint8Array): void {
    this.channel.send(encodeClientMessage({ kind: 'reject', caller }));
  }

  close(): void {
    this.channel.close('listener closed');
    this.finish('closed');
  }

  private frame(frame: Uint8Array): void {
    const decoded = decodeRelayMessage(frame);
    if (!decoded.ok) {
      this.channel.close('ERR_RELAY_DECODE');
      this.finish(decoded.error.message);
      return;
    }
    const msg = decoded.value;
    if (msg.kind === 'incoming') {
      const caller = new Uint8Array(msg.caller);
      const decision = this.o.decide?.(caller) ?? 'accept';
      if (decision === 'reject') {
        this.reject(caller);
        return;
      }
      spliceRequest(this.relay, { kind: 'accept', caller }, this.o, this.o.acceptTimeoutMs).then(
        (tunnel) => this.o.onTunnel(tunnel, caller),
        (err: Error) => this.o.onAcceptError?.(caller, err),
      );
    } else if (msg.kind === 'draining') {
      // The relay is going away; let the pool reconnect elsewhere or later.
      this.channel.close('relay draining');
      this.finish('relay draining');
    }
  }

  private finish(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const handler of this.closeHandlers) handler(reason);
  }
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A listener that stayed up this long resets the backoff. */
  stableMs: number;
}

/** Full jitter: a uniform delay in [0.5, 1] x min(max, base x 2^attempt). */
export function backoffDelayMs(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Keeps one listener on each configured relay, reconnecting with jittered backoff. */
export class RelayListenPool {
  private readonly entries = new Map<string, { relay: RelayAddress; listener: RelayListener | null; timer: NodeJS.Timeout | null; attempt: number; stopped: boolean }>();
  private readonly backoff: BackoffOptions;
  private readonly log: Logger;

  constructor(
    private readonly o: RelayClientOptions & RelayListenerEvents & {
      backoff?: Partial<BackoffOptions>;
      random?: () => number;
      /** A listener on `relay` is up (after each reconnect too). */
      onListening?: (relay: RelayAddress) => void;
    },
  ) {
    this.backoff = { baseMs: 1_000, maxMs: 60_000, stableMs: 30_000, ...o.backoff };
    this.log = o.logger ?? silentLogger;
  }

  /** Starts listening on `relays` and stops listening on relays no longer in the list. */
  setRelays(relays: RelayAddress[]): void {
    const wanted = new Map(relays.map((r) => [toBase64Url(r.publicKey) + '@' + r.url, r]));
    for (const [id, entry] of this.entries) {
      if (wanted.has(id)) continue;
      entry.stopped = true;
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.listener?.close();
      this.entries.delete(id);
    }
    for (const [id, relay] of wanted) {
      if (this.entries.has(id)) continue;
      const entry = { relay, listener: null, timer: null, attempt: 0, stopped: false };
      this.entries.set(id, entry);
      void this.run(entry);
    }
  }

  /** Relays with a live listener right now. */
  listening(): RelayAddress[] {
    return [...this.entries.values()].filter((e) => e.listener !== null && !e.listener.isClosed).map((e) => e.relay);
  }

  stop(): void {
    this.setRelays([]);
  }

  private async run(entry: { relay: RelayAddress; listener: RelayListener | null; timer: NodeJS.Timeout | null; attempt: number; stopped: boolean }): Promise<void> {
    if (entry.stopped) return;
    const startedMs = performance.now();
    try {
      entry.listener = await RelayListener.open(entry.relay, this.o);
      if (entry.stopped) {
        entry.listener.close();
        return;
      }
      this.o.onListening?.(entry.relay);
      const reason = await entry.listener.closed;
      this.log.info({ relay: entry.relay.url, reason }, 'relay listener closed');
      if (performance.now() - startedMs >= this.backoff.stableMs) entry.attempt = 0;
    } catch (err) {
      this.log.warn({ relay: entry.relay.url, err: (err as Error).message }, 'relay listen failed');
    }
    entry.listener = null;
    if (entry.stopped) return;
    const delayMs = backoffDelayMs(entry.attempt++, this.backoff, this.o.random);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void this.run(entry);
    }, delayMs);
  }
}

/** Tries the friend's relays in turn (each with the time left) until one splices. */
export async function connectViaRelays(
  relays: RelayAddress[],
  target: Uint8Array,
  o: RelayClientOptions & { timeoutMs: number },
): Promise<RelayTunnel> {
  const deadlineMs = performance.now() + o.timeoutMs;
  let lastError: Error = new RelayClosedError('NoListener', 'no relay to try');
  for (const relay of relays) {
    const leftMs = deadlineMs - performance.now();
    if (leftMs <= 0) break;
    try {
      return await openTunnel(relay, target, { ...o, timeoutMs: leftMs });
    } catch (err) {
      lastError = err as Error;
    }
  }
  if (performance.now() >= deadlineMs) throw new RelayTimeoutError(`no relay spliced a tunnel within ${o.timeoutMs} ms (last: ${lastError.message})`);
  throw lastError;
}
