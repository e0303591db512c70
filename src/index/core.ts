import { bytesEqual } from '../common/bytes.js';
import { isValidRate } from '../common/rate.js';
import { U128_MAX } from '../common/bytes.js';
import { isValidCurrency } from './codec.js';
import {
  DEFAULT_SEARCH_DEADLINE_MS,
  DEFAULT_SEARCH_WORK,
  MAX_CHAIN_LINKS,
  MAX_MUTATIONS_PER_UPDATE,
  NODE_TIMEOUT_TICKS,
  RATCHET_KEEP_TICKS,
  REPORT_TIMEOUT_TICKS,
} from './constants.js';
import { WriteGraph } from './graph.js';
import type { IndexLimits } from './limits.js';
import { HashClock } from './hash-clock.js';
import { Ratchet } from './ratchet.js';
import type { SearchBounds } from './route-plan.js';
import { verifyMutationsUpdate } from './signing.js';
import type { ChainLink, ForwardMutationsUpdate, MutationsUpdate } from './types.js';

/**
 * The index server's pure core: hash clock, ratchet, graph write side and the acceptance rules
 * for node updates (direct or forwarded) and route requests. No I/O: the server shell feeds it
 * decoded messages and carries out what it returns. Every rejection is a counted reason and
 * leaves all state unchanged.
 */
export const UPDATE_REJECTIONS = [
  'malformed',
  'too-many-mutations',
  'invalid-mutation',
  'foreign-node',
  'untrusted-server',
  'chain-too-long',
  'bad-chain',
  'stale-time-hash',
  'old-session',
  'session-conflict',
  'counter-replay',
  'bad-signature',
  'too-many-currencies',
  'node-currency-quota',
  'node-report-quota',
  'overloaded',
  'connection-backlog',
  'update-rate',
  'penalised',
] as const;
export type UpdateRejection = (typeof UPDATE_REJECTIONS)[number];

/** Equality of two 32-byte keys without allocating (this runs per mutation on ingest). */
function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const ROUTE_REJECTIONS = ['malformed', 'unknown-currency', 'absent-node', 'bad-amount', 'too-many-open'] as const;
export type RouteRejection = (typeof ROUTE_REJECTIONS)[number];

export type IngestOutcome =
  | { readonly ok: true; readonly mutations: number; readonly forward: ForwardMutationsUpdate | null }
  | { readonly ok: false; readonly reason: UpdateRejection };

export interface CoreOptions {
  readonly ttlTicks?: number;
  /** Ticks a single report lives without being set again (default REPORT_TIMEOUT_TICKS). */
  readonly reportTtlTicks?: number;
  readonly clock?: HashClock;
  readonly searchWorkMax?: number;
  readonly searchDeadlineMs?: number;
  /** Per-node quotas of the graph (the rest of the limits are the server's). */
  readonly limits?: Partial<Pick<IndexLimits, 'currenciesPerNodeMax' | 'reportsPerNodeMax'>>;
}

export class IndexCore {
  readonly graph: WriteGraph;
  readonly ratchet = new Ratchet();
  readonly clock: HashClock;
  readonly ttlTicks: number;
  readonly reportTtlTicks: number;
  private readonly searchWorkMax: number;
  private readonly searchDeadlineMs: number;
  tick = 0;
  readonly updateRejections = new Map<UpdateRejection, number>();
  updatesAccepted = 0;
  mutationsApplied = 0;

  constructor(options: CoreOptions = {}) {
    this.graph = new WriteGraph({ currenciesPerNodeMax: options.limits?.currenciesPerNodeMax, reportsPerNodeMax: options.limits?.reportsPerNodeMax });
    this.clock = options.clock ?? new HashClock();
    this.ttlTicks = options.ttlTicks ?? NODE_TIMEOUT_TICKS;
    this.reportTtlTicks = options.reportTtlTicks ?? (options.ttlTicks === undefined ? REPORT_TIMEOUT_TICKS : options.ttlTicks * (REPORT_TIMEOUT_TICKS / NODE_TIMEOUT_TICKS));
    this.searchWorkMax = options.searchWorkMax ?? DEFAULT_SEARCH_WORK;
    this.searchDeadlineMs = options.searchDeadlineMs ?? DEFAULT_SEARCH_DEADLINE_MS;
  }

  /**
   * One beat: a new time hash committing to the peers' newest hashes; expiry of silent nodes
   * and ageing of reports not set again (a bounded share of the reporters per tick, enough to
   * visit each once per report TTL). `expired` counts nodes and reports dropped.
   */
  onTick(peerHashes: readonly Uint8Array[]): { timeHash: Uint8Array; expired: number } {
    this.tick++;
    const timeHash = this.clock.tick(peerHashes);
    let expired = this.graph.expire(this.tick, this.ttlTicks);
    const reportersPerTick = Math.max(256, Math.ceil(this.graph.reporterCount / this.reportTtlTicks));
    expired += this.graph.ageReports(this.tick, this.reportTtlTicks, reportersPerTick);
    this.ratchet.expire(this.tick, RATCHET_KEEP_TICKS);
    return { timeHash, expired };
  }

  rejectUpdate(reason: UpdateRejection): IngestOutcome {
    this.updateRejections.set(reason, (this.updateRejections.get(reason) ?? 0) + 1);
    return { ok: false, reason };
  }

  /**
   * An update that arrived on a node's own authenticated connection. `signatureOk` lets the
   * shell check signatures elsewhere (a worker) and pass the verdict in; undefined = check here.
   */
  acceptClientUpdate(connectionKey: Uint8Array, update: MutationsUpdate, signatureOk?: boolean): IngestOutcome {
    if (!bytesEqual(connectionKey, update.node)) return this.rejectUpdate('foreign-node');
    return this.ingest(update, [], signatureOk);
  }

  /** An update forwarded by a peer server; `mutuallyTrusted` is the shell's current view. */
  acceptPeerUpdate(mutuallyTrusted: boolean, forward: ForwardMutationsUpdate, signatureOk?: boolean): IngestOutcome {
    if (!mutuallyTrusted) return this.rejectUpdate('untrusted-server');
    return this.ingest(forward.update, forward.chain, signatureOk);
  }

  /** The checks that need no state change, cheapest first; null when all pass. */
  precheck(update: MutationsUpdate, chain: readonly ChainLink[]): UpdateRejection | { appendLink: ChainLink } {
    return this.contentCheck(update) ?? this.stateCheck(update, chain);
  }

  /** What the update says on its own; the verdict can never change later. */
  private contentCheck(update: MutationsUpdate): UpdateRejection | null {
    if (update.mutations.length > MAX_MUTATIONS_PER_UPDATE) return 'too-many-mutations';
    for (const m of update.mutations) {
      if (!this.validCurrency(m.currency) || m.friend.byteLength !== 32 || sameKey(m.friend, update.node)) return 'invalid-mutation';
      if (m.kind === 'update' && (!isValidRate(m.rate) || m.recvCapacity < 0n || m.recvCapacity > U128_MAX)) return 'invalid-mutation';
    }
    return null;
  }

  private readonly validCurrencies = new Set<string>();

  private validCurrency(currency: string): boolean {
    if (this.validCurrencies.has(currency)) return true;
    if (!isValidCurrency(currency)) return false;
    if (this.validCurrencies.size >= 4096) this.validCurrencies.clear();
    this.validCurrencies.add(currency);
    return true;
  }

  /**
   * Freshness, ratchet, currency room and the node's quotas against the current state. The
   * first two only get stricter as time passes (ticks age hashes out, ratchets only advance);
   * room and quotas can free up, but an update refused for them on arrival is simply refused
   * (the node resends its table later), so refusing it early costs no signature check.
   */
  private stateCheck(update: MutationsUpdate, chain: readonly ChainLink[]): UpdateRejection | { appendLink: ChainLink } {
    const verdict = this.clock.verify(update.timeHash, chain);
    if (!verdict.ok) return verdict.reason;
    const ratchet = this.ratchet.check(update.node, update.sessionEpoch, update.sessionId, update.counter);
    if (ratchet !== 'ok') return ratchet;
    const quota = this.graph.quotaCheck(update.node, update.mutations);
    if (quota !== null) return quota;
    return { appendLink: verdict.appendLink };
  }

  /**
   * Arrival-time screening of a client update whose signature is checked elsewhere: the reason
   * it would be refused now (not counted yet), or null. Cheap, so a flood of replays or stale
   * updates costs no signature checks.
   */
  screenClientUpdate(connectionKey: Uint8Array, update: MutationsUpdate): UpdateRejection | null {
    if (!sameKey(connectionKey, update.node)) return 'foreign-node';
    return this.screen(update, []);
  }

  /** As screenClientUpdate, for an update forwarded by a peer server. */
  screenPeerUpdate(mutuallyTrusted: boolean, forward: ForwardMutationsUpdate): UpdateRejection | null {
    if (!mutuallyTrusted) return 'untrusted-server';
    return this.screen(forward.update, forward.chain);
  }

  private screen(update: MutationsUpdate, chain: readonly ChainLink[]): UpdateRejection | null {
    const pre = this.precheck(update, chain);
    return typeof pre === 'string' ? pre : null;
  }

  /**
   * Completes a screened update once its signature verdict is known. The state checks run
   * again, against the state left by every update that arrived before this one (two updates of
   * one node checked in parallel are applied in arrival order, so the second sees the first's
   * counter). A bad signature changes nothing: the ratchet advances only after it passed.
   */
  acceptScreened(update: MutationsUpdate, chain: readonly ChainLink[], signatureOk: boolean): IngestOutcome {
    const pre = this.stateCheck(update, chain);
    return this.finish(update, chain, pre, signatureOk);
  }

  private ingest(update: MutationsUpdate, chain: readonly ChainLink[], signatureOk?: boolean): IngestOutcome {
    const pre = this.precheck(update, chain);
    return this.finish(update, chain, pre, signatureOk);
  }

  private finish(update: MutationsUpdate, chain: readonly ChainLink[], pre: UpdateRejection | { appendLink: ChainLink }, signatureOk?: boolean): IngestOutcome {
    if (typeof pre === 'string') return this.rejectUpdate(pre);
    if (!(signatureOk ?? verifyMutationsUpdate(update))) return this.rejectUpdate('bad-signature');
    this.ratchet.commit(update.node, update.sessionEpoch, update.sessionId, update.counter, this.tick);
    this.graph.apply(update.node, update.mutations, this.tick);
    this.updatesAccepted++;
    this.mutationsApplied += update.mutations.length;
    const forward = chain.length < MAX_CHAIN_LINKS ? { update, chain: [...chain, pre.appendLink] } : null;
    return { ok: true, mutations: update.mutations.length, forward };
  }

  /** The work and time bounds of every search (the shards apply them). */
  get searchBounds(): SearchBounds {
    return { workMax: this.searchWorkMax, deadlineMs: this.searchDeadlineMs };
  }
}
