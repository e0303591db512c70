import { createHash } from 'node:crypto';
import { Identity } from '../../src/crypto/identity.js';
import { handleEvent, type CoreEnv } from '../../src/funder/handler.js';
import type { AppCommand, AppMessage, Effect, FunderEvent, PeerFault } from '../../src/funder/api.js';
import { newFunderState, type FunderState } from '../../src/funder/state.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import type { Commit, FriendMessage, PublicKey } from '../../src/funder/types.js';
import { decodeFriendMessage, encodeFriendMessage } from '../../src/funder/codec.js';

/** Deterministic randomness for replayable scenarios. */
export function seededRandom(seed: string): (length: number) => Uint8Array {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      const n = Math.min(block.length, length - filled);
      out.set(block.subarray(0, n), filled);
      filled += n;
    }
    return out;
  };
}

export class SimNode {
  readonly identity: Identity;
  readonly state: FunderState;
  readonly env: CoreEnv;
  readonly appInbox: AppMessage[] = [];
  readonly faults: PeerFault[] = [];
  private requestCounter = 0;

  constructor(readonly net: SimNet, readonly name: string, seed: string) {
    this.identity = Identity.fromSeed(seededRandom(`id/${seed}/${name}`)(32));
    this.state = newFunderState(this.identity.publicKey);
    this.env = { signer: this.identity, random: seededRandom(`rnd/${seed}/${name}`) };
  }

  get pk(): PublicKey {
    return this.identity.publicKey;
  }

  handle(event: FunderEvent): Effect[] {
    const out = handleEvent(this.state, this.env, event, this.net.nowMs);
    this.faults.push(...out.faults);
    for (const effect of out.effects) {
      if (effect.kind === 'toApp') this.appInbox.push(effect.message);
      else this.net.enqueue(this, effect.friend, effect.message);
    }
    return out.effects;
  }

  /** Runs an app command and returns its ack's error code (null on success); `owner` is the app's identity. */
  app(command: AppCommand, owner = 'app'): string | null {
    const id = String(++this.requestCounter);
    this.handle({ kind: 'app', appId: owner, owner, appRequestId: id, command });
    const ack = this.appInbox.find((m) => m.kind === 'ack' && m.appRequestId === id);
    if (ack === undefined || ack.kind !== 'ack') throw new Error('no ack');
    return ack.error?.code ?? null;
  }
}

export interface InFlight {
  readonly from: SimNode;
  readonly to: PublicKey;
  readonly message: FriendMessage;
  /** The simulated clock when it was sent. */
  readonly sentAtMs: number;
}

export class SimNet {
  nowMs = 1_000_000;
  readonly nodes: SimNode[] = [];
  queue: InFlight[] = [];
  delivered = 0;

  constructor(readonly seed = 'seed') {}

  add(name: string): SimNode {
    const node = new SimNode(this, name, this.seed);
    this.nodes.push(node);
    return node;
  }

  byKey(key: PublicKey): SimNode | undefined {
    return this.nodes.find((n) => idKey(n.pk) === idKey(key));
  }

  /** Every message crosses the real codec, so scenarios also check encode/decode round trips. */
  enqueue(from: SimNode, to: PublicKey, message: FriendMessage): void {
    const decoded = decodeFriendMessage(encodeFriendMessage(message));
    if (!decoded.ok) throw new Error(`codec failed: ${decoded.error.message}`);
    this.queue.push({ from, to, message: decoded.value, sentAtMs: this.nowMs });
  }

  deliver(item: InFlight): void {
    const to = this.byKey(item.to);
    if (to === undefined) return;
    this.delivered++;
    to.handle({ kind: 'friendMessage', friend: item.from.pk, message: item.message });
  }

  /** Delivers in order until quiet; bounded so a livelock fails the test instead of hanging. */
  run(maxMessages = 100_000): number {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > maxMessages) throw new Error('network did not settle');
      this.deliver(this.queue.shift()!);
    }
    return n;
  }

  /**
   * Lets time pass one second at a time over a network that delivers every message within
   * `maxDelayMs` (as an honest network does, well inside the deadlines' margin): messages older
   * than that arrive, in order per connection, before the clock moves on.
   */
  advance(ms: number, maxDelayMs: number, onSecond: () => void = () => undefined): void {
    for (let passed = 0; passed < ms; passed += 1000) {
      this.nowMs += Math.min(1000, ms - passed);
      for (;;) {
        const index = this.queue.findIndex((m) => m.sentAtMs <= this.nowMs - maxDelayMs);
        if (index < 0) break;
        const [item] = this.queue.splice(index, 1);
        this.deliver(item);
      }
      onSecond();
    }
  }

  /** Makes a and b friends with the given trust each way, the currency open, both online. */
  befriend(a: SimNode, b: SimNode, currency: string, aTrustsB: bigint, bTrustsA: bigint): void {
    for (const [x, y, trust] of [[a, b, aTrustsB], [b, a, bTrustsA]] as const) {
      if (x.state.friends.get(idKey(y.pk)) === undefined) {
        x.app({ kind: 'addFriend', publicKey: y.pk, name: y.name, relays: [] });
        x.app({ kind: 'enableFriend', publicKey: y.pk });
      }
      x.app({ kind: 'setMaxDebt', publicKey: y.pk, currency, remoteMaxDebt: trust });
      x.app({ kind: 'openCurrency', publicKey: y.pk, currency });
    }
    a.handle({ kind: 'friendOnline', friend: b.pk });
    b.handle({ kind: 'friendOnline', friend: a.pk });
    this.run();
  }
}

export function mc(a: SimNode, b: SimNode, currency: string) {
  return a.state.friends.get(idKey(b.pk))?.channel.mutualCredits.get(currency);
}

function must(code: string | null): void {
  if (code !== null) throw new Error(`command failed: ${code}`);
}

export function uid(n: number, len = 16): Uint8Array {
  const out = new Uint8Array(len);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Runs one payment over `route` (full keys) and returns the buyer's app messages. */
export function pay(net: SimNet, buyer: SimNode, seller: SimNode, route: SimNode[], n: number, amount: bigint, fees: bigint, currency = 'FST'): { commit: Commit | null } {
  const invoiceId = uid(n, 32);
  must(seller.app({ kind: 'addInvoice', invoiceId, currency, totalDestPayment: amount }));
  must(buyer.app({ kind: 'createPayment', paymentId: uid(n), invoiceId, currency, totalDestPayment: amount, destPublicKey: seller.pk }));
  must(buyer.app({ kind: 'createTransaction', paymentId: uid(n), requestId: uid(n + 1_000_000), route: route.map((r) => r.pk), destPayment: amount, fees }));
  net.run();
  const result = buyer.appInbox.find((m) => m.kind === 'transactionResult' && m.requestId[3] === uid(n + 1_000_000)[3] && m.paymentId[3] === uid(n)[3]);
  if (result?.kind === 'transactionResult' && result.outcome.kind === 'complete') {
    return { commit: result.outcome.commit };
  }
  return { commit: null };
}

