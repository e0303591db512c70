import { bytesEqual, toBase64Url, toHex } from '../common/bytes.js';
import { systemClock, type Clock } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import type { AppCommand, AppMessage, ChangeSet, Effect } from '../funder/api.js';
import { decodeFriendMessage, encodeFriendMessage } from '../funder/codec.js';
import { MAX_RELAYS } from '../funder/constants.js';
import type { FunderState } from '../funder/state.js';
import { AppServer, type AppCodec, type AppSession } from './app_server.js';
import { AppRequestErrorCode, type AppRequest, type AppToNode, type NodeReport, type RequestError } from './app_types.js';
import { Channeler, type RelayNetwork } from './channeler.js';
import { NodeError, NodeErrorCode } from './errors.js';
import { SnapshotFunderEngine, type FunderEngine } from './funder_engine.js';
import { IndexLink, type IndexClientFactory } from './index_link.js';
import type { NodeMetrics } from './metrics.js';
import { NodeDb, type IndexServerEntry } from './node_db.js';

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
  codec: AppCodec;
  relayNetwork: RelayNetwork;
  indexClientFactory: IndexClientFactory;
  logger?: Logger;
  clock?: Clock;
  metrics?: NodeMetrics;
  /** Period of the core's timer events (deadlines, retransmissions). Default 1 s. */
  tickMs?: number;
  channelerBackoffMs?: { baseMs: number; maxMs: number };
}

const hexToBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

export class NodeService {
  private engine!: FunderEngine;
  private channeler!: Channeler;
  private indexLink!: IndexLink;
  private appServer!: AppServer;
  private tickTimer: NodeJS.Timeout | null = null;
  private indexServers: IndexServerEntry[] = [];
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
    this.engine = await SnapshotFunderEngine.open(this.db, this.o.identity, this.o.clock ?? systemClock, {
      onEffects: (effects, changes) => this.release(effects, changes),
      onFaults: (faults) => {
        for (const f of faults) {
          metrics?.peerFaults.inc({ code: f.code });
          log.warn({ friend: toBase64Url(f.friend), code: f.code }, 'friend sent a faulty message');
        }
      },
      onCommit: (events, ms) => {
        metrics?.commits.inc();
        metrics?.events.inc(events);
        metrics?.commitSeconds.observe(ms / 1000);
      },
    }, log.child({ component: 'node.funder' }));
    this.channeler = new Channeler({
      identity: this.o.identity,
      network: this.o.relayNetwork,
      logger: log.child({ component: 'node.channeler' }),
      backoff: this.o.channelerBackoffMs,
      hooks: {
        onFrame: (friend, frame) => {
          const decoded = decodeFriendMessage(frame);
          if (!decoded.ok) {
            metrics?.peerFaults.inc({ code: decoded.error.code });
            log.warn({ friend: toBase64Url(friend), err: decoded.error.message }, 'undecodable message from friend');
            return;
          }
          this.engine.submit({ kind: 'friendMessage', friend, message: decoded.value });
        },
        onOnline: (friend) => this.engine.submit({ kind: 'friendOnline', friend }),
        onOffline: (friend) => this.engine.submit({ kind: 'friendOffline', friend }),
      },
    });
    this.indexLink = new IndexLink(this.o.indexClientFactory, log.child({ component: 'node.index' }));
    this.indexServers = await this.db.indexServers();
    this.indexLink.setServers(this.indexServers);
    this.syncLinks();
    this.indexLink.onFunderState(this.engine.state);
    this.appServer = new AppServer({
      identity: this.o.identity,
      host: this.o.host,
      port: this.o.port,
      trustedDir: this.o.trustedDir,
      codec: this.o.codec,
      logger: log.child({ component: 'node.apps' }),
      handler: { handle: (app, message) => this.handleApp(app, message), report: () => this.report() },
    });
    this.appPort = await this.appServer.start();
    const tickMs = this.o.tickMs ?? 1000;
    this.tickTimer = setInterval(() => this.engine.submit({ kind: 'tick' }), tickMs);
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
    await this.db.close();
  }

  /** Resolves once every event submitted so far is durable and its effects released. */
  idle(): Promise<void> {
    return this.engine.idle();
  }

  private release(effects: Effect[], changes: ChangeSet): void {
    for (const effect of effects) {
      if (effect.kind === 'sendFriend') {
        if (!this.channeler.send(effect.friend, encodeFriendMessage(effect.message))) this.o.metrics?.friendFramesDropped.inc();
      } else {
        this.toApp(effect.appId, effect.message);
      }
    }
    if (changes.node || changes.friends.size > 0) this.syncLinks();
    this.indexLink.onFunderState(this.engine.state);
    this.appServer?.stateChanged();
    const m = this.o.metrics;
    if (m !== undefined) {
      m.friends.set(this.engine.state.friends.size);
      m.friendsOnline.set(this.channeler.onlineCount());
      m.appsConnected.set(this.appServer?.connectionCount ?? 0);
    }
  }

  private toApp(appId: string, message: AppMessage): void {
    switch (message.kind) {
      case 'ack':
        if (message.error !== null) this.o.metrics?.appRequestErrors.inc({ code: message.error.code });
        this.appServer.result(appId, hexToBytes(message.appRequestId), message.error);
        break;
      case 'transactionResult':
        this.appServer.send(appId, { kind: 'transactionResult', paymentId: message.paymentId, requestId: message.requestId, outcome: message.outcome });
        break;
      case 'paymentStatus':
        this.appServer.send(appId, { kind: 'paymentStatus', paymentId: message.paymentId, status: message.status });
        break;
    }
  }

  /** Friend links follow the core's configuration: own relays, enabled friends and their relays. */
  private syncLinks(): void {
    const s = this.engine.state;
    this.channeler.setOwnRelays(s.relays);
    this.channeler.setFriends([...s.friends.values()].filter((f) => f.enabled).map((f) => ({ publicKey: f.publicKey, relays: f.relays })));
  }

  private fail(app: AppSession, message: AppToNode, error: RequestError): void {
    this.o.metrics?.appRequestErrors.inc({ code: error.code });
    this.appServer.result(app.id, message.requestId, error);
  }

  private handleApp(app: AppSession, message: AppToNode): void {
    const r = message.request;
    this.o.metrics?.appRequests.inc({ kind: r.kind });
    if (this.stopping) return this.fail(app, message, { code: AppRequestErrorCode.Stopping, message: 'node is stopping' });
    const appRequestId = toHex(message.requestId);
    const submit = (command: AppCommand): void => this.engine.submit({ kind: 'app', appId: app.id, appRequestId, command });
    switch (r.kind) {
      case 'addRelay':
      case 'removeRelay':
        // Evaluated in order against the current relays, so concurrent edits do not lose each other.
        this.engine.submit((state) => {
          const relays = state.relays;
          if (r.kind === 'addRelay') {
            if (relays.some((x) => bytesEqual(x.publicKey, r.relay.publicKey))) {
              this.fail(app, message, { code: AppRequestErrorCode.Exists, message: 'relay already configured' });
              return null;
            }
            if (relays.length >= MAX_RELAYS) {
              this.fail(app, message, { code: AppRequestErrorCode.RelayLimit, message: `at most ${MAX_RELAYS} relays` });
              return null;
            }
            return { kind: 'app', appId: app.id, appRequestId, command: { kind: 'setRelays', relays: [...relays, { publicKey: r.relay.publicKey, address: r.relay.address }] } };
          }
          const rest = relays.filter((x) => !bytesEqual(x.publicKey, r.publicKey));
          if (rest.length === relays.length) {
            this.fail(app, message, { code: AppRequestErrorCode.UnknownRelay, message: 'no such relay' });
            return null;
          }
          return { kind: 'app', appId: app.id, appRequestId, command: { kind: 'setRelays', relays: rest } };
        });
        return;
      case 'addIndexServer':
      case 'removeIndexServer':
        this.changeIndexServers(app, message, r);
        return;
      case 'requestRoutes':
        this.requestRoutes(app, message, r);
        return;
      case 'addFriend':
        return submit({ kind: 'addFriend', publicKey: r.publicKey, name: r.name, relays: r.relays });
      case 'setFriendRelays':
        return submit({ kind: 'setFriendRelays', publicKey: r.publicKey, relays: r.relays });
      case 'setFriendName':
        return submit({ kind: 'setFriendName', publicKey: r.publicKey, name: r.name });
      case 'removeFriend':
      case 'enableFriend':
      case 'disableFriend':
        return submit({ kind: r.kind, publicKey: r.publicKey });
      case 'openFriendCurrency':
        return submit({ kind: 'openCurrency', publicKey: r.publicKey, currency: r.currency });
      case 'closeFriendCurrency':
        return submit({ kind: 'closeCurrency', publicKey: r.publicKey, currency: r.currency });
      case 'removeFriendCurrency':
        return submit({ kind: 'removeCurrency', publicKey: r.publicKey, currency: r.currency });
      case 'setFriendCurrencyMaxDebt':
        return submit({ kind: 'setMaxDebt', publicKey: r.publicKey, currency: r.currency, remoteMaxDebt: r.remoteMaxDebt });
      case 'setFriendCurrencyRate':
        return submit({ kind: 'setRate', publicKey: r.publicKey, currency: r.currency, rate: r.rate });
      case 'resetFriendChannel':
        return submit({ kind: 'resetFriendChannel', publicKey: r.publicKey, resetToken: r.resetToken });
      case 'addInvoice':
        return submit({ kind: 'addInvoice', invoiceId: r.invoiceId, currency: r.currency, totalDestPayment: r.totalDestPayment });
      case 'cancelInvoice':
        return submit({ kind: 'cancelInvoice', invoiceId: r.invoiceId });
      case 'commitInvoice':
        return submit({ kind: 'commitInvoice', commit: r.commit });
      case 'createPayment':
        return submit({
          kind: 'createPayment', paymentId: r.paymentId, invoiceId: r.invoiceId, currency: r.currency,
          totalDestPayment: r.totalDestPayment, destPublicKey: r.destPublicKey,
        });
      case 'createTransaction':
        return submit({
          kind: 'createTransaction', paymentId: r.paymentId, requestId: r.requestId, route: r.route, destPayment: r.destPayment, fees: r.fees,
        });
      case 'requestClosePayment':
      case 'paymentStatus':
        return submit({ kind: r.kind, paymentId: r.paymentId });
      case 'ackClosePayment':
        return submit({ kind: 'ackClosePayment', paymentId: r.paymentId, ackUid: r.ackUid });
    }
  }

  private changeIndexServers(app: AppSession, message: AppToNode, r: Extract<AppRequest, { kind: 'addIndexServer' | 'removeIndexServer' }>): void {
    this.indexChain = this.indexChain.then(async () => {
      let next: IndexServerEntry[];
      if (r.kind === 'addIndexServer') {
        if (this.indexServers.some((s) => bytesEqual(s.publicKey, r.server.publicKey))) {
          return this.fail(app, message, { code: AppRequestErrorCode.Exists, message: 'index server already configured' });
        }
        next = [...this.indexServers, { publicKey: r.server.publicKey, address: r.server.address, name: r.server.name }];
      } else {
        next = this.indexServers.filter((s) => !bytesEqual(s.publicKey, r.publicKey));
        if (next.length === this.indexServers.length) {
          return this.fail(app, message, { code: AppRequestErrorCode.UnknownIndexServer, message: 'no such index server' });
        }
      }
      try {
        await this.engine.stageNodeOps([this.db.indexServersOp(next)]);
      } catch (err) {
        return this.fail(app, message, { code: AppRequestErrorCode.Stopping, message: errorMessage(err) });
      }
      this.indexServers = next;
      this.indexLink.setServers(next);
      this.appServer.result(app.id, message.requestId, null);
      this.appServer.stateChanged();
    });
  }

  private requestRoutes(app: AppSession, message: AppToNode, r: Extract<AppRequest, { kind: 'requestRoutes' }>): void {
    if (!this.indexLink.connected) {
      return this.fail(app, message, { code: AppRequestErrorCode.NoIndex, message: 'no index server connection' });
    }
    this.indexLink.requestRoutes({ currency: r.currency, amount: r.amount, source: r.source, destination: r.destination, exclude: r.exclude }).then(
      (response) => {
        this.appServer.send(app.id, { kind: 'routes', requestId: message.requestId, routes: response.routes, complete: response.complete });
        this.appServer.result(app.id, message.requestId, null);
      },
      (err: unknown) => {
        const code = (err as { code?: string }).code === 'ERR_INDEX_TOO_MANY_REQUESTS' ? AppRequestErrorCode.TooManyRequests : AppRequestErrorCode.RouteFailed;
        this.fail(app, message, { code, message: errorMessage(err) });
      },
    );
  }

  report(): NodeReport {
    const s = this.engine.state;
    return {
      localPublicKey: s.localPublicKey,
      relays: s.relays.map((r) => ({ publicKey: r.publicKey, address: r.address, name: '' })),
      indexServers: this.indexServers.map((x) => ({ publicKey: x.publicKey, address: x.address, name: x.name })),
      connectedIndexServer: this.indexLink.connected,
      friends: [...s.friends.values()].map((f) => ({
        publicKey: f.publicKey,
        name: f.name,
        relays: f.relays.map((r) => ({ publicKey: r.publicKey, address: r.address })),
        enabled: f.enabled,
        online: f.online,
        consistent: f.inconsistency === null,
        currencies: [...f.configs].map(([currency, c]) => {
          const mc = f.channel.mutualCredits.get(currency);
          return {
            currency, rate: c.rate, remoteMaxDebt: c.remoteMaxDebt, isOpen: c.isOpen,
            balance: mc === undefined ? null : { balance: mc.balance, localPending: mc.localPending, remotePending: mc.remotePending },
          };
        }),
      })),
    };
  }
}

export { NodeError, NodeErrorCode };
