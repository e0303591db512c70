import t from 'tap';
import fc from 'fast-check';
import { SimNet, mc, type SimNode } from './sim.js';
import { idKey, frozenAmount } from '../../src/funder/mutual_credit.js';
import type { Commit } from '../../src/funder/types.js';

/**
 * Random interleavings of payments, deliveries, resends and reconnects between four honest nodes
 * (a-b, b-c, c-d, a-c). Every delivery order across friends is allowed; one connection keeps its
 * own order (as a stream does) but may drop everything in flight on reconnect, after which the
 * last move is sent again. Checked throughout: channels at the same position mirror exactly and
 * pending debts equal the sum of their maps. Checked at the end: nothing frozen, balances within
 * trust, and no node lost credit except what it paid for its own completed payments. Time jumps
 * forward at random too, so deadlines fire while messages are in flight (each message arrives
 * within two seconds, as on an honest network; later ones are the adversaries' test).
 */

const PAIRS: [number, number][] = [[0, 1], [1, 2], [2, 3], [0, 2]];
const ROUTES = [[0, 1], [0, 1, 2], [0, 2, 3], [0, 1, 2, 3], [3, 2, 1, 0], [2, 1, 0], [1, 2, 3], [3, 2, 0], [1, 0, 2, 3]];
const CUR = 'FST';

type Action =
  | { kind: 'pay'; route: number; amount: number; fees: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'resend'; pair: number; dir: boolean }
  | { kind: 'reconnect'; pair: number }
  | { kind: 'commit'; pick: number }
  | { kind: 'tick'; seconds: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pay' as const), route: fc.nat(ROUTES.length - 1), amount: fc.integer({ min: 1, max: 40 }), fees: fc.nat(4) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resend' as const), pair: fc.nat(PAIRS.length - 1), dir: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reconnect' as const), pair: fc.nat(PAIRS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 40 }) }) },
);

function checkPair(x: SimNode, y: SimNode): string | null {
  const fx = x.state.friends.get(idKey(y.pk))!;
  const fy = y.state.friends.get(idKey(x.pk))!;
  for (const [f, side] of [[fx, x], [fy, y]] as const) {
    for (const [cur, m] of f.channel.mutualCredits) {
      let l = 0n;
      let r = 0n;
      for (const tx of m.local.values()) l += frozenAmount(tx.request);
      for (const tx of m.remote.values()) r += frozenAmount(tx.request);
      if (l !== m.localPending || r !== m.remotePending) return `${side.name}/${cur}: pending debts do not match their maps`;
    }
  }
  if (fx.channel.moveTokenCounter !== fy.channel.moveTokenCounter) return null;
  for (const [cur, mx] of fx.channel.mutualCredits) {
    const my = fy.channel.mutualCredits.get(cur);
    if (my === undefined) return `${cur} active on one side only`;
    if (mx.balance !== -my.balance) return `${x.name}-${y.name} balances not opposite: ${mx.balance} vs ${my.balance}`;
    if (mx.localPending !== my.remotePending || mx.remotePending !== my.localPending) return `${x.name}-${y.name} pending debts not mirrored`;
    if ([...mx.local.keys()].sort().join() !== [...my.remote.keys()].sort().join()) return 'pending maps not mirrored';
  }
  return null;
}

const totals = { receipts: 0, payments: 0 };

function scenario(actions: Action[], seed: number): string | null {
  const net = new SimNet(`prop-${seed}`);
  const nodes = ['a', 'b', 'c', 'd'].map((n) => net.add(n));
  const trust = [60n, 80n, 100n, 70n];
  for (const [i, [x, y]] of PAIRS.entries()) net.befriend(nodes[x], nodes[y], CUR, trust[i], trust[(i + 1) % 4]);
  nodes[1].app({ kind: 'setRate', publicKey: nodes[0].pk, currency: CUR, rate: { mul: 0, add: 1 } });
  nodes[2].app({ kind: 'setRate', publicKey: nodes[1].pk, currency: CUR, rate: { mul: 2 ** 30, add: 0 } });
  nodes[2].app({ kind: 'setRate', publicKey: nodes[3].pk, currency: CUR, rate: { mul: 0, add: 2 } });

  const commits: { seller: SimNode; commit: Commit }[] = [];
  const spent = new Map<string, bigint>();
  const seen = new Set<number>();
  let payments = 0;
  const harvest = (): void => {
    for (const [i, node] of nodes.entries()) {
      node.appInbox.forEach((m, k) => {
        const tag = i * 1_000_000 + k;
        if (seen.has(tag)) return;
        seen.add(tag);
        if (m.kind === 'transactionResult' && m.outcome.kind === 'complete') {
          const seller = nodes.find((n) => n.state.invoices.has(idKey(m.outcome.kind === 'complete' ? m.outcome.commit.invoiceId : new Uint8Array())));
          if (seller !== undefined) commits.push({ seller, commit: m.outcome.commit });
        }
      });
    }
  };
  const reconnect = (x: SimNode, y: SimNode): void => {
    net.queue = net.queue.filter((m) => !((m.from === x && idKey(m.to) === idKey(y.pk)) || (m.from === y && idKey(m.to) === idKey(x.pk))));
    x.handle({ kind: 'friendOffline', friend: y.pk });
    y.handle({ kind: 'friendOffline', friend: x.pk });
    x.handle({ kind: 'friendOnline', friend: y.pk });
    y.handle({ kind: 'friendOnline', friend: x.pk });
  };

  for (const a of actions) {
    switch (a.kind) {
      case 'pay': {
        const route = ROUTES[a.route].map((i) => nodes[i]);
        const buyer = route[0];
        const seller = route[route.length - 1];
        const n = ++payments;
        const invoiceId = new Uint8Array(32);
        invoiceId[0] = n;
        invoiceId[1] = n >> 8;
        const pid = invoiceId.slice(0, 16);
        const rid = invoiceId.slice(0, 16);
        rid[15] = 1;
        seller.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: BigInt(a.amount) });
        buyer.app({ kind: 'createPayment', paymentId: pid, invoiceId, currency: CUR, totalDestPayment: BigInt(a.amount), destPublicKey: seller.pk });
        const code = buyer.app({ kind: 'createTransaction', paymentId: pid, requestId: rid, route: route.map((r) => r.pk), destPayment: BigInt(a.amount), fees: BigInt(a.fees) });
        if (code !== null && code !== 'ERR_FUNDER_FRIEND_NOT_READY' && code !== 'ERR_FUNDER_QUEUE_FULL') return `createTransaction failed: ${code}`;
        break;
      }
      case 'deliver': {
        if (net.queue.length === 0) break;
        const head = net.queue[a.pick % net.queue.length];
        const index = net.queue.findIndex((m) => m.from === head.from && idKey(m.to) === idKey(head.to));
        const [item] = net.queue.splice(index, 1);
        net.deliver(item);
        break;
      }
      case 'resend': {
        const [x, y] = a.dir ? [nodes[PAIRS[a.pair][0]], nodes[PAIRS[a.pair][1]]] : [nodes[PAIRS[a.pair][1]], nodes[PAIRS[a.pair][0]]];
        const ch = x.state.friends.get(idKey(y.pk))!.channel;
        if (ch.direction === 'outgoing' && ch.moveTokenCounter > 0n) net.enqueue(x, y.pk, { kind: 'moveTokenRequest', moveToken: ch.lastOutgoing, tokenWanted: false });
        break;
      }
      case 'reconnect':
        reconnect(nodes[PAIRS[a.pair][0]], nodes[PAIRS[a.pair][1]]);
        break;
      case 'tick':
        // Time passes with messages still in flight, each delivered within two seconds (an
        // honest network): deadlines fire in any interleaving.
        net.advance(a.seconds * 1000, 2_000, () => {
          for (const node of nodes) node.handle({ kind: 'tick' });
        });
        break;
      case 'commit': {
        harvest();
        if (commits.length === 0) break;
        const [c] = commits.splice(a.pick % commits.length, 1);
        c.seller.app({ kind: 'commitInvoice', commit: c.commit });
        break;
      }
    }
    harvest();
    for (const [x, y] of PAIRS) {
      const err = checkPair(nodes[x], nodes[y]);
      if (err !== null) return err;
    }
  }
  // Quiesce: reconnect everything, settle, hand over every commit, cancel what is left.
  for (const [x, y] of PAIRS) reconnect(nodes[x], nodes[y]);
  net.run();
  for (let round = 0; round < 3; round++) {
    harvest();
    for (const c of commits.splice(0)) c.seller.app({ kind: 'commitInvoice', commit: c.commit });
    net.run();
  }
  for (const node of nodes) {
    for (const invoice of [...node.state.invoices.values()]) node.app({ kind: 'cancelInvoice', invoiceId: invoice.invoiceId });
  }
  net.run();
  for (let round = 0; round < 4; round++) {
    net.nowMs += 61_000;
    for (const node of nodes) node.handle({ kind: 'tick' });
    net.run();
  }
  for (const node of nodes) {
    if (node.faults.length > 0) return `${node.name} saw peer faults: ${node.faults.map((f) => f.code).join()}`;
    for (const payment of node.state.payments.values()) {
      if (payment.receipt !== null) {
        for (const tx of payment.txs.values()) if (tx.status === 'collected') spent.set(node.name, (spent.get(node.name) ?? 0n) + tx.destPayment + tx.fees);
      }
    }
  }
  const earnedAsSeller = new Map<string, bigint>();
  for (const node of nodes) {
    for (const payment of node.state.payments.values()) {
      totals.payments++;
      if (payment.receipt === null) continue;
      totals.receipts++;
      const seller = nodes.find((n) => idKey(n.pk) === idKey(payment.destPublicKey))!;
      earnedAsSeller.set(seller.name, (earnedAsSeller.get(seller.name) ?? 0n) + payment.totalDestPayment);
    }
  }
  for (const [i, [x, y]] of PAIRS.entries()) {
    const err = checkPair(nodes[x], nodes[y]);
    if (err !== null) return `at rest: ${err}`;
    const mxy = mc(nodes[x], nodes[y], CUR)!;
    const myx = mc(nodes[y], nodes[x], CUR)!;
    if (mxy.localPending + mxy.remotePending + myx.localPending + myx.remotePending !== 0n) return `credit still frozen between ${nodes[x].name} and ${nodes[y].name}`;
    if (mxy.balance > trust[i] || myx.balance > trust[(i + 1) % 4]) return `balance beyond trust between ${nodes[x].name} and ${nodes[y].name}`;
  }
  for (const node of nodes) {
    let net = 0n;
    for (const f of node.state.friends.values()) net += f.channel.mutualCredits.get(CUR)?.balance ?? 0n;
    const floor = (earnedAsSeller.get(node.name) ?? 0n) - (spent.get(node.name) ?? 0n);
    if (net < floor) return `${node.name} lost credit: net ${net} < ${floor}`;
  }
  return null;
}

t.test('random interleavings keep channels mirrored, within trust, and lose no credit', async (t) => {
  const runs = Number(process.env.FUNDER_PROPERTY_RUNS ?? 60);
  fc.assert(
    fc.property(fc.array(action, { minLength: 20, maxLength: 200, size: 'max' }), fc.nat(1000), (actions, seed) => {
      const err = scenario(actions, seed);
      if (err !== null) throw new Error(err);
    }),
    { numRuns: runs, seed: 4242 },
  );
  t.ok(totals.receipts > runs, `payments completed across runs (${totals.receipts} of ${totals.payments})`);
});
