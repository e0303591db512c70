import { Identity } from '../crypto/identity.js';
import type { AppCommand, AppMessage, FunderEvent } from './api.js';
import { decodeFriendMessage } from './codec.js';
import { idKey } from './mutual_credit.js';
import { FunderRuntime, type RuntimeOptions } from './runtime.js';
import type { PublicKey } from './types.js';

/**
 * Several durable nodes in one process, wired together without sockets: every message still
 * crosses the codec and every state change the synced store. Delivery is in order per link.
 * Used by the benchmark and the crash test; the node proper puts relays in between instead.
 */

export class LoopbackNode {
  runtime!: FunderRuntime;
  readonly listeners: ((message: AppMessage) => void)[] = [];
  faults = 0;
  private counter = 0;
  constructor(readonly net: Loopback, readonly name: string, readonly identity: Identity) {}

  get pk(): PublicKey {
    return this.identity.publicKey;
  }

  submit(event: FunderEvent): void {
    this.runtime.submit(event);
  }

  command(command: AppCommand): void {
    this.runtime.submit({ kind: 'app', appId: 'driver', owner: 'driver', appRequestId: String(++this.counter), command });
  }
}

export class Loopback {
  readonly nodes = new Map<string, LoopbackNode>();
  private open = true;
  /** Messages handed to the loopback and not yet delivered. */
  inFlight = 0;
  /** Messages delivered so far. */
  delivered = 0;

  async add(name: string, seed: Uint8Array, location: string, options: RuntimeOptions = {}): Promise<LoopbackNode> {
    const node = new LoopbackNode(this, name, Identity.fromSeed(seed));
    node.runtime = await FunderRuntime.open(location, node.identity, {
      sendFriend: (friend, bytes) => this.deliver(node, friend, bytes),
      toApp: (_appId, message) => {
        for (const listener of node.listeners) listener(message);
      },
      peerFault: () => {
        node.faults++;
      },
    }, options);
    this.nodes.set(idKey(node.pk), node);
    return node;
  }

  private deliver(from: LoopbackNode, to: PublicKey, bytes: Uint8Array): void {
    this.inFlight++;
    setImmediate(() => {
      this.inFlight--;
      const target = this.nodes.get(idKey(to));
      if (!this.open || target === undefined) return;
      this.delivered++;
      const decoded = decodeFriendMessage(bytes);
      if (!decoded.ok) {
        target.faults++;
        return;
      }
      target.submit({ kind: 'friendMessage', friend: from.pk, message: decoded.value });
    });
  }

  /** Reports every friendship between loaded nodes as connected. */
  connectAll(): void {
    for (const node of this.nodes.values()) {
      for (const friend of node.runtime.state.friends.values()) {
        if (this.nodes.has(friend.key)) node.submit({ kind: 'friendOnline', friend: friend.publicKey });
      }
    }
  }

  /** Resolves when every pair of loaded friends has `currency` active on both sides. */
  async ready(currency: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok = true;
      for (const node of this.nodes.values()) {
        for (const friend of node.runtime.state.friends.values()) {
          if (this.nodes.has(friend.key) && !friend.channel.mutualCredits.has(currency)) ok = false;
        }
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error('channels did not become ready');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Resolves when no message is in flight and every store write has completed. */
  async quiet(): Promise<void> {
    for (;;) {
      for (const node of this.nodes.values()) await node.runtime.drain();
      if (this.inFlight === 0 && [...this.nodes.values()].every((n) => n.runtime.idle())) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async close(): Promise<void> {
    this.open = false;
    for (const node of this.nodes.values()) await node.runtime.close();
  }
}

/** Makes two loaded nodes friends in `currency` with the given trust both ways, if not yet. */
export function befriend(a: LoopbackNode, b: LoopbackNode, currency: string, trust: bigint): void {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    if (x.runtime.state.friends.has(idKey(y.pk))) continue;
    x.command({ kind: 'addFriend', publicKey: y.pk, name: y.name, relays: [] });
    x.command({ kind: 'enableFriend', publicKey: y.pk });
    x.command({ kind: 'setMaxDebt', publicKey: y.pk, currency, remoteMaxDebt: trust });
    x.command({ kind: 'openCurrency', publicKey: y.pk, currency });
  }
}

export interface PaymentPlan {
  readonly buyer: LoopbackNode;
  readonly seller: LoopbackNode;
  readonly route: readonly LoopbackNode[];
  readonly currency: string;
  readonly amount: bigint;
  readonly fees: bigint;
}

function idFor(n: number, length: number, tag: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, n);
  out[length - 1] = tag;
  return out;
}

export interface PaymentRunResult {
  readonly succeeded: number;
  readonly canceled: number;
  readonly latenciesMs: number[];
}

/**
 * Drives payments 1..count with at most `window` in flight, as a buyer app and a seller app
 * would: invoice, payment, one transaction, close request; the commit is handed to the seller.
 * Payments the buyer already knows (after a restart) are resumed rather than recreated.
 */
export function runPayments(plan: PaymentPlan, count: number, window: number, now: () => number = () => performance.now(), firstId = 0): Promise<PaymentRunResult> {
  const { buyer, seller } = plan;
  const started = new Map<string, number>();
  const latenciesMs: number[] = [];
  let succeeded = 0;
  let canceled = 0;
  let next = 1;
  let inFlight = 0;
  return new Promise((resolve) => {
    const finishOne = (key: string, ok: boolean): void => {
      if (!started.has(key)) return;
      const t0 = started.get(key)!;
      started.delete(key);
      inFlight--;
      if (ok) {
        succeeded++;
        latenciesMs.push(now() - t0);
      } else canceled++;
      pump();
    };
    buyer.listeners.push((m) => {
      if (m.kind === 'transactionResult' && m.outcome.kind === 'complete') seller.command({ kind: 'commitInvoice', commit: m.outcome.commit });
      if (m.kind === 'transactionResult' && m.outcome.kind === 'failure') seller.command({ kind: 'cancelInvoice', invoiceId: invoiceOf(m.paymentId) });
      if (m.kind === 'paymentStatus' && m.status.kind !== 'inProgress') finishOne(idKey(m.paymentId), m.status.kind === 'success');
    });
    const invoiceOf = (paymentId: Uint8Array): Uint8Array => {
      const id = new Uint8Array(32);
      id.set(paymentId.subarray(0, 4));
      id[31] = 2;
      return id;
    };
    const start = (i: number): void => {
      const n = firstId + i;
      const paymentId = idFor(n, 16, 1);
      const key = idKey(paymentId);
      started.set(key, now());
      inFlight++;
      const existing = buyer.runtime.state.payments.get(key);
      if (existing === undefined) {
        const invoiceId = invoiceOf(paymentId);
        seller.command({ kind: 'addInvoice', invoiceId, currency: plan.currency, totalDestPayment: plan.amount });
        buyer.command({ kind: 'createPayment', paymentId, invoiceId, currency: plan.currency, totalDestPayment: plan.amount, destPublicKey: seller.pk });
        buyer.command({ kind: 'createTransaction', paymentId, requestId: idFor(n, 16, 3), route: plan.route.map((r) => r.pk), destPayment: plan.amount, fees: plan.fees });
      } else if (existing.commit !== null && existing.receipt === null) {
        // The commit may have been lost with the app's memory: hand it over again.
        seller.command({ kind: 'commitInvoice', commit: existing.commit });
      }
      buyer.command({ kind: 'requestClosePayment', paymentId });
    };
    const pump = (): void => {
      while (inFlight < window && next <= count) start(next++);
      if (inFlight === 0 && next > count) resolve({ succeeded, canceled, latenciesMs });
    };
    pump();
  });
}
