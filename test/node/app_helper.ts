import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesEqual } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { startProgram, type RunningProgram } from '../../src/apps/launcher.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';
import { writeAppTicket } from '../../src/files/tickets.js';
import type { AppPermissions } from '../../src/files/formats.js';
import { connectSecure, type SecureChannel } from '../../src/transport/transport.js';
import {
  decodeNodeToApp, encodeAppRequest, type AppError, type AppRequestBody, type FriendReport, type NodeReport, type NodeToApp,
} from '../../src/node/app_codec.js';
import { applyMutations } from '../../src/node/report.js';
import { initNodeDb } from '../../src/node/node_db.js';

/** A bare app for the node's tests: sends requests, waits for results, keeps the report current. */
export class TestApp {
  report: NodeReport | null = null;
  permissions: AppPermissions | null = null;
  readonly messages: NodeToApp[] = [];
  private waiters: { match: (m: NodeToApp) => boolean; resolve: (m: NodeToApp) => void }[] = [];
  private reportWaiters: { cond: (r: NodeReport) => boolean; resolve: () => void }[] = [];
  closed: string | null = null;

  private constructor(readonly channel: SecureChannel) {
    channel.onFrame((frame) => {
      const decoded = decodeNodeToApp(frame);
      if (!decoded.ok) throw new Error(`bad frame from node: ${decoded.error.message}`);
      this.onMessage(decoded.value);
    });
    channel.onClose((reason) => { this.closed = reason.message; });
  }

  static async connect(port: number, nodeKey: Uint8Array, identity: Identity): Promise<TestApp> {
    const channel = await connectSecure(`ws://127.0.0.1:${port}/`, { identity, expectedRemoteKey: nodeKey, purpose: 'app' });
    const app = new TestApp(channel);
    await app.until((r) => r !== null);
    return app;
  }

  private onMessage(m: NodeToApp): void {
    this.messages.push(m);
    if (m.kind === 'permissions') this.permissions = m.permissions;
    if (m.kind === 'report') this.report = m.report;
    if (m.kind === 'mutations' && this.report !== null) this.report = applyMutations(this.report, m.mutations);
    for (const w of [...this.waiters]) {
      if (w.match(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
    if (this.report !== null) {
      for (const w of [...this.reportWaiters]) {
        if (w.cond(this.report)) {
          this.reportWaiters.splice(this.reportWaiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  }

  wait(match: (m: NodeToApp) => boolean, timeoutMs = 60_000): Promise<NodeToApp> {
    const seen = this.messages.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), timeoutMs);
      this.waiters.push({ match, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }

  until(cond: (r: NodeReport | null) => boolean, timeoutMs = 60_000): Promise<void> {
    if (cond(this.report)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for the report: ${JSON.stringify(this.report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`)), timeoutMs);
      this.reportWaiters.push({ cond: (r) => cond(r), resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /** Sends a request and resolves with its result's error (null: done). */
  async request(body: AppRequestBody): Promise<AppError | null> {
    const appRequestId = randomBytes(16);
    const result = this.wait((m) => m.kind === 'result' && bytesEqual(m.appRequestId, appRequestId));
    this.channel.send(encodeAppRequest({ appRequestId, body }));
    const m = await result;
    return m.kind === 'result' ? m.error : null;
  }

  async must(body: AppRequestBody): Promise<void> {
    const error = await this.request(body);
    if (error !== null) throw new Error(`${body.kind} failed: ${error.code} ${error.message}`);
  }

  friend(key: Uint8Array): FriendReport | undefined {
    return this.report?.friends.find((f) => bytesEqual(f.publicKey, key));
  }

  balance(key: Uint8Array, currency: string): bigint | null {
    const f = this.friend(key);
    if (f === undefined || f.channel.kind !== 'consistent') return null;
    return f.channel.balances.find((b) => b.currency === currency)?.balance ?? null;
  }

  close(): void {
    this.channel.close('done');
  }
}

export const ALL: AppPermissions = { routes: true, buyer: true, seller: true, config: true };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `offset-${prefix}-`));
}

export interface NodeFixture {
  identity: Identity;
  dir: string;
  idfile: string;
  db: string;
  trusted: string;
  app: Identity;
  program: RunningProgram | null;
  port: number;
}

/** Identity, database and a trusted dir with one app holding `permissions`. */
export async function prepareNode(name: string, permissions: AppPermissions = ALL): Promise<NodeFixture> {
  const dir = tempDir(name);
  const identity = Identity.generate();
  const idfile = join(dir, 'node.ident');
  writeIdentityFile(idfile, identity);
  const db = join(dir, 'db');
  await initNodeDb(db, identity.publicKey);
  const trusted = join(dir, 'trusted');
  mkdirSync(trusted);
  const app = Identity.generate();
  writeAppTicket(join(trusted, 'app.ticket'), app.publicKey, permissions);
  return { identity, dir, idfile, db, trusted, app, program: null, port: 0 };
}

export async function startNode(f: NodeFixture, extra: string[] = []): Promise<number> {
  f.program = startProgram('stnode', ['--idfile', f.idfile, '--laddr', '127.0.0.1:0', '--database', f.db, '--trusted', f.trusted, ...extra], { OFFSET_LOG_LEVEL: 'info' });
  f.port = await f.program.port('apps', 60_000);
  return f.port;
}

export async function startRelay(dir: string): Promise<{ program: RunningProgram; identity: Identity; address: string }> {
  const identity = Identity.generate();
  const idfile = join(dir, `relay-${Math.random().toString(36).slice(2)}.ident`);
  writeIdentityFile(idfile, identity);
  const program = startProgram('strelay', ['--idfile', idfile, '--laddr', '127.0.0.1:0', '--workers', '1'], { OFFSET_LOG_LEVEL: 'info' });
  const line = await program.waitForLog((l) => l.event === 'listening' && l.endpoint === 'clients', 60_000);
  return { program, identity, address: `127.0.0.1:${line.port as number}` };
}

/** Makes a and b friends over their relays with the currency open and `trust` each way. */
export async function befriend(
  a: { app: TestApp; key: Uint8Array; relays: { publicKey: Uint8Array; address: string }[] },
  b: { app: TestApp; key: Uint8Array; relays: { publicKey: Uint8Array; address: string }[] },
  currency: string, trust: bigint,
): Promise<void> {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    await x.app.must({ kind: 'addFriend', publicKey: y.key, name: 'friend', relays: y.relays });
    await x.app.must({ kind: 'setMaxDebt', publicKey: y.key, currency, remoteMaxDebt: trust });
    await x.app.must({ kind: 'openCurrency', publicKey: y.key, currency });
    await x.app.must({ kind: 'enableFriend', publicKey: y.key });
  }
  for (const [x, y] of [[a, b], [b, a]] as const) {
    await x.app.until(() => x.app.friend(y.key)?.online === true && x.app.balance(y.key, currency) !== null);
  }
}
