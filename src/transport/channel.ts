/**
 * SecureChannel: drives the handshake and session over any FramePipe, batches frames, and
 * runs the per-channel timers (handshake deadline, keepalive, dead peer, rekey). One timer per
 * channel, on its own monotonic clock: no shared ticker that can drop a slow subscriber.
 */
import type { Logger } from '../common/log.js';
import { componentLogger } from '../common/log.js';
import { systemClock, type Clock } from '../common/clock.js';
import { toBase64Url } from '../common/bytes.js';
import type { Identity } from '../crypto/identity.js';
import { CloseCode, decodeEnvelope } from './codec.js';
import {
  FRAME_BYTES_MAX_DEFAULT,
  HANDSHAKE_MESSAGE_BYTES_MAX,
  SEALED_OVERHEAD_BYTES_MAX,
  type Purpose,
} from './constants.js';
import { closeError, closeReasonText, TransportError, TransportErrorCode } from './errors.js';
import { InitiatorHandshake, ResponderHandshake, type HandshakeResult, type HandshakeStep } from './handshake.js';
import type { FramePipe } from './pipe.js';
import { Session } from './session.js';

export interface ChannelOptions {
  /** Largest application frame this side accepts (and sends). Default 1 MiB. */
  frameBytesMax?: number;
  /** The handshake (and, on the responder, the initiator's key confirmation) must finish within this. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Send a keepalive after this long without sending. 0 disables (tests of the dead-peer path). Default 15 s. */
  keepaliveIntervalMs?: number;
  /** Close when nothing arrived for this long. Default 45 s. */
  deadPeerMs?: number;
  /** Rekey with fresh DH at least this often. Default 1 h. */
  rekeyIntervalMs?: number;
  /** Rekey after this many messages under one key. Default 2^32. */
  rekeyMessagesMax?: number;
  /** A batch is sealed once this many frame bytes are queued. Default 256 KiB. */
  batchBytesMax?: number;
  /** send() returns false once this many bytes are buffered. Default 4 MiB. */
  highWaterBytes?: number;
  /** Pad frame bytes per message up to a multiple of this (0: none; at most 256). Default 0. */
  paddingBlockBytes?: number;
  clock?: Clock;
  logger?: Logger;
  /** Overrides the protocol version; for tests of the mismatch path only. */
  version?: number;
}

type FilledOptions = Required<Omit<ChannelOptions, 'version'>> & { version: number | undefined };

const defaults: Omit<FilledOptions, 'logger' | 'clock' | 'version'> = {
  frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
  handshakeTimeoutMs: 10_000,
  keepaliveIntervalMs: 15_000,
  deadPeerMs: 45_000,
  rekeyIntervalMs: 3_600_000,
  rekeyMessagesMax: 2 ** 32,
  batchBytesMax: 256 * 1024,
  highWaterBytes: 4 * 1024 * 1024,
  paddingBlockBytes: 0,
};

let defaultLogger: Logger | undefined;

/**
 * Options objects this module filled itself. Resolving one again returns it as is: a listener
 * resolves once and hands the result to every connection (resolution with its checks was a
 * visible part of a handshake's cost when done several times per connection).
 */
const resolved = new WeakSet<object>();

export function resolveChannelOptions(options: ChannelOptions = {}): FilledOptions {
  if (resolved.has(options)) return options as FilledOptions;
  const filled: FilledOptions = {
    frameBytesMax: options.frameBytesMax ?? defaults.frameBytesMax,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? defaults.handshakeTimeoutMs,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? defaults.keepaliveIntervalMs,
    deadPeerMs: options.deadPeerMs ?? defaults.deadPeerMs,
    rekeyIntervalMs: options.rekeyIntervalMs ?? defaults.rekeyIntervalMs,
    rekeyMessagesMax: options.rekeyMessagesMax ?? defaults.rekeyMessagesMax,
    batchBytesMax: options.batchBytesMax ?? defaults.batchBytesMax,
    highWaterBytes: options.highWaterBytes ?? defaults.highWaterBytes,
    paddingBlockBytes: options.paddingBlockBytes ?? defaults.paddingBlockBytes,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? (defaultLogger ??= componentLogger('transport')),
    version: options.version,
  };
  for (const name of positiveOptions) {
    if (!(filled[name] > 0)) throw new RangeError(`option ${name} must be positive`);
  }
  if (!(filled.keepaliveIntervalMs >= 0)) throw new RangeError('option keepaliveIntervalMs must be >= 0');
  if (!(filled.paddingBlockBytes >= 0 && filled.paddingBlockBytes <= 256)) throw new RangeError('option paddingBlockBytes must be in 0..256');
  if (filled.frameBytesMax > 0xffffffff - SEALED_OVERHEAD_BYTES_MAX) throw new RangeError('option frameBytesMax too large');
  resolved.add(filled);
  return filled;
}

const positiveOptions = ['frameBytesMax', 'handshakeTimeoutMs', 'deadPeerMs', 'rekeyIntervalMs', 'rekeyMessagesMax', 'batchBytesMax', 'highWaterBytes'] as const;

/** Largest message a channel with this frame limit puts on (or accepts from) its pipe. */
export function wireBytesMax(frameBytesMax: number): number {
  return frameBytesMax + SEALED_OVERHEAD_BYTES_MAX;
}

export interface InitiateParams {
  identity: Identity;
  /** The responder's Ed25519 key (from its ticket); anything else fails with ERR_TRANSPORT_WRONG_KEY. */
  expectedRemoteKey: Uint8Array;
  purpose: Purpose;
  options?: ChannelOptions;
}

export interface RespondParams {
  identity: Identity;
  purpose: Purpose;
  /** Decides on the initiator's verified key before the handshake completes. Default: accept all. */
  authorize?: (remoteKey: Uint8Array) => boolean;
  options?: ChannelOptions;
}

export interface ChannelCounters {
  framesSent: number;
  framesReceived: number;
  frameBytesSent: number;
  frameBytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  wireBytesSent: number;
  wireBytesReceived: number;
  keepalivesSent: number;
  rekeys: number;
}

type State = 'confirming' | 'open' | 'closed' | 'detached';

export class SecureChannel {
  readonly remoteKey: Uint8Array;
  readonly purpose: Purpose;
  readonly counters: ChannelCounters = {
    framesSent: 0,
    framesReceived: 0,
    frameBytesSent: 0,
    frameBytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    wireBytesSent: 0,
    wireBytesReceived: 0,
    keepalivesSent: 0,
    rekeys: 0,
  };
  private state: State;
  private readonly role: 'initiator' | 'responder';
  private readonly session: Session;
  private readonly sendFrameBytesMax: number;
  private readonly wireMax: number;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private lastSendMs: number;
  private lastReceiveMs: number;
  private timer: NodeJS.Timeout | null = null;
  private frameHandler: ((frame: Uint8Array) => void) | null = null;
  private undelivered: Uint8Array[] = [];
  private undeliveredBytes = 0;
  private closeHandlers: ((reason: TransportError) => void)[] = [];
  private drainHandlers: (() => void)[] = [];
  private wantDrain = false;
  private closeReason: TransportError | null = null;
  private confirmed: ((error?: TransportError) => void) | null = null;
  /** Initiator: no sealed message has gone out yet, so the responder still waits for key confirmation. */
  private confirmPending = false;
  private logger: Logger | null = null;

  private constructor(
    readonly pipe: FramePipe,
    result: HandshakeResult,
    purpose: Purpose,
    private readonly options: FilledOptions,
    state: 'confirming' | 'open',
  ) {
    const now = options.clock.nowMs();
    this.remoteKey = result.remoteKey;
    this.purpose = purpose;
    this.state = state;
    this.session = new Session(
      result,
      {
        rekeyIntervalMs: options.rekeyIntervalMs,
        rekeyMessagesMax: options.rekeyMessagesMax,
        paddingBlockBytes: options.paddingBlockBytes,
        frameBytesMax: options.frameBytesMax,
      },
      now,
    );
    this.sendFrameBytesMax = Math.min(options.frameBytesMax, result.remoteFrameBytesMax);
    this.wireMax = wireBytesMax(options.frameBytesMax);
    this.lastSendMs = now;
    this.lastReceiveMs = now;
    this.role = result.role;
    pipe.onMessage((message) => this.handleMessage(message));
    pipe.onClose((reason, localError) => this.handlePipeClose(reason, localError));
    pipe.onDrain?.(() => this.handleDrain());
    // The timer starts once the channel is past its first turn (the initiator's first scheduled
    // flush, the responder's confirming message): a short connection that ends in that turn
    // (its frames and goodbye in one message) never arms and clears a timer.
  }

  /** A child logger, made on first use: most channels never log, and pino children are not free. */
  private get log(): Logger {
    this.logger ??= this.options.logger.child({ purpose: this.purpose, role: this.role, remote: toBase64Url(this.remoteKey) });
    return this.logger;
  }

  /**
   * Ordinary ends of a connection (a goodbye, a peer that went away) are logged at debug: a
   * server sees thousands a second, and a line plus a child logger each was a visible part of a
   * short connection's cost. Failures stay at warn.
   */
  private debug(code: TransportErrorCode, message: string): void {
    if (this.options.logger.isLevelEnabled('debug')) this.log.debug({ code }, message);
  }

  /** Dials: runs the initiator side over `pipe`; resolves once the responder proved the pinned key. */
  static initiate(pipe: FramePipe, params: InitiateParams): Promise<SecureChannel> {
    const options = resolveChannelOptions(params.options);
    return new Promise<SecureChannel>((resolve, reject) => {
      const handshake = new InitiatorHandshake({
        identity: params.identity,
        expectedRemoteKey: params.expectedRemoteKey,
        purpose: params.purpose,
        frameBytesMax: options.frameBytesMax,
        version: options.version,
      });
      const first = handshake.start();
      let settled = false;
      const settle = (error: TransportError | null, channel?: SecureChannel): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error !== null) {
          options.logger.warn(
            { code: error.code, purpose: params.purpose, role: 'initiator', remote: toBase64Url(params.expectedRemoteKey) },
            `handshake failed: ${error.message}`,
          );
          pipe.close(closeReasonText(error));
          reject(error);
        } else {
          resolve(channel as SecureChannel);
        }
      };
      const deadline = setTimeout(
        () => settle(new TransportError(TransportErrorCode.HandshakeTimeout, `no handshake reply within ${options.handshakeTimeoutMs} ms`)),
        options.handshakeTimeoutMs,
      );
      pipe.onClose((reason, localError) => {
        settle(new TransportError(localError ?? TransportErrorCode.ConnectionLost, `pipe closed during handshake: ${reason}`));
      });
      pipe.onMessage((message) => {
        if (settled) return;
        const step = handshakeStep(message, handshake);
        if (!step.ok) return settle(step.error);
        const channel = new SecureChannel(pipe, step.result, params.purpose, options, 'open');
        // The responder waits for a sealed message as key confirmation. It goes out with the
        // frames (or the goodbye) the caller queues as soon as the channel resolves, or empty at
        // the next flush: one socket write and one message less per connection for clients
        // that speak first.
        channel.confirmPending = true;
        channel.scheduleFlush();
        settle(null, channel);
      });
      pipe.send(first);
    });
  }

  /**
   * Accepts: runs the responder side over `pipe`; resolves once the initiator's first sealed
   * message opened (so a replayed handshake message never yields a channel).
   */
  static respond(pipe: FramePipe, params: RespondParams): Promise<SecureChannel> {
    const options = resolveChannelOptions(params.options);
    return new Promise<SecureChannel>((resolve, reject) => {
      const handshake = new ResponderHandshake({
        identity: params.identity,
        purpose: params.purpose,
        frameBytesMax: options.frameBytesMax,
        authorize: params.authorize,
        version: options.version,
      });
      let settled = false;
      let channel: SecureChannel | null = null;
      const settle = (error: TransportError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error !== null) {
          if (channel === null) {
            options.logger.warn({ code: error.code, purpose: params.purpose, role: 'responder' }, `handshake failed: ${error.message}`);
            pipe.close(closeReasonText(error));
          } else {
            channel.fail(error);
          }
          reject(error);
        } else {
          resolve(channel as SecureChannel);
        }
      };
      const deadline = setTimeout(() => {
        const error = new TransportError(TransportErrorCode.HandshakeTimeout, `handshake not completed within ${options.handshakeTimeoutMs} ms`);
        if (channel === null) pipe.send(handshake.reject(CloseCode.Timeout, error.message));
        settle(error);
      }, options.handshakeTimeoutMs);
      pipe.onClose((reason, localError) => {
        settle(new TransportError(localError ?? TransportErrorCode.ConnectionLost, `pipe closed during handshake: ${reason}`));
      });
      pipe.onMessage((message) => {
        if (settled || channel !== null) return;
        const step = handshakeStep(message, handshake);
        if (step.reply !== undefined) pipe.send(step.reply);
        if (!step.ok) return settle(step.error);
        channel = new SecureChannel(pipe, step.result, params.purpose, options, 'confirming');
        channel.confirmed = (error) => settle(error ?? null);
      });
    });
  }

  /**
   * Queues one frame; frames queued in the same event-loop turn go out in one sealed message.
   * The channel keeps `frame` (no copy) until it is sealed: do not modify it after the call.
   * Returns false when the buffer is above the high-water mark: wait for onDrain. Returns
   * false and drops the frame when the channel is closed (onClose has said why).
   */
  send(frame: Uint8Array): boolean {
    if (this.state !== 'open') return false;
    if (frame.byteLength > this.sendFrameBytesMax) {
      throw new TransportError(TransportErrorCode.FrameTooLarge, `frame of ${frame.byteLength} bytes exceeds ${this.sendFrameBytesMax}`);
    }
    this.queue.push(frame);
    this.queuedBytes += frame.byteLength;
    if (this.queuedBytes >= this.options.batchBytesMax) this.flush(false);
    else this.scheduleFlush();
    const below = this.bufferedBytes() < this.options.highWaterBytes;
    if (!below) this.wantDrain = true;
    return below;
  }

  /**
   * Sets the frame handler. Frames that arrived before it was set are delivered now, also after
   * the peer said goodbye: a responder's channel is handed out only after the message that
   * confirmed it was read, and a client's first message can carry its frames and its goodbye.
   */
  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    if (this.undelivered.length > 0) {
      const pending = this.undelivered;
      const afterGoodbye = this.state === 'closed';
      this.undelivered = [];
      this.undeliveredBytes = 0;
      for (const frame of pending) {
        if (this.state !== 'open' && !afterGoodbye) break;
        handler(frame);
      }
    }
  }

  /** Called once with the reason the channel ended. Called at once if it already has. */
  onClose(handler: (reason: TransportError) => void): void {
    if (this.closeReason !== null) handler(this.closeReason);
    else this.closeHandlers.push(handler);
  }

  /** Called when the buffer falls below the high-water mark after send() returned false. */
  onDrain(handler: () => void): void {
    this.drainHandlers.push(handler);
  }

  bufferedBytes(): number {
    return this.queuedBytes + this.pipe.bufferedBytes();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Key phases and rekey count, for tests and metrics. */
  sessionStats(): ReturnType<Session['getStats']> {
    return this.session.getStats();
  }

  /** Starts a rekey now (it also happens on its own at rekeyIntervalMs). */
  rekey(): void {
    if (this.state !== 'open') return;
    this.session.requestRekey();
    this.scheduleFlush();
  }

  /** Orderly close: queued frames go out, then a goodbye, then the pipe closes. */
  close(reason = 'closed'): void {
    if (this.state !== 'open' && this.state !== 'confirming') return;
    if (this.state === 'open') {
      this.flush(false, { code: CloseCode.Normal, reason });
    }
    this.finish(closeError(TransportErrorCode.Closed, reason), reason);
  }

  /**
   * Stops the channel and hands back its pipe without closing it: queued frames are sealed and
   * sent first, then no more messages are read or written by the channel. Frames still in a
   * batch being delivered are dropped. For a relay that switches a link to passthrough.
   */
  detach(): FramePipe {
    if (this.state === 'open') this.flush(false);
    this.stopTimer();
    this.state = 'detached';
    this.pipe.onMessage(() => {});
    this.pipe.onClose(() => {});
    this.pipe.onDrain?.(() => {});
    this.session.destroy();
    return this.pipe;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(runScheduledFlush, this);
  }

  /** The scheduled flush; also arms the timer of a channel that has none yet. */
  scheduledFlush(): void {
    this.flush(false);
    if (this.state === 'open' && this.timer === null) this.startTimer();
  }

  /** Seals queued frames into messages of at most batchBytesMax frame bytes each. */
  private flush(force: boolean, goodbye?: { code: CloseCode; reason: string }): void {
    this.flushScheduled = false;
    if (this.state !== 'open') return;
    const now = this.options.clock.nowMs();
    let sendEmpty = force || this.confirmPending || this.session.controlPending() || goodbye !== undefined;
    this.confirmPending = false;
    while (this.queue.length > 0 || sendEmpty) {
      let frames: Uint8Array[];
      let bytes = 0;
      if (this.queuedBytes <= this.options.batchBytesMax) {
        frames = this.queue;
        bytes = this.queuedBytes;
        this.queue = [];
      } else {
        let count = 0;
        while (count < this.queue.length && (count === 0 || bytes + this.queue[count].byteLength <= this.options.batchBytesMax)) {
          bytes += this.queue[count].byteLength;
          count += 1;
        }
        frames = this.queue.slice(0, count);
        this.queue = this.queue.slice(count);
      }
      this.queuedBytes -= bytes;
      const last = this.queue.length === 0;
      const envelope = this.session.seal(frames, now, last ? goodbye : undefined);
      this.counters.framesSent += frames.length;
      this.counters.frameBytesSent += bytes;
      this.counters.messagesSent += 1;
      this.counters.wireBytesSent += envelope.byteLength;
      if (frames.length === 0 && goodbye === undefined) this.counters.keepalivesSent += 1;
      this.pipe.send(envelope);
      if (this.state !== 'open') return; // the pipe closed under us (a full send buffer)
      sendEmpty = this.session.controlPending();
    }
    this.counters.rekeys = this.session.getStats().rekeys;
    this.lastSendMs = now;
    // The queue may have been all that was above the mark; a pipe without drain events
    // (an in-memory pipe) would otherwise never report it.
    if (this.wantDrain) setImmediate(runDrainCheck, this);
  }

  private handleMessage(message: Uint8Array): void {
    if (this.state !== 'open' && this.state !== 'confirming') return;
    if (message.byteLength > this.wireMax) {
      return this.fail(new TransportError(TransportErrorCode.FrameTooLarge, `message of ${message.byteLength} bytes exceeds ${this.wireMax}`));
    }
    const decoded = decodeEnvelope(message, this.wireMax);
    if (!decoded.ok) return this.fail(new TransportError(TransportErrorCode.Protocol, decoded.error.message));
    if (decoded.value.kind !== 'sealed') {
      return this.fail(new TransportError(TransportErrorCode.Protocol, `unexpected ${decoded.value.kind} message after the handshake`));
    }
    const now = this.options.clock.nowMs();
    // The pipe hands over a buffer the channel owns (see FramePipe.onMessage): open it in place.
    const opened = this.session.openInPlace(decoded.value.phase, decoded.value.ciphertext, now);
    if (!opened.ok) return this.fail(opened.error);
    this.lastReceiveMs = now;
    this.counters.messagesReceived += 1;
    this.counters.wireBytesReceived += message.byteLength;
    this.counters.rekeys = this.session.getStats().rekeys;
    if (this.state === 'confirming') {
      this.state = 'open';
      const confirmed = this.confirmed;
      this.confirmed = null;
      confirmed?.();
    }
    for (const frame of opened.frames) {
      if (this.state !== 'open') return;
      this.counters.framesReceived += 1;
      this.counters.frameBytesReceived += frame.byteLength;
      if (this.frameHandler !== null) this.frameHandler(frame);
      else this.holdUndelivered(frame);
    }
    if (opened.goodbye !== undefined && this.state === 'open') {
      const reason = opened.goodbye.reason;
      this.debug(TransportErrorCode.PeerClosed, `peer closed: ${reason}`);
      this.finish(closeError(TransportErrorCode.PeerClosed, `peer closed: ${reason}`), 'goodbye');
      return;
    }
    if (this.session.controlPending()) this.scheduleFlush();
    if (this.state === 'open' && this.timer === null) this.startTimer();
  }

  private holdUndelivered(frame: Uint8Array): void {
    this.undeliveredBytes += frame.byteLength;
    if (this.undeliveredBytes > this.options.highWaterBytes) {
      this.fail(new TransportError(TransportErrorCode.Backpressure, 'frames arrived with no frame handler set'));
      return;
    }
    this.undelivered.push(frame);
  }

  private handlePipeClose(reason: string, localError?: TransportErrorCode): void {
    if (this.state === 'closed' || this.state === 'detached') return;
    const error = closeError(localError ?? TransportErrorCode.ConnectionLost, `pipe closed: ${reason}`);
    if (localError !== undefined) this.log.warn({ code: error.code }, error.message);
    else this.debug(error.code, error.message);
    this.finish(error, null);
  }

  /** @internal (for the shared setImmediate callback) */
  handleDrain(): void {
    if (this.state !== 'open') return;
    if (this.wantDrain && this.bufferedBytes() < this.options.highWaterBytes) {
      this.wantDrain = false;
      for (const handler of this.drainHandlers) handler();
    }
  }

  /** Closes because of an error: logged with its code, the pipe closed with it as the reason. */
  private fail(error: TransportError): void {
    if (this.state !== 'open' && this.state !== 'confirming') return;
    this.log.warn({ code: error.code }, `closing: ${error.message}`);
    this.finish(error, closeReasonText(error));
  }

  private finish(error: TransportError, pipeReason: string | null): void {
    const wasConfirming = this.state === 'confirming';
    this.state = 'closed';
    this.closeReason = error;
    this.stopTimer();
    this.queue = [];
    this.queuedBytes = 0;
    // Frames the peer sent before its goodbye stay for a frame handler set later; after any
    // other end they are dropped.
    if (error.code !== TransportErrorCode.PeerClosed) {
      this.undelivered = [];
      this.undeliveredBytes = 0;
    }
    if (pipeReason !== null) this.pipe.close(pipeReason);
    this.session.destroy();
    if (wasConfirming) {
      const confirmed = this.confirmed;
      this.confirmed = null;
      confirmed?.(error);
    }
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler(error);
  }

  private startTimer(): void {
    const o = this.options;
    const candidates = [o.deadPeerMs / 4, o.rekeyIntervalMs / 4, 1000];
    if (o.keepaliveIntervalMs > 0) candidates.push(o.keepaliveIntervalMs / 2);
    const tickMs = Math.max(5, Math.min(...candidates));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    if (this.state !== 'open') return;
    if (this.wantDrain) this.handleDrain(); // a safety net for pipes whose drain signal is coarse
    const now = this.options.clock.nowMs();
    if (now - this.lastReceiveMs >= this.options.deadPeerMs) {
      this.fail(new TransportError(TransportErrorCode.DeadPeer, `nothing received for ${Math.round(now - this.lastReceiveMs)} ms`));
      return;
    }
    if (this.session.rekeyDue(now)) {
      this.session.requestRekey();
      this.flush(false);
      return;
    }
    if (this.options.keepaliveIntervalMs > 0 && now - this.lastSendMs >= this.options.keepaliveIntervalMs) this.flush(true);
  }
}

/** Shared callbacks: a closure per scheduled flush was an allocation per channel and batch. */
function runScheduledFlush(channel: SecureChannel): void {
  channel.scheduledFlush();
}

function runDrainCheck(channel: SecureChannel): void {
  channel.handleDrain();
}

/** Decodes a handshake message (bounded before parsing) and feeds it to a handshake machine. */
function handshakeStep(message: Uint8Array, handshake: InitiatorHandshake | ResponderHandshake): HandshakeStep {
  if (message.byteLength > HANDSHAKE_MESSAGE_BYTES_MAX) {
    return {
      ok: false,
      error: new TransportError(TransportErrorCode.FrameTooLarge, `handshake message of ${message.byteLength} bytes exceeds ${HANDSHAKE_MESSAGE_BYTES_MAX}`),
    };
  }
  const decoded = decodeEnvelope(message, HANDSHAKE_MESSAGE_BYTES_MAX);
  if (!decoded.ok) return { ok: false, error: new TransportError(TransportErrorCode.HandshakeFailed, decoded.error.message) };
  return handshake.receive(decoded.value);
}
