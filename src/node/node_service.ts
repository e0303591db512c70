import { bytesEqual, toBase64Url, toHex } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import type { AppCommand, AppErrorCode as FunderErrorCode, AppMessage, FunderEvent } from '../funder/api.js';
import { decodeFriendMessage } from '../funder/codec.js';
import { FunderRuntime } from '../funder/runtime.js';
import { MAX_RELAYS } from '../funder/constants.js';
import { idKey } from '../funder/mutual_credit.js';
import type { FunderState } from '../funder/state.js';
import { AppErrorCode, type AppError, type AppRequest, type AppRequestBody, type NodeReport } from './app_codec.js';
import { AppServer, type AppSession } from './app_server.js';
import { Channeler, type RelayNetwork } from './channeler.js';
import { NodeError, NodeErrorCode } from './errors.js';
import { IndexLink, type IndexClientFactory } from './index_link.js';
import type { NodeMetrics } from './metrics.js';
import { NodeDb, funderPath, type IndexServerEntry } from './node_db.js';
import { failureOf } from './failure.js';
import { RELAY_GRACE_MS_DEFAULT, RelayListenSet } from './relay_listen_set.js';
import { buildReport, diffReports, friendLastToken } from './report.js';

/**
 * One node: the payment core over the database, friend links through relays, the index link and
 * the app server, wired together. Every change of the core reaches friends, the index and apps
 * only after it is durable (the engine releases effects after its write).
 */

export interface NodeServiceOptions {
  identity: Identity;
  dbPath: string;
  host: string;
  port: number;
  trustedDir: string;
  relayNetwork: RelayNetwork;
  indexClientFactory: IndexClientFactory;
  logger?: Logger;
  metrics?: NodeMetrics;
  /** Period of the core's timer events (deadlines, retransmissions). Default 1 s. */
  tickMs?: number;
  channelerBackoffMs?: { baseMs: number; maxMs: number };
  /** How long the node keeps listening on a relay it no longer uses. Default 10 min. */
  relayGraceMs?: number;
  /**
   * Capacity changes reach the index server at most once per this period (default 100 ms);
   * under payment load they change on every turn, and every update is signed and verified.
   */
  indexUpdateDelayMs?: number;
}

const hexToBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/** The payment core's refusals, as the app protocol's stable codes. */
const funderErrorCodes: Record<FunderErrorCode, AppErrorCode> = {
  ERR_FUNDER_BAD_ARGUMENT: AppErrorCode.BadArgument,
  ERR_FUNDER_UNKNOWN_FRIEND: AppErrorCode.UnknownFriend,
  ERR_FUNDER_FRIEND_EXISTS: AppErrorCode.FriendExists,
  ERR_FUNDER_SELF: AppErrorCode.FriendIsSelf,
  ERR_FUNDER_CURRENCY_ACTIVE: AppErrorCode.CurrencyActive,
  ERR_FUNDER_CURRENCY_LIMIT: AppErrorCode.CurrencyLimit,
  ERR_FUNDER_NOT_INCONSISTENT: AppErrorCode.NotInconsistent,
  ERR_FUNDER_BAD_RESET_TOKEN: AppErrorCode.BadResetToken,
  ERR_FUNDER_INVOICE_EXISTS: AppErrorCode.InvoiceExists,
  ERR_FUNDER_UNKNOWN_INVOICE: AppErrorCode.UnknownInvoice,
  ERR_FUNDER_BAD_COMMIT: AppErrorCode.BadCommit,
  ERR_FUNDER_INVOICE_INCOMPLETE: AppErrorCode.InvoiceIncomplete,
  ERR_FUNDER_COMMIT_EXPIRED: AppErrorCode.CommitExpired,
  ERR_FUNDER_PAYMENT_EXISTS: AppErrorCode.PaymentExists,
  ERR_FUNDER_UNKNOWN_PAYMENT: AppErrorCode.UnknownPayment,
  ERR_FUNDER_PAYMENT_CLOSED: AppErrorCode.PaymentClosed,
  ERR_FUNDER_BAD_ROUTE: AppErrorCode.BadRoute,
  ERR_FUNDER_FRIEND_NOT_READY: AppErrorCode.FriendNotReady,
  ERR_FUNDER_DUPLICATE_REQUEST: AppErrorCode.DuplicateRequest,
  ERR_FUNDER_QUEUE_FULL: AppErrorCode.QueueFull,
  ERR_FUNDER_OVERPAY: AppErrorCode.Overpay,
  ERR_FUNDER_NOT_RESOLVED: AppErrorCode.NotResolved,
  ERR_FUNDER_BAD_ACK: AppErrorCode.BadAck,
};

const MESSAGE_CHARS_MAX = 512;

export class NodeService {
  private engine!: FunderRuntime;
  private channeler!: Channeler;
  private indexLink!: IndexLink;
  private appServer!: AppServer;
  private tickTimer: NodeJS.Timeout | null = null;
  private indexServers: IndexServerEntry[] = [];
  private listenSet!: RelayListenSet;
  /** The listen set's revision whose old relays are in the database. */
  private savedRetiredRevision = 0;
  /** Saves of the old relays, in order; stop() waits for them before closing the database. */
  private retiredSave: Promise<void> = Promise.resolve();
  private relayNames = new Map<string, string>();
  /** What apps were last told; the next change is sent as the difference from it. */
  private lastReport: NodeReport | null = null;
  private reportScheduled = false;
  /** What syncLinks last handed to the channeler (references into the core's state). */
  private linkRefs: unknown[] | null = null;
  /**
   * Set when an input of the report may have changed since it was last built: any event handed
   * to the core (the periodic tick included, which also picks up index connection changes) and
   * the node's own settings. Results released together after one write then share one build.
   */
  private reportDirty = true;
  private followScheduled = false;
  /** Index server changes are applied one at a time, in request order. */
  private indexChain: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly log: Logger;
  appPort = 0;

  private constructor(private readonly o: NodeServiceOptions, private readonly db: NodeDb) {
    this.log = o.logger ?? silentLogger;
  }

  static async start(o: NodeServiceOptions): Promise<NodeService> {
    const db = await NodeDb.open(o.dbPath, o.identity.publicKey);
    const node = new NodeService(o, db);
    try {
      await node.init();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  get state(): FunderState {
    return this.engine.state;
  }

  private async init(): Promise<void> {
    const log = this.log;
    const metrics = this.o.metrics;
    this.engine = await FunderRuntime.open(funderPath(this.db.path), this.o.identity, {
      sendFriend: (friend, bytes) => {
        if (!this.channeler.send(friend, bytes)) metrics?.friendFramesDropped.inc();
        else {
          metrics?.friendFramesSent.inc();
          metrics?.friendBytesSent.inc(bytes.byteLength);
        }
      },
      toApp: (appId, message) => this.toApp(appId, message),
      peerFault: (f) => {
        metrics?.peerFaults.inc({ code: f.code });
        log.warn({ friend: toBase64Url(f.friend), code: f.code }, 'friend sent a faulty message');
      },
    }, {
      afterDurable: () => metrics?.commits.inc(),
    });
    this.channeler = new Channeler({
      identity: this.o.identity,
      network: this.o.relayNetwork,
      logger: log.child({ component: 'node.channeler' }),
      backoff: this.o.channelerBackoffMs,
      hooks: {
        onFrame: (friend, frame) => {
          metrics?.friendFramesReceived.inc();
          const decoded = decodeFriendMessage(frame);
          if (!decoded.ok) {
            metrics?.peerFaults.inc({ code: decoded.error.code });
            log.warn({ friend: toBase64Url(friend), err: decoded.error.message }, 'undecodable message from friend');
            return;
          }
          this.submit({ kind: 'friendMessage', friend, message: decoded.value });
        },
        onOnline: (friend) => this.submit({ kind: 'friendOnline', friend }),
        onOffline: (friend) => this.submit({ kind: 'friendOffline', friend }),
      },
    });
    this.indexLink = new IndexLink(this.o.indexClientFactory, log.child({ component: 'node.index' }), this.o.indexUpdateDelayMs ?? 100);
    this.indexServers = this.db.indexServers();
    this.relayNames = this.db.relayNames();
    this.listenSet = new RelayListenSet(this.o.relayGraceMs ?? RELAY_GRACE_MS_DEFAULT, MAX_RELAYS, this.db.retiredRelays());
    // The state first, so the first server configured gets the whole table at once.
    this.indexLink.onFunderState(this.engine.state);
    this.indexLink.setServers(this.indexServers);
    this.syncLinks();
    this.appServer = new AppServer({
      identity: this.o.identity,
      host: this.o.host,
      port: this.o.port,
      trustedDir: this.o.trustedDir,
      logger: log.child({ component: 'node.apps' }),
      handler: {
        handle: (app, message) => this.handleApp(app, message),
        report: () => {
          // A newcomer starts from the current report, so everyone must share that base.
          this.flushReport();
          return this.lastReport ?? this.report();
        },
      },
    });
    this.appPort = await this.appServer.start();
    const tickMs = this.o.tickMs ?? 1000;
    this.tickTimer = setInterval(() => this.submit({ kind: 'tick' }), tickMs);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.appServer?.stop();
    this.channeler?.stop();
    this.indexLink?.close();
    await this.indexChain.catch(() => undefined);
    await this.engine?.close();
    await this.retiredSave;
    await this.db.close();
  }

  /** Resolves once every event submitted so far is durable and its effects released. */
  idle(): Promise<void> {
    return this.engine.drain();
  }

  /**
   * Hands an event to the core (applied at once in memory; its effects leave once durable) and
   * lets the rest of the node follow the new state within this turn.
   */
  private submit(event: FunderEvent): void {
    if (this.stopping) return;
    this.reportDirty = true;
    this.engine.submit(event);
    this.o.metrics?.events.inc();
    if (!this.followScheduled) {
      this.followScheduled = true;
      setImmediate(() => this.follow());
    }
  }

  private follow(): void {
    this.followScheduled = false;
    if (this.stopping) return;
    this.syncLinks();
    this.indexLink.onFunderState(this.engine.state);
    this.reportChanged();
    const m = this.o.metrics;
    if (m !== undefined) {
      m.friends.set(this.engine.state.friends.size);
      m.friendsOnline.set(this.channeler.onlineCount());
      m.appsConnected.set(this.appServer?.connectionCount ?? 0);
    }
  }

  private toApp(appId: string, message: AppMessage): void {
    switch (message.kind) {
      case 'ack': {
        const error = message.error === null ? null : { code: funderErrorCodes[message.error.code] ?? AppErrorCode.Internal, message: message.error.message.slice(0, MESSAGE_CHARS_MAX) };
        if (message.error !== null) this.o.metrics?.appRequestErrors.inc({ code: message.error.code });
        // Apps must see the state a request produced before its result.
        this.flushReport();
        this.appServer.result(appId, hexToBytes(message.appRequestId), error);
        break;
      }
      case 'transactionResult': {
        const o = message.outcome;
        const outcome = o.kind === 'failure' ? { kind: 'failure' as const, ...failureOf(o.cause) } : o;
        this.appServer.send(appId, { kind: 'transactionResult', paymentId: message.paymentId, requestId: message.requestId, outcome });
        break;
      }
      case 'paymentStatus': {
        const s = message.status;
        const status = s.kind === 'canceled' ? { kind: s.kind, ackUid: s.ackUid, failure: s.cause === null ? null : failureOf(s.cause) } : s;
        this.appServer.send(appId, { kind: 'closePayment', paymentId: message.paymentId, status });
        break;
      }
    }
  }

  /** Friend links follow the core's configuration: own relays (and recent ones), enabled friends and their relays. */
  private syncLinks(): void {
    const s = this.engine.state;
    // The core replaces these values (never edits them in place) when they change, so equal
    // references mean nothing to follow: the common case, once per turn under payment load.
    // The listening set is the same array until the relays change or an old relay's grace ends.
    const listening = this.listenSet.update(s.relays, Date.now());
    if (this.listenSet.revision !== this.savedRetiredRevision) {
      // Saved so that a restart within the grace period keeps listening on the old relays.
      this.savedRetiredRevision = this.listenSet.revision;
      const retired = this.listenSet.retiredRelays();
      this.retiredSave = this.retiredSave
        .then(() => this.db.saveRetiredRelays(retired))
        .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot save the old relays'));
    }
    const refs: unknown[] = [listening];
    for (const f of s.friends.values()) refs.push(f, f.enabled, f.relays);
    const last = this.linkRefs;
    if (last !== null && last.length === refs.length && refs.every((r, i) => r === last[i])) return;
    this.linkRefs = refs;
    this.channeler.setOwnRelays(listening);
    this.channeler.setFriends([...s.friends.values()].filter((f) => f.enabled).map((f) => ({ publicKey: f.publicKey, relays: f.relays })));
  }

  private fail(app: AppSession, message: AppRequest, error: AppError): void {
    this.o.metrics?.appRequestErrors.inc({ code: AppErrorCode[error.code] ?? String(error.code) });
    this.appServer.result(app.id, message.appRequestId, error);
  }

  private done(app: AppSession, message: AppRequest): void {
    this.flushReport();
    this.appServer.result(app.id, message.appRequestId, null);
  }

  private handleApp(app: AppSession, message: AppRequest): void {
    const r = message.body;
    this.o.metrics?.appRequests.inc({ kind: r.kind });
    if (this.stopping) return this.fail(app, message, { code: AppErrorCode.Internal, message: 'node is stopping' });
    const appRequestId = toHex(message.appRequestId);
    const submit = (command: AppCommand): void => this.submit({ kind: 'app', appId: app.id, owner: toHex(app.publicKey), appRequestId, command });
    switch (r.kind) {
      case 'addRelay': {
        const relays = this.engine.state.relays;
        if (relays.some((x) => bytesEqual(x.publicKey, r.relay.publicKey))) {
          return this.fail(app, message, { code: AppErrorCode.RelayExists, message: 'relay already configured' });
        }
        if (relays.length >= MAX_RELAYS) return this.fail(app, message, { code: AppErrorCode.RelayLimit, message: `at most ${MAX_RELAYS} relays` });
        this.relayNames.set(toBase64Url(r.relay.publicKey), r.relay.name);
        this.reportDirty = true;
        void this.db.saveRelayNames(this.relayNames).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot save relay names'));
        return submit({ kind: 'setRelays', relays: [...relays, { publicKey: r.relay.publicKey, address: r.relay.address }] });
      }
      case 'removeRelay': {
        const relays = this.engine.state.relays;
        const rest = relays.filter((x) => !bytesEqual(x.publicKey, r.publicKey));
        if (rest.length === relays.length) return this.fail(app, message, { code: AppErrorCode.UnknownRelay, message: 'no such relay' });
        return submit({ kind: 'setRelays', relays: rest });
      }
      case 'addIndexServer':
      case 'removeIndexServer':
        this.changeIndexServers(app, message, r);
        return;
      case 'requestRoutes':
        this.requestRoutes(app, message, r);
        return;
      case 'friendLastToken': {
        const friend = this.engine.state.friends.get(idKey(r.publicKey));
        if (friend === undefined) return this.fail(app, message, { code: AppErrorCode.UnknownFriend, message: 'no such friend' });
        const token = friendLastToken(friend);
        if (token === null) return this.fail(app, message, { code: AppErrorCode.NoFriendToken, message: 'the friend has not sent a move token yet' });
        this.appServer.send(app.id, { kind: 'friendLastToken', appRequestId: message.appRequestId, publicKey: friend.publicKey, token });
        return this.done(app, message);
      }
      default:
        // The remaining requests are the payment core's commands, field for field.
        return submit(r satisfies Exclude<AppRequestBody, {
          kind: 'addRelay' | 'removeRelay' | 'addIndexServer' | 'removeIndexServer' | 'requestRoutes' | 'friendLastToken';
        }> as AppCommand);
    }
  }

  private changeIndexServers(app: AppSession, message: AppRequest, r: Extract<AppRequestBody, { kind: 'addIndexServer' | 'removeIndexServer' }>): void {
    this.indexChain = this.indexChain.then(async () => {
      let next: IndexServerEntry[];
      if (r.kind === 'addIndexServer') {
        if (this.indexServers.some((s) => bytesEqual(s.publicKey, r.server.publicKey))) {
          return this.fail(app, message, { code: AppErrorCode.IndexServerExists, message: 'index server already configured' });
        }
        next = [...this.indexServers, { publicKey: r.server.publicKey, address: r.server.address, name: r.server.name }];
      } else {
        next = this.indexServers.filter((s) => !bytesEqual(s.publicKey, r.publicKey));
        if (next.length === this.indexServers.length) {
          return this.fail(app, message, { code: AppErrorCode.UnknownIndexServer, message: 'no such index server' });
        }
      }
      try {
        await this.db.saveIndexServers(next);
      } catch (err) {
        return this.fail(app, message, { code: AppErrorCode.Internal, message: errorMessage(err).slice(0, MESSAGE_CHARS_MAX) });
      }
      this.indexServers = next;
      this.reportDirty = true;
      this.indexLink.setServers(next);
      this.done(app, message);
    });
  }

  private requestRoutes(app: AppSession, message: AppRequest, r: Extract<AppRequestBody, { kind: 'requestRoutes' }>): void {
    const answer = (outcome: Parameters<AppServer['send']>[1] & { kind: 'routes' }): void => {
      this.appServer.send(app.id, outcome);
      if (outcome.outcome.kind === 'failed') this.fail(app, message, outcome.outcome.error);
      else this.done(app, message);
    };
    const failed = (code: AppErrorCode, text: string): void =>
      answer({ kind: 'routes', requestId: r.requestId, outcome: { kind: 'failed', error: { code, message: text.slice(0, MESSAGE_CHARS_MAX) } } });
    if (!this.indexLink.connected) return failed(AppErrorCode.NoIndexConnection, 'no index server connection');
    // The app's request is the index protocol's own: it goes on as it is (the client sets its own id).
    this.indexLink.requestRoutes(r).then(
      (response) => answer({
        kind: 'routes', requestId: r.requestId,
        outcome: { kind: 'found', routes: response.routes, complete: response.complete, truncated: response.truncated },
      }),
      (err: unknown) => {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_INDEX_TOO_MANY_REQUESTS') failed(AppErrorCode.TooManyRouteRequests, errorMessage(err));
        else failed(AppErrorCode.NoIndexConnection, errorMessage(err));
      },
    );
  }

  /** Marks the report as changed; apps get the difference within this turn. */
  private reportChanged(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => this.flushReport());
  }

  /** Sends apps what changed since the last report, now. */
  private flushReport(): void {
    this.reportScheduled = false;
    if (!this.reportDirty && this.lastReport !== null) return;
    this.reportDirty = false;
    const next = this.report();
    const prev = this.lastReport;
    this.lastReport = next;
    if (prev === null) return;
    const mutations = diffReports(prev, next);
    if (mutations.length > 0) {
      this.o.metrics?.reportMutations.inc(mutations.length);
      this.appServer?.broadcastMutations(mutations);
    }
  }

  report(): NodeReport {
    return buildReport({
      state: this.engine.state,
      relayNames: this.relayNames,
      indexServers: this.indexServers,
      connectedIndex: this.indexLink.connectedServer,
    });
  }
}

export { NodeError, NodeErrorCode };
