import { assert } from '../common/errors.js';
import { toHex } from '../common/bytes.js';
import { Reason, type ConnAddr } from './codec.js';

/**
 * The relay's matching core: which key listens where, which connects wait for which listener,
 * and when two connections are spliced. Pure: it performs no I/O and reads no clock; the shell
 * (src/relay/server.ts, on the main thread) feeds it inputs with the current time and carries out
 * the effects it returns. One instance serves every worker thread, so the directory of listener
 * keys has a single writer and is consistent by construction; workers never decide a match.
 *
 * Rules (the reasons they differ from the original relay are in the comments):
 * - One listener per key; a new `listen` from the same key replaces the old connection, so a node
 *   that reconnects is reachable at once instead of waiting for its stale listener to expire.
 * - `connect(K)` waits up to `connectTimeoutMs` for K to accept. If K has no listener yet the
 *   connect still waits (bounded), and a listener that arrives in time is told about it: a
 *   reconnecting listener does not lose callers that raced its reconnect.
 * - A repeated connect from the same caller to the same key replaces the older one.
 * - Pending connects are capped per listener key and in total; over the cap a connect fails at
 *   once with PendingLimit, so nothing here grows without bound.
 * - `accept(C)` from key K splices with C's waiting connect to K, or fails with NoPending.
 * - A listener's `reject(C)` fails C's waiting connect with Rejected; a reject from a connection
 *   that is not (or no longer) K's listener changes nothing.
 */

export interface MatchingLimits {
  connectTimeoutMs: number;
  pendingPerListenerMax: number;
  pendingTotalMax: number;
}

export type CoreInput =
  | { type: 'listen'; conn: ConnAddr; key: Uint8Array }
  | { type: 'connect'; conn: ConnAddr; key: Uint8Array; target: Uint8Array }
  | { type: 'accept'; conn: ConnAddr; key: Uint8Array; caller: Uint8Array }
  | { type: 'reject'; conn: ConnAddr; caller: Uint8Array }
  | { type: 'gone'; conn: ConnAddr }
  | { type: 'tick' };

export type CoreEffect =
  /** Tell listener `conn` that `caller` wants it. */
  | { type: 'notify'; conn: ConnAddr; caller: Uint8Array }
  /** Splice the caller's connect with the callee's accept. */
  | { type: 'splice'; caller: ConnAddr; callerKey: Uint8Array; callee: ConnAddr; calleeKey: Uint8Array }
  /** Fail (connect, accept) or close (replaced listener) `conn`. */
  | { type: 'end'; conn: ConnAddr; reason: Reason };

interface Pending {
  conn: ConnAddr;
  callerKey: Uint8Array;
  calleeHex: string;
  pairId: string;
  deadlineMs: number;
  notified: boolean;
}

interface Listener {
  conn: ConnAddr;
  key: Uint8Array;
}

export interface CoreCounts {
  listeners: number;
  pendingConnects: number;
  splices: number;
  replacedListeners: number;
  rejected: number;
  timedOut: number;
  pendingLimitHits: number;
  noPending: number;
  ignoredRejects: number;
}

export function connId(conn: ConnAddr): string {
  return `${conn.worker}:${conn.id}`;
}

export class MatchingCore {
  private readonly listeners = new Map<string, Listener>();
  private readonly listenerKeyByConn = new Map<string, string>();
  private readonly pending = new Map<string, Pending>();
  private readonly pendingByConn = new Map<string, Pending>();
  private readonly pendingByCallee = new Map<string, Set<Pending>>();
  private readonly counts: CoreCounts = {
    listeners: 0, pendingConnects: 0, splices: 0, replacedListeners: 0, rejected: 0, timedOut: 0,
    pendingLimitHits: 0, noPending: 0, ignoredRejects: 0,
  };

  constructor(private readonly limits: MatchingLimits) {
    assert(limits.connectTimeoutMs > 0 && limits.pendingPerListenerMax > 0, 'matching limits must be positive');
    assert(limits.pendingTotalMax >= limits.pendingPerListenerMax, 'total pending cap below per-listener cap');
  }

  step(input: CoreInput, nowMs: number): CoreEffect[] {
    const effects: CoreEffect[] = [];
    switch (input.type) {
      case 'listen':
        this.listen(input.conn, input.key, effects);
        break;
      case 'connect':
        this.connect(input.conn, input.key, input.target, nowMs, effects);
        break;
      case 'accept':
        this.accept(input.conn, input.key, input.caller, effects);
        break;
      case 'reject':
        this.reject(input.conn, input.caller, effects);
        break;
      case 'gone':
        this.gone(input.conn);
        break;
      case 'tick':
        this.expire(nowMs, effects);
        break;
    }
    this.counts.listeners = this.listeners.size;
    this.counts.pendingConnects = this.pending.size;
    return effects;
  }

  stats(): Readonly<CoreCounts> {
    return this.counts;
  }

  /** The listener connection of `key`, if any (the directory lookup). */
  listenerOf(key: Uint8Array): ConnAddr | undefined {
    return this.listeners.get(toHex(key))?.conn;
  }

  private listen(conn: ConnAddr, key: Uint8Array, effects: CoreEffect[]): void {
    const keyHex = toHex(key);
    const old = this.listeners.get(keyHex);
    if (old !== undefined) {
      this.listenerKeyByConn.delete(connId(old.conn));
      effects.push({ type: 'end', conn: old.conn, reason: Reason.Replaced });
      this.counts.replacedListeners++;
    }
    this.listeners.set(keyHex, { conn, key });
    this.listenerKeyByConn.set(connId(conn), keyHex);
    // Callers waiting for this key (told the old listener, or none yet) are told the new one.
    for (const p of this.pendingByCallee.get(keyHex) ?? []) {
      p.notified = true;
      effects.push({ type: 'notify', conn, caller: p.callerKey });
    }
  }

  private connect(conn: ConnAddr, key: Uint8Array, target: Uint8Array, nowMs: number, effects: CoreEffect[]): void {
    const calleeHex = toHex(target);
    const pairId = `${calleeHex}/${toHex(key)}`;
    const previous = this.pending.get(pairId);
    if (previous !== undefined) {
      this.removePending(previous);
      effects.push({ type: 'end', conn: previous.conn, reason: Reason.Replaced });
    }
    const waiting = this.pendingByCallee.get(calleeHex)?.size ?? 0;
    if (waiting >= this.limits.pendingPerListenerMax || this.pending.size >= this.limits.pendingTotalMax) {
      this.counts.pendingLimitHits++;
      effects.push({ type: 'end', conn, reason: Reason.PendingLimit });
      return;
    }
    const listener = this.listeners.get(calleeHex);
    const p: Pending = {
      conn, callerKey: key, calleeHex, pairId, deadlineMs: nowMs + this.limits.connectTimeoutMs, notified: listener !== undefined,
    };
    this.pending.set(pairId, p);
    this.pendingByConn.set(connId(conn), p);
    let set = this.pendingByCallee.get(calleeHex);
    if (set === undefined) {
      set = new Set();
      this.pendingByCallee.set(calleeHex, set);
    }
    set.add(p);
    if (listener !== undefined) effects.push({ type: 'notify', conn: listener.conn, caller: key });
  }

  private accept(conn: ConnAddr, key: Uint8Array, caller: Uint8Array, effects: CoreEffect[]): void {
    const p = this.pending.get(`${toHex(key)}/${toHex(caller)}`);
    if (p === undefined) {
      this.counts.noPending++;
      effects.push({ type: 'end', conn, reason: Reason.NoPending });
      return;
    }
    this.removePending(p);
    this.counts.splices++;
    effects.push({ type: 'splice', caller: p.conn, callerKey: p.callerKey, callee: conn, calleeKey: key });
  }

  private reject(conn: ConnAddr, caller: Uint8Array, effects: CoreEffect[]): void {
    const keyHex = this.listenerKeyByConn.get(connId(conn));
    const p = keyHex === undefined ? undefined : this.pending.get(`${keyHex}/${toHex(caller)}`);
    if (p === undefined) {
      this.counts.ignoredRejects++;
      return;
    }
    this.removePending(p);
    this.counts.rejected++;
    effects.push({ type: 'end', conn: p.conn, reason: Reason.Rejected });
  }

  private gone(conn: ConnAddr): void {
    const id = connId(conn);
    const keyHex = this.listenerKeyByConn.get(id);
    if (keyHex !== undefined) {
      this.listenerKeyByConn.delete(id);
      this.listeners.delete(keyHex);
    }
    const p = this.pendingByConn.get(id);
    if (p !== undefined) this.removePending(p);
  }

  private expire(nowMs: number, effects: CoreEffect[]): void {
    for (const p of this.pending.values()) {
      if (p.deadlineMs > nowMs) continue;
      this.removePending(p);
      this.counts.timedOut++;
      const heard = p.notified || this.listeners.has(p.calleeHex);
      effects.push({ type: 'end', conn: p.conn, reason: heard ? Reason.Timeout : Reason.NoListener });
    }
  }

  private removePending(p: Pending): void {
    this.pending.delete(p.pairId);
    this.pendingByConn.delete(connId(p.conn));
    const set = this.pendingByCallee.get(p.calleeHex);
    if (set !== undefined) {
      set.delete(p);
      if (set.size === 0) this.pendingByCallee.delete(p.calleeHex);
    }
  }
}
