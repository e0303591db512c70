import { toBase64Url, toHex } from '../common/bytes.js';
import { OffsetError, errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { FunderState } from '../funder/state.js';
import type { IndexMutation, ResponseRoutes, UpdateFriendCurrency } from '../index/types.js';
import type { IndexServerEntry } from './node_db.js';

/**
 * Turns the payment core's state into the node's entries on the index: per enabled, online,
 * consistent friend and open, active currency, what that friend can still push to us
 * (remoteMaxDebt - balance - remote pending) and the rate we charge to forward from it. Only the
 * difference from what was last handed to the index client is sent; the client resends its whole
 * table on every new session and refreshes it before the server's TTL runs out.
 */

export interface RouteQuery {
  readonly currency: string;
  readonly amount: bigint;
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly exclude?: { readonly from: Uint8Array; readonly to: Uint8Array } | null;
  readonly maxHops?: number;
  readonly maxFee?: bigint | null;
  readonly maxRoutes?: number;
}

/** The part of the index client the node uses (src/index/client.ts). */
export interface IndexClientPort {
  start(): void;
  close(): void;
  readonly ready: boolean;
  /** The key of the server of the current session, if the client tells. */
  readonly connectedServer?: Uint8Array | null;
  update(mutations: readonly IndexMutation[]): boolean;
  requestRoutes(query: RouteQuery): Promise<ResponseRoutes>;
}

export type IndexClientFactory = (servers: readonly IndexServerEntry[]) => IndexClientPort;

const entryKey = (friend: Uint8Array, currency: string): string => `${toHex(friend)}/${currency}`;

export function capacityEntries(state: FunderState): Map<string, UpdateFriendCurrency> {
  const out = new Map<string, UpdateFriendCurrency>();
  for (const friend of state.friends.values()) {
    if (!friend.enabled || !friend.online || friend.inconsistency !== null) continue;
    for (const [currency, config] of friend.configs) {
      if (!config.isOpen) continue;
      const mc = friend.channel.mutualCredits.get(currency);
      if (mc === undefined) continue;
      const left = config.remoteMaxDebt - mc.balance - mc.remotePending;
      out.set(entryKey(friend.publicKey, currency), {
        kind: 'update', friend: friend.publicKey, currency, recvCapacity: left > 0n ? left : 0n, rate: config.rate,
      });
    }
  }
  return out;
}

export function diffEntries(before: Map<string, UpdateFriendCurrency>, after: Map<string, UpdateFriendCurrency>): IndexMutation[] {
  const out: IndexMutation[] = [];
  for (const [key, prev] of before) {
    if (!after.has(key)) out.push({ kind: 'remove', friend: prev.friend, currency: prev.currency });
  }
  for (const [key, next] of after) {
    const prev = before.get(key);
    if (prev === undefined || prev.recvCapacity !== next.recvCapacity || prev.rate.mul !== next.rate.mul || prev.rate.add !== next.rate.add) {
      out.push(next);
    }
  }
  return out;
}

export class IndexLink {
  private client: IndexClientPort | null = null;
  private servers: IndexServerEntry[] = [];
  private sent = new Map<string, UpdateFriendCurrency>();
  /** The core's state as last handed over (the core updates it in place). */
  private state: FunderState | null = null;
  private updateTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  readonly counters = { mutationsSent: 0, updatesSent: 0, routeRequests: 0, routeFailures: 0 };

  constructor(private readonly factory: IndexClientFactory, logger: Logger = silentLogger, private readonly updateDelayMs = 0) {
    this.log = logger;
  }

  get connected(): boolean {
    return this.client?.ready ?? false;
  }

  /** The server the node has a session with now, if any. */
  get connectedServer(): Uint8Array | null {
    const c = this.client;
    if (c === null || !c.ready) return null;
    return c.connectedServer ?? null;
  }

  get serverList(): readonly IndexServerEntry[] {
    return this.servers;
  }

  /** Replaces the server list; a new client starts on it and receives the full table. */
  setServers(servers: readonly IndexServerEntry[]): void {
    const id = (list: readonly IndexServerEntry[]): string => list.map((s) => `${toBase64Url(s.publicKey)}@${s.address}`).join(',');
    if (id(servers) === id(this.servers) && this.client !== null) return;
    this.servers = [...servers];
    this.client?.close();
    this.client = null;
    this.cancelUpdate();
    if (servers.length === 0) return;
    if (this.state !== null) this.sent = capacityEntries(this.state);
    this.client = this.factory(this.servers);
    this.client.update([...this.sent.values()]);
    this.client.start();
  }

  /**
   * Call after every change of the payment core. The difference is sent at once, or with
   * `updateDelayMs` set, at most once per that period: under payment load capacities change
   * on every turn, and each update is signed by the node and verified by the server.
   */
  onFunderState(state: FunderState): void {
    this.state = state;
    // Without a server there is no one to tell: the table is computed when one is configured.
    if (this.client === null) return;
    if (this.updateDelayMs <= 0) {
      this.sendChanges();
      return;
    }
    this.updateTimer ??= setTimeout(() => {
      this.updateTimer = null;
      this.sendChanges();
    }, this.updateDelayMs);
  }

  private sendChanges(): void {
    if (this.client === null || this.state === null) return;
    const next = capacityEntries(this.state);
    const mutations = diffEntries(this.sent, next);
    this.sent = next;
    if (mutations.length === 0) return;
    this.counters.mutationsSent += mutations.length;
    this.counters.updatesSent++;
    this.client.update(mutations);
  }

  private cancelUpdate(): void {
    if (this.updateTimer !== null) clearTimeout(this.updateTimer);
    this.updateTimer = null;
  }

  async requestRoutes(query: RouteQuery): Promise<ResponseRoutes> {
    this.counters.routeRequests++;
    if (this.client === null) {
      this.counters.routeFailures++;
      throw new IndexLinkError('no index server configured');
    }
    try {
      return await this.client.requestRoutes(query);
    } catch (err) {
      this.counters.routeFailures++;
      this.log.info({ err: errorMessage(err) }, 'route request failed');
      throw err;
    }
  }

  close(): void {
    this.cancelUpdate();
    this.client?.close();
    this.client = null;
  }
}

export class IndexLinkError extends OffsetError {
  constructor(message: string) {
    super('ERR_NODE_NO_INDEX', message);
  }
}
