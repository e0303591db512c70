import { randomBytes } from 'node:crypto';
import { toHex } from '../common/bytes.js';
import { OffsetError, errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import type { ServerTicket } from '../files/formats.js';
import { parseAddress } from '../files/formats.js';
import type { SecureChannel } from '../transport/channel.js';
import { TransportErrorCode, type TransportError } from '../transport/errors.js';
import { connectSecure } from '../transport/ws-pipe.js';
import {
  decodeNodeToApp, encodeAppRequest, type AppError, type AppPermissions, type AppRequestBody, type NodeReport, type NodeToApp,
} from '../node/app_codec.js';
import { appErrorCodeName } from './node_report.js';
import { applyMutations } from '../node/report.js';

/**
 * An app's connection to its node. The node's key is pinned from the node ticket and the link is
 * made for purpose 'app', so a different server, or a node that does not trust this app's key,
 * fails the handshake with a typed reason. After the handshake the node sends the app's
 * permissions and a full report, then a fresh report after every change. Every request is
 * answered by exactly one result; `request()` resolves on success and rejects with the node's
 * error code otherwise, or with ERR_APP_TIMEOUT / ERR_APP_DISCONNECTED.
 */

export const AppClientErrorCode = {
  Unreachable: 'ERR_APP_NODE_UNREACHABLE',
  NotTrusted: 'ERR_APP_NOT_TRUSTED',
  WrongNode: 'ERR_APP_WRONG_NODE',
  Timeout: 'ERR_APP_TIMEOUT',
  Disconnected: 'ERR_APP_DISCONNECTED',
  BadMessage: 'ERR_APP_BAD_MESSAGE',
} as const;

export class AppClientError extends OffsetError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AppClientError';
  }
}

/** The node refused a request; `code` is the stable text form of its wire code (ERR_APP_UNKNOWN_FRIEND, ...). */
export class AppRequestError extends OffsetError {
  readonly request: AppRequestBody['kind'];
  readonly wireCode: number;
  constructor(request: AppRequestBody['kind'], error: AppError) {
    const code = appErrorCodeName(error.code);
    super(code, `the node refused ${request}: ${error.message} (${code})`);
    this.name = 'AppRequestError';
    this.request = request;
    this.wireCode = error.code;
  }
}

export interface AppClientOptions {
  identity: Identity;
  node: ServerTicket;
  /** Deadline for the connection, the handshake and the initial report. Default 10 s. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

/** Messages that answer something other than a request result, kept until someone waits for them. */
export type Answer = Exclude<NodeToApp, { kind: 'permissions' } | { kind: 'report' } | { kind: 'mutations' } | { kind: 'result' }>;

const ANSWERS_KEPT_MAX = 1024;

interface Pending {
  readonly kind: AppRequestBody['kind'];
  resolve(): void;
  reject(err: Error): void;
}

interface AnswerWaiter {
  match(answer: Answer): boolean;
  resolve(answer: Answer): void;
  reject(err: Error): void;
}

export class AppClient {
  private permissionsValue: AppPermissions | null = null;
  private reportValue: NodeReport | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly answers: Answer[] = [];
  private readonly answerWaiters = new Set<AnswerWaiter>();
  private readonly reportListeners = new Set<(report: NodeReport) => void>();
  private closedError: Error | null = null;
  private readyResolve: (() => void) | null = null;
  private readyReject: ((err: Error) => void) | null = null;

  private constructor(private readonly channel: SecureChannel, private readonly log: Logger) {}

  static async connect(options: AppClientOptions): Promise<AppClient> {
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const address = parseAddress(options.node.address);
    if (address === null) throw new AppClientError(AppClientErrorCode.Unreachable, `invalid node address ${options.node.address}`);
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    const url = `ws://${host}:${address.port}/`;
    const log = options.logger ?? silentLogger;
    let channel: SecureChannel;
    try {
      channel = await withTimeout(
        connectSecure(url, {
          identity: options.identity, expectedRemoteKey: options.node.publicKey, purpose: 'app', connectTimeoutMs: timeoutMs,
          options: { logger: log },
        }),
        timeoutMs, () => new AppClientError(AppClientErrorCode.Unreachable, `node at ${options.node.address} did not answer within ${timeoutMs} ms`),
      );
    } catch (err) {
      throw describeConnectError(err, options.node.address);
    }
    const client = new AppClient(channel, log);
    const ready = new Promise<void>((resolve, reject) => {
      client.readyResolve = resolve;
      client.readyReject = reject;
    });
    channel.onFrame((frame) => client.onFrame(frame));
    channel.onClose((reason) => client.onClose(reason));
    try {
      await withTimeout(ready, timeoutMs, () => new AppClientError(AppClientErrorCode.Unreachable,
        `node at ${options.node.address} sent no report within ${timeoutMs} ms`));
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  get permissions(): AppPermissions {
    return this.permissionsValue!;
  }

  /** The node's state as last reported. */
  get report(): NodeReport {
    return this.reportValue!;
  }

  get isOpen(): boolean {
    return this.closedError === null;
  }

  onReport(listener: (report: NodeReport) => void): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  /** Resolves with the first report (the current one included) that satisfies `predicate`. */
  waitForReport(predicate: (report: NodeReport) => boolean, timeoutMs: number, what: string): Promise<NodeReport> {
    if (predicate(this.report)) return Promise.resolve(this.report);
    return new Promise((resolve, reject) => {
      let off: () => void = () => {};
      const timer = setTimeout(() => {
        off();
        reject(new AppClientError(AppClientErrorCode.Timeout, `timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const stop = (): void => {
        clearTimeout(timer);
        off();
      };
      off = this.onReport((report) => {
        if (predicate(report)) {
          stop();
          resolve(report);
        }
      });
      const closed = this.closedError;
      if (closed !== null) {
        stop();
        reject(closed);
      }
      this.whenClosed((err) => {
        stop();
        reject(err);
      });
    });
  }

  /** Sends a request and waits for its result. Returns the request id (echoed by related answers). */
  async request(request: AppRequestBody, timeoutMs: number, requestId: Uint8Array = newUid()): Promise<Uint8Array> {
    if (this.closedError !== null) throw this.closedError;
    const id = toHex(requestId);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AppClientError(AppClientErrorCode.Timeout, `no answer to ${request.kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        kind: request.kind,
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
    });
    this.channel.send(encodeAppRequest({ appRequestId: requestId, body: request }));
    await done;
    return requestId;
  }

  /** Waits for an answer (routes, transaction result, payment status) that `match` recognises. */
  waitForAnswer<T extends Answer>(match: (answer: Answer) => answer is T, timeoutMs: number, what: string): Promise<T> {
    const index = this.answers.findIndex(match);
    if (index >= 0) return Promise.resolve(this.answers.splice(index, 1)[0] as T);
    if (this.closedError !== null) return Promise.reject(this.closedError);
    return new Promise<T>((resolve, reject) => {
      const waiter: AnswerWaiter = {
        match,
        resolve: (answer) => { clearTimeout(timer); resolve(answer as T); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      const timer = setTimeout(() => {
        this.answerWaiters.delete(waiter);
        reject(new AppClientError(AppClientErrorCode.Timeout, `timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.answerWaiters.add(waiter);
    });
  }

  close(): void {
    this.fail(new AppClientError(AppClientErrorCode.Disconnected, 'connection closed by the app'));
    this.channel.close('app done');
  }

  private closeListeners: Array<(err: Error) => void> = [];

  private whenClosed(listener: (err: Error) => void): void {
    if (this.closedError !== null) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  private onFrame(frame: Uint8Array): void {
    // Decoded byte fields are views into the buffer: give them a copy nothing else reuses.
    const decoded = decodeNodeToApp(new Uint8Array(frame));
    if (!decoded.ok) {
      this.log.warn({ err: decoded.error.message }, 'undecodable message from the node');
      this.fail(new AppClientError(AppClientErrorCode.BadMessage, `the node sent an undecodable message: ${decoded.error.message}`));
      this.channel.close('ERR_APP_BAD_MESSAGE');
      return;
    }
    const message = decoded.value;
    switch (message.kind) {
      case 'permissions':
        this.permissionsValue = message.permissions;
        return;
      case 'report':
        this.reportValue = message.report;
        if (this.permissionsValue !== null && this.readyResolve !== null) {
          this.readyResolve();
          this.readyResolve = null;
          this.readyReject = null;
        }
        for (const listener of [...this.reportListeners]) listener(message.report);
        return;
      case 'mutations':
        if (this.reportValue === null) return;
        this.reportValue = applyMutations(this.reportValue, message.mutations);
        for (const listener of [...this.reportListeners]) listener(this.reportValue);
        return;
      case 'result': {
        const id = toHex(message.appRequestId);
        const pending = this.pending.get(id);
        if (pending === undefined) return;
        this.pending.delete(id);
        if (message.error === null) pending.resolve();
        else pending.reject(new AppRequestError(pending.kind, message.error));
        return;
      }
      default:
        this.deliverAnswer(message);
    }
  }

  private deliverAnswer(answer: Answer): void {
    for (const waiter of this.answerWaiters) {
      if (waiter.match(answer)) {
        this.answerWaiters.delete(waiter);
        waiter.resolve(answer);
        return;
      }
    }
    this.answers.push(answer);
    if (this.answers.length > ANSWERS_KEPT_MAX) this.answers.shift();
  }

  private onClose(reason: TransportError): void {
    this.fail(new AppClientError(AppClientErrorCode.Disconnected, `connection to the node lost: ${reason.message}`, { cause: reason }));
  }

  private fail(err: Error): void {
    if (this.closedError !== null) return;
    this.closedError = err;
    this.readyReject?.(err);
    this.readyResolve = null;
    this.readyReject = null;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
    for (const waiter of this.answerWaiters) waiter.reject(err);
    this.answerWaiters.clear();
    for (const listener of this.closeListeners.splice(0)) listener(err);
  }
}

export function newUid(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err: unknown) => { clearTimeout(timer); reject(err instanceof Error ? err : new Error(String(err))); },
    );
  });
}

function describeConnectError(err: unknown, address: string): Error {
  // OffsetError's brand makes `instanceof` true for every subclass alike, so tell them apart by code.
  const code = err instanceof OffsetError ? err.code : '';
  if (code.startsWith('ERR_APP_')) return err as Error;
  switch (code) {
    case TransportErrorCode.Unauthorized:
      return new AppClientError(AppClientErrorCode.NotTrusted,
        `the node at ${address} does not trust this app (its ticket is not in the node's trusted directory)`, { cause: err });
    case TransportErrorCode.WrongKey:
      return new AppClientError(AppClientErrorCode.WrongNode,
        `the server at ${address} is not the node named in the ticket (its key differs)`, { cause: err });
    default:
      return new AppClientError(AppClientErrorCode.Unreachable, `cannot reach the node at ${address}: ${errorMessage(err)}`, { cause: err });
  }
}
