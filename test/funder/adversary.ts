import { frozenAmount, idKey, stageDeadline } from '../../src/funder/mutual_credit.js';
import { hashLock } from '../../src/funder/signing.js';
import { beginMove, finishMove, tryAddOp } from '../../src/funder/token_channel.js';
import type { Commit, CurrencyOp, FriendMessage, MoveToken, PublicKey } from '../../src/funder/types.js';
import type { Friend } from '../../src/funder/state.js';
import type { InFlight, SimNet, SimNode } from './sim.js';

/**
 * A malicious friend built from the project's own payment core: an honest node whose outgoing
 * traffic passes through a hook. The test can withhold what it would send (and keep the token),
 * replay or reorder what it sent before, and forge moves: any operations the shared channel
 * rules allow, with any time stamp, signed with its own key and applied to its own channel, so
 * that the honest side sees a perfectly valid chain. What it cannot do is sign for another key.
 */
export class Adversary {
  /** Messages it would have sent, kept back, per friend key. */
  readonly held = new Map<string, InFlight[]>();
  /** Every message it sent, per friend key, for replays. */
  readonly sent = new Map<string, FriendMessage[]>();
  private readonly withholding = new Set<string>();
  /** Sends past the hook (still through the real codec). */
  private readonly passOn: (to: PublicKey, message: FriendMessage) => void;

  constructor(readonly net: SimNet, readonly node: SimNode) {
    // Hooks compose: another adversary on the same network keeps its own hook underneath.
    const previous = net.enqueue;
    this.passOn = (to, message) => previous.call(net, node, to, message);
    net.enqueue = (from, to, message) => {
      if (from !== node) {
        previous.call(net, from, to, message);
        return;
      }
      const k = idKey(to);
      if (this.withholding.has(k)) {
        const list = this.held.get(k) ?? [];
        list.push({ from, to, message, sentAtMs: net.nowMs });
        this.held.set(k, list);
        return;
      }
      const log = this.sent.get(k) ?? [];
      log.push(message);
      this.sent.set(k, log);
      previous.call(net, from, to, message);
    };
  }

  get pk(): PublicKey {
    return this.node.pk;
  }

  friend(of: SimNode): Friend {
    return this.node.state.friends.get(idKey(of.pk))!;
  }

  /**
   * From now on nothing reaches `to`, and the token, once here, stays here: the honest core
   * still reads what `to` sends, but believes `to` is offline, so it never answers (a token
   * request included) and its channel stays where `to` last saw it.
   */
  withhold(to: SimNode): void {
    this.withholding.add(idKey(to.pk));
    this.friend(to).online = false;
  }

  /** Sends on what was held back (in order), stops withholding, and lets the core catch up. */
  release(to: SimNode, deliverHeld = true): void {
    const k = idKey(to.pk);
    this.withholding.delete(k);
    const held = this.held.get(k) ?? [];
    this.held.delete(k);
    if (deliverHeld) for (const item of held) this.passOn(item.to, item.message);
    this.node.handle({ kind: 'friendOnline', friend: to.pk });
  }

  /**
   * Sends again an earlier message to `to` (index from the end: 1 = the last one); `tokenWanted`
   * flips the one flag of a move that is not signed, to ask for the token back.
   */
  replay(to: SimNode, back = 1, options: { tokenWanted?: boolean } = {}): boolean {
    const log = this.sent.get(idKey(to.pk)) ?? [];
    let message = log[log.length - back];
    if (message === undefined) return false;
    if (options.tokenWanted !== undefined && message.kind === 'moveTokenRequest') message = { ...message, tokenWanted: options.tokenWanted };
    this.passOn(to.pk, message);
    return true;
  }

  /**
   * Signs and sends a move with exactly `ops`, stamped `timeMs` (the clock by default), if the
   * adversary holds the token and the shared rules let it build one; returns it, or the reason.
   */
  forge(to: SimNode, ops: readonly CurrencyOp[], options: { timeMs?: number; tokenWanted?: boolean } = {}): MoveToken | string {
    const friend = this.friend(to);
    const draft = beginMove(friend.channel, null, options.timeMs ?? this.net.nowMs);
    if (draft === null) return 'no token';
    for (const { currency, op } of ops) {
      const err = tryAddOp(draft, currency, op);
      if (err !== null) return err;
    }
    const move = finishMove(draft, null, this.node.env.signer, this.node.env.random(16));
    this.passOn(to.pk, { kind: 'moveTokenRequest', moveToken: move, tokenWanted: options.tokenWanted ?? false });
    return move;
  }

  /** The request ids it sent `to` that are still pending, with the time their current stage runs out. */
  pendingTo(to: SimNode, currency: string): { requestId: Uint8Array; dueMs: number; answered: boolean }[] {
    const mc = this.friend(to).channel.mutualCredits.get(currency);
    if (mc === undefined) return [];
    return [...mc.local.values()].map((tx) => ({ requestId: tx.request.requestId, dueMs: stageDeadline(tx), answered: tx.stage.kind === 'response' }));
  }
}

/**
 * What an honest node is worth: per friend, the balance of a consistent channel plus the collects
 * it holds for that friend (it knows both locks; the friend must take them with the token, and
 * can avoid that only by never moving again, which is defaulting), or what its own reset terms
 * claim for an inconsistent one (balance plus what the friend's requests would have paid). A
 * friend can force a dispute or default, but never make this drop.
 */
export function worth(node: SimNode, currency: string): bigint {
  let total = 0n;
  for (const friend of node.state.friends.values()) {
    if (friend.inconsistency !== null) {
      total += friend.inconsistency.localTerms.balanceForReset.find((b) => b.currency === currency)?.balance ?? 0n;
      continue;
    }
    const credit = friend.channel.mutualCredits.get(currency);
    total += credit?.balance ?? 0n;
    for (const item of friend.backwards) {
      const tx = item.op.kind === 'collect' && item.currency === currency ? credit?.remote.get(idKey(item.op.requestId)) : undefined;
      if (tx !== undefined) total += frozenAmount(tx.request);
    }
  }
  return total;
}

/** The commit a colluding seller builds for its own invoice, with the source lock its buyer shared. */
export function collusiveCommit(seller: SimNode, buyer: SimNode, invoiceId: Uint8Array): Commit | null {
  const invoice = seller.state.invoices.get(idKey(invoiceId));
  const payment = [...buyer.state.payments.values()].find((p) => idKey(p.invoiceId) === idKey(invoiceId));
  if (invoice?.completedBy == null || payment === undefined) return null;
  const done = invoice.completedBy;
  return {
    // The seller knows its own plain lock; its hash is what every response carried.
    responseHash: done.responseHash, srcPlainLock: payment.srcPlainLock, destHashedLock: hashLock(invoice.destPlainLock),
    destPayment: done.destPayment, totalDestPayment: invoice.totalDestPayment, invoiceId, currency: invoice.currency, signature: done.signature,
  };
}
