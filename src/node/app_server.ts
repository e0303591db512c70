import { bytesEqual, toBase64Url } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import type { SecureChannel } from '../transport/channel.js';
import { listenSecure, type SecureListener } from '../transport/uws-server.js';
import {
  AppErrorCode, decodeAppRequest, encodeNodeToApp, requiredPermission, type AppError, type AppPermissions, type AppRequest,
  type NodeReport, type NodeToApp, type ReportMutation,
} from './app_codec.js';
import { mutationsFor, reportFor } from './report.js';
import { TrustedApps, type TrustedApp } from './trusted_apps.js';

/**
 * Serves apps over the authenticated transport (purpose 'app'). Only keys with a ticket in the
 * trusted directory complete the handshake; an app whose ticket disappears or changes is
 * disconnected (it may reconnect and get its new permissions). On connect an app gets its
 * permissions, then a full report; after that the report's changes as they happen.
 * Every request gets exactly one result: done, or a typed error with a stable code — a request
 * outside the app's permissions included (it is refused, not silently dropped).
 */

export interface AppSession {
  readonly id: string;
  readonly publicKey: Uint8Array;
  readonly permissions: AppPermissions;
}

export interface AppRequestHandler {
  /** Handles a permitted request; the handler answers through AppServer.send (result exactly once). */
  handle(app: AppSession, message: AppRequest): void;
  report(): NodeReport;
}

export interface AppServerOptions {
  identity: Identity;
  host: string;
  port: number;
  trustedDir: string;
  handler: AppRequestHandler;
  logger?: Logger;
  /** Requests an app may have unanswered at once; more are refused with ERR_APP_TOO_MANY_REQUESTS. */
  openRequestsMax?: number;
}

interface Connection extends AppSession {
  readonly channel: SecureChannel;
  open: number;
  reportDue: boolean;
}

export class AppServer {
  private listener: SecureListener | null = null;
  private readonly trusted: TrustedApps;
  private readonly connections = new Map<string, Connection>();
  private readonly log: Logger;
  private nextId = 1;
  readonly counters = { connected: 0, refused: 0, requests: 0, denied: 0, badFrames: 0 };

  constructor(private readonly o: AppServerOptions) {
    this.log = o.logger ?? silentLogger;
    this.trusted = new TrustedApps(o.trustedDir, (apps) => this.onTrustChange(apps), this.log);
  }

  async start(): Promise<number> {
    this.trusted.start();
    this.listener = await listenSecure({
      host: this.o.host,
      port: this.o.port,
      identity: this.o.identity,
      purpose: 'app',
      authorize: (key) => {
        // The directory may have changed a moment ago and the watch not fired yet: a stat tells.
        if (this.trusted.get(key) === undefined) this.trusted.rescanIfChanged();
        const ok = this.trusted.get(key) !== undefined;
        if (!ok) {
          this.counters.refused++;
          this.log.info({ app: toBase64Url(key) }, 'refused an app without a trusted ticket');
        }
        return ok;
      },
      onChannel: (channel) => this.accept(channel),
      options: { logger: this.log },
    });
    return this.listener.port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get trustedCount(): number {
    return this.trusted.size;
  }

  /** Sends to one app (if still connected). */
  send(appId: string, message: NodeToApp): void {
    const conn = this.connections.get(appId);
    if (conn === undefined) return;
    if (message.kind === 'result') conn.open = Math.max(0, conn.open - 1);
    conn.channel.send(encodeNodeToApp(message));
  }

  result(appId: string, appRequestId: Uint8Array, error: AppError | null): void {
    this.send(appId, { kind: 'result', appRequestId, error });
  }

  /** Sends every connected app the report's changes it may see (reportFor); one encoding per view. */
  broadcastMutations(mutations: readonly ReportMutation[]): void {
    if (this.connections.size === 0) return;
    let full: Uint8Array | null = null;
    let reduced: Uint8Array | null | undefined;
    for (const conn of this.connections.values()) {
      if (conn.permissions.config) {
        full ??= encodeNodeToApp({ kind: 'mutations', appRequestId: null, mutations });
        conn.channel.send(full);
      } else {
        if (reduced === undefined) {
          const visible = mutationsFor(conn.permissions, mutations);
          reduced = visible.length === 0 ? null : encodeNodeToApp({ kind: 'mutations', appRequestId: null, mutations: visible });
        }
        if (reduced !== null) conn.channel.send(reduced);
      }
    }
  }

  stop(): void {
    this.trusted.stop();
    for (const conn of this.connections.values()) conn.channel.close('node stopping');
    this.connections.clear();
    this.listener?.close();
    this.listener = null;
  }

  private accept(channel: SecureChannel): void {
    const ticket = this.trusted.get(channel.remoteKey);
    if (ticket === undefined) {
      channel.close('not trusted');
      return;
    }
    const conn: Connection = {
      id: `app-${this.nextId++}`, publicKey: channel.remoteKey, permissions: ticket.permissions, channel, open: 0, reportDue: false,
    };
    this.connections.set(conn.id, conn);
    this.counters.connected++;
    this.log.info({ app: toBase64Url(conn.publicKey), appId: conn.id, permissions: conn.permissions }, 'app connected');
    channel.send(encodeNodeToApp({ kind: 'permissions', permissions: conn.permissions }));
    channel.send(encodeNodeToApp({ kind: 'report', report: reportFor(conn.permissions, this.o.handler.report()) }));
    channel.onFrame((frame) => this.frame(conn, frame));
    channel.onClose((reason) => {
      this.connections.delete(conn.id);
      this.log.info({ appId: conn.id, reason: reason.message }, 'app disconnected');
    });
  }

  private frame(conn: Connection, frame: Uint8Array): void {
    const decoded = decodeAppRequest(frame);
    if (!decoded.ok) {
      // Without a readable request id there is nothing to answer to: the app is broken.
      this.counters.badFrames++;
      this.log.warn({ appId: conn.id, err: decoded.error.message }, 'undecodable message from app; disconnecting');
      conn.channel.close('ERR_APP_BAD_MESSAGE');
      return;
    }
    const message = decoded.value;
    this.counters.requests++;
    conn.open++;
    const needed = requiredPermission(message.body.kind);
    if (!conn.permissions[needed]) {
      this.counters.denied++;
      this.log.info({ appId: conn.id, request: message.body.kind, needed }, 'request refused: permission missing');
      this.result(conn.id, message.appRequestId, {
        code: AppErrorCode.PermissionDenied,
        message: `${message.body.kind} needs the ${needed} permission`,
      });
      return;
    }
    if (conn.open > (this.o.openRequestsMax ?? 1024)) {
      this.result(conn.id, message.appRequestId, { code: AppErrorCode.QueueFull, message: 'too many unanswered requests' });
      return;
    }
    try {
      this.o.handler.handle(conn, message);
    } catch (err) {
      // A handler bug must not take the node down with it; the app still gets its answer.
      this.log.error({ appId: conn.id, err: errorMessage(err) }, 'request handler failed');
      this.result(conn.id, message.appRequestId, { code: AppErrorCode.Internal, message: errorMessage(err).slice(0, 512) });
    }
  }

  private onTrustChange(apps: ReadonlyMap<string, TrustedApp>): void {
    for (const conn of [...this.connections.values()]) {
      const ticket = apps.get(toBase64Url(conn.publicKey));
      const same = ticket !== undefined && bytesEqual(ticket.publicKey, conn.publicKey)
        && JSON.stringify(ticket.permissions) === JSON.stringify(conn.permissions);
      if (!same) {
        this.log.info({ appId: conn.id }, 'app ticket removed or changed; disconnecting');
        this.connections.delete(conn.id);
        conn.channel.close('app ticket changed');
      }
    }
  }
}
