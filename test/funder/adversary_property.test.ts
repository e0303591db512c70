import t from 'tap';
import fc from 'fast-check';
import { COLLECT_WINDOW_MS, MAX_REQUEST_TTL_MS } from '../../src/funder/constants.js';
import { frozenAmount, idKey } from '../../src/funder/mutual_credit.js';
import type { Commit } from '../../src/funder/types.js';
import { Adversary, collusiveCommit, worth } from './adversary.js';
import { SimNet, mc, type SimNode } from './sim.js';

/**
 * Random schedules of honest payments and malicious moves. Honest nodes a (buyer), h (forwarder)
 * and s (seller) share the network with two colluding adversaries, m1 and m2, who run the honest
 * core but may at any time withhold everything towards a friend (and so keep its token), send
 * it again an older message, withdraw a request they sent (stamped now, or at its deadline
 * whatever the clock says), and commit each other's invoices with the buyer's shared lock.
 * Honest messages arrive within two seconds.
 *
 * Checked at the end, after every deadline has passed: an honest node's worth (balances, or what
 * its reset terms claim where a friend forced a dispute) moved only by its own payments (the
 * forwarder never lost), honest neighbours never disagreed, and the channels between honest
 * nodes are consistent, mirrored and hold no frozen credit.
 */

const CUR = 'FST';
const NAMES = ['a', 'h', 's', 'm1', 'm2'] as const;
const A = 0;
const H = 1;
const S = 2;
const M1 = 3;
const M2 = 4;
const HONEST = [A, H, S];
const PAIRS: [number, number][] = [[A, H], [A, M1], [M1, H], [H, M2], [M2, S], [H, S]];
const ROUTES = [
  [A, H, S], [A, M1, H, S], [A, H, M2, S], [A, M1, H, M2, S], [M1, H, M2], [M1, H, S], [A, H, M2], [A, M1, H, M2],
];
/** Adversary and one of its friends: m1-a, m1-h, m2-h, m2-s. */
const EDGES: [number, number][] = [[M1, A], [M1, H], [M2, H], [M2, S]];

type Action =
  | { kind: 'pay'; route: number; amount: number; fees: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'tick'; seconds: number }
  | { kind: 'commit'; pick: number }
  | { kind: 'withhold'; edge: number }
  | { kind: 'release'; edge: number; drop: boolean }
  | { kind: 'replay'; edge: number; back: number; wanted: boolean }
  | { kind: 'withdraw'; edge: number; pick: number; atDeadline: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pay' as const), route: fc.nat(ROUTES.length - 1), amount: fc.integer({ min: 1, max: 30 }), fees: fc.nat(3) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 90 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('withhold' as const), edge: fc.nat(EDGES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), edge: fc.nat(EDGES.length - 1), drop: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), edge: fc.nat(EDGES.length - 1), back: fc.integer({ min: 1, max: 4 }), wanted: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), edge: fc.nat(EDGES.length - 1), pick: fc.nat(), atDeadline: fc.boolean() }) },
);

const totals = { attacks: 0, disputes: 0, payments: 0, completed: 0 };

function scenario(actions: Action[], seed: number): string | null {
  const net = new SimNet(`adv-prop-${seed}`);
  const nodes = NAMES.map((n) => net.add(n));
  for (const [x, y] of PAIRS) net.befriend(nodes[x], nodes[y], CUR, 80n, 80n);
  nodes[H].app({ kind: 'setRate', publicKey: nodes[A].pk, currency: CUR, rate: { mul: 0, add: 1 } });
  nodes[H].app({ kind: 'setRate', publicKey: nodes[M1].pk, currency: CUR, rate: { mul: 0, add: 1 } });
  const adversaries = new Map<number, Adversary>([[M1, new Adversary(net, nodes[M1])], [M2, new Adversary(net, nodes[M2])]]);
  const withheld = new Set<number>();
  const commits: { seller: SimNode; commit: Commit }[] = [];
  /** Invoices of m2 that m1 pays: m2 commits them with m1's lock as soon as it can. */
  const collusions: Uint8Array[] = [];
  const seen = new Set<string>();
  let payments = 0;

  const harvest = (): void => {
    for (const buyer of nodes) {
      buyer.appInbox.forEach((m, k) => {
        const tag = `${buyer.name}/${k}`;
        if (seen.has(tag) || m.kind !== 'transactionResult' || m.outcome.kind !== 'complete') return;
        seen.add(tag);
        const commit = m.outcome.commit;
        const seller = nodes.find((n) => n.state.invoices.has(idKey(commit.invoiceId)));
        if (seller !== undefined) commits.push({ seller, commit });
      });
    }
  };
  const tickAll = (): void => {
    for (const node of nodes) node.handle({ kind: 'tick' });
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
        const paymentId = invoiceId.slice(0, 16);
        const requestId = invoiceId.slice(0, 16);
        requestId[15] = 1;
        seller.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: BigInt(a.amount) });
        buyer.app({ kind: 'createPayment', paymentId, invoiceId, currency: CUR, totalDestPayment: BigInt(a.amount), destPublicKey: seller.pk });
        buyer.app({ kind: 'createTransaction', paymentId, requestId, route: route.map((r) => r.pk), destPayment: BigInt(a.amount), fees: BigInt(a.fees * (route.length - 2)) });
        // The colluders share the lock at once: m2 may collect before m1 has seen the answer.
        if (buyer === nodes[M1] && seller === nodes[M2]) collusions.push(invoiceId);
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
      case 'tick':
        net.advance(a.seconds * 1000, 2_000, tickAll);
        break;
      case 'commit': {
        harvest();
        const pool = commits.length + collusions.length;
        if (pool === 0) break;
        const pick = a.pick % pool;
        if (pick < commits.length) {
          const [c] = commits.splice(pick, 1);
          c.seller.app({ kind: 'commitInvoice', commit: c.commit });
          break;
        }
        const invoiceId = collusions[pick - commits.length];
        const commit = collusiveCommit(nodes[M2], nodes[M1], invoiceId);
        if (commit === null) break;
        collusions.splice(pick - commits.length, 1);
        totals.attacks++;
        nodes[M2].app({ kind: 'commitInvoice', commit });
        break;
      }
      case 'withhold': {
        const [adv, friend] = EDGES[a.edge];
        if (withheld.has(a.edge)) break;
        withheld.add(a.edge);
        adversaries.get(adv)!.withhold(nodes[friend]);
        totals.attacks++;
        break;
      }
      case 'release': {
        const [adv, friend] = EDGES[a.edge];
        if (!withheld.delete(a.edge)) break;
        adversaries.get(adv)!.release(nodes[friend], !a.drop);
        break;
      }
      case 'replay': {
        const [adv, friend] = EDGES[a.edge];
        if (adversaries.get(adv)!.replay(nodes[friend], a.back, { tokenWanted: a.wanted })) totals.attacks++;
        break;
      }
      case 'withdraw': {
        const [adv, friend] = EDGES[a.edge];
        const mallory = adversaries.get(adv)!;
        const pending = mallory.pendingTo(nodes[friend], CUR);
        if (pending.length === 0) break;
        const target = pending[a.pick % pending.length];
        const timeMs = a.atDeadline ? Math.max(target.dueMs, net.nowMs) : net.nowMs;
        const forged = mallory.forge(nodes[friend], [{ currency: CUR, op: { kind: 'expire', requestId: target.requestId } }], { timeMs });
        if (typeof forged !== 'string') totals.attacks++;
        break;
      }
    }
  }

  // Every deadline passes (the adversaries keep whatever they withhold); honest traffic flows.
  harvest();
  for (const c of commits.splice(0)) c.seller.app({ kind: 'commitInvoice', commit: c.commit });
  net.advance(MAX_REQUEST_TTL_MS + COLLECT_WINDOW_MS + 60_000, 2_000, tickAll);
  net.run();

  const spent = new Map<number, bigint>();
  for (const i of HONEST) {
    for (const payment of nodes[i].state.payments.values()) {
      totals.payments++;
      if (payment.receipt !== null) totals.completed++;
      for (const tx of payment.txs.values()) if (tx.status === 'collected') spent.set(i, (spent.get(i) ?? 0n) + tx.destPayment + tx.fees);
    }
  }
  for (const i of HONEST) {
    const node = nodes[i];
    const honestFaults = node.faults.filter((f) => HONEST.some((j) => idKey(nodes[j].pk) === idKey(f.friend)));
    if (honestFaults.length > 0) return `${node.name} disagreed with an honest neighbour: ${honestFaults.map((f) => f.code).join()}`;
    if (node.faults.length > 0) totals.disputes++;
    const floor = i === S ? 0n : -(spent.get(i) ?? 0n);
    const value = worth(node, CUR);
    if (value < floor) return `${node.name} lost credit: worth ${value} < ${floor}`;
  }
  for (const [x, y] of PAIRS) {
    if (!HONEST.includes(x) || !HONEST.includes(y)) continue;
    const fx = nodes[x].state.friends.get(idKey(nodes[y].pk))!;
    const fy = nodes[y].state.friends.get(idKey(nodes[x].pk))!;
    if (fx.inconsistency !== null || fy.inconsistency !== null) return `${nodes[x].name}-${nodes[y].name} disputed`;
    const mxy = mc(nodes[x], nodes[y], CUR)!;
    const myx = mc(nodes[y], nodes[x], CUR)!;
    if (mxy.balance !== -myx.balance) return `${nodes[x].name}-${nodes[y].name} balances do not mirror`;
    let frozen = 0n;
    for (const m of [mxy, myx]) for (const tx of [...m.local.values(), ...m.remote.values()]) frozen += frozenAmount(tx.request);
    if (frozen !== 0n || mxy.localPending + mxy.remotePending + myx.localPending + myx.remotePending !== 0n) {
      return `credit still frozen between ${nodes[x].name} and ${nodes[y].name} after every deadline`;
    }
  }
  return null;
}

t.test('no schedule of malicious moves makes an honest node lose credit or keeps its credit frozen past the deadlines', async (t) => {
  const runs = Number(process.env.FUNDER_PROPERTY_RUNS ?? 60);
  fc.assert(
    fc.property(fc.array(action, { minLength: 20, maxLength: 150, size: 'max' }), fc.nat(1000), (actions, seed) => {
      const err = scenario(actions, seed);
      if (err !== null) throw new Error(err);
    }),
    { numRuns: runs, seed: Number(process.env.FUNDER_PROPERTY_SEED ?? 1212) },
  );
  t.ok(totals.attacks > runs, `malicious moves made (${totals.attacks}); honest nodes in a dispute with an adversary in ${totals.disputes} node-runs`);
  t.ok(totals.completed > 0, `payments still complete among them (${totals.completed} of ${totals.payments})`);
});
