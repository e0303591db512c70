import t from 'tap';
import { U128_MAX, U64_MAX } from '../../src/common/bytes.js';
import { handleEvent } from '../../src/funder/handler.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { prefixHash, tokenInfoHash } from '../../src/funder/signing.js';
import { beginMove } from '../../src/funder/token_channel.js';
import type { AppCommand } from '../../src/funder/api.js';
import { SimNet, mc, pay, uid, type SimNode } from './sim.js';
import { CancelReason } from '../../src/funder/types.js';
import { COLLECT_WINDOW_MS, GIVE_UP_AFTER_MS, HOP_TTL_MARGIN_MS } from '../../src/funder/constants.js';

/** One test per defect found in the original implementation (offset-credit.md §9). */

function setupPayment(buyer: SimNode, seller: SimNode, n: number, total: bigint): void {
  seller.app({ kind: 'addInvoice', invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: total });
  buyer.app({ kind: 'createPayment', paymentId: uid(n), invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: total, destPublicKey: seller.pk });
}

t.test('a buyer app cannot crash the node: oversized parts, overflowing fees and junk get typed errors', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  setupPayment(a, b, 1, 10n);
  const tx = (destPayment: bigint, fees: bigint, route = [a.pk, b.pk]): string | null =>
    a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(77), route, destPayment, fees });
  t.equal(tx(11n, 0n), 'ERR_FUNDER_BAD_ARGUMENT', 'part larger than the total');
  t.equal(tx(10n, U128_MAX), 'ERR_FUNDER_BAD_ARGUMENT', 'amount plus fees overflows u128');
  t.equal(tx(10n, -1n), 'ERR_FUNDER_BAD_ARGUMENT', 'negative fees');
  t.equal(tx(10n, 0n, [a.pk]), 'ERR_FUNDER_BAD_ROUTE');
  t.equal(tx(10n, 0n, [b.pk, a.pk]), 'ERR_FUNDER_BAD_ROUTE');
  t.equal(tx(10n, 0n, [a.pk, new Uint8Array(5)]), 'ERR_FUNDER_BAD_ROUTE');
  const junk = [
    { kind: 'nonsense' },
    { kind: 'addFriend', publicKey: 'not bytes', name: 3, relays: null },
    { kind: 'setMaxDebt', publicKey: b.pk, currency: 'FST', remoteMaxDebt: U128_MAX + 1n },
    { kind: 'setRate', publicKey: b.pk, currency: 'FST', rate: { mul: -1, add: 0 } },
    { kind: 'openCurrency', publicKey: b.pk, currency: 'SEVENTEEN-BYTES!!' },
    { kind: 'openCurrency', publicKey: b.pk, currency: '' },
    { kind: 'commitInvoice', commit: null },
    { kind: 'createTransaction' },
  ] as unknown as AppCommand[];
  for (const command of junk) t.equal(a.app(command), 'ERR_FUNDER_BAD_ARGUMENT', JSON.stringify(command, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  t.equal(tx(10n, 0n), null, 'a valid transaction still goes through');
  net.run();
  t.equal(mc(a, b, 'FST')!.localPending, 10n);
});

t.test('late answers for a removed friend are settled locally and crash nothing', async (t) => {
  const net = new SimNet();
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  setupPayment(a, c, 1, 10n);
  a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(5), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n });
  let steps = 0;
  while (mc(c, b, 'FST')!.remote.size === 0 && steps++ < 100) net.deliver(net.queue.shift()!);
  t.equal(mc(c, b, 'FST')!.remote.size, 1, 'the request reached the seller');
  t.equal(b.app({ kind: 'removeFriend', publicKey: a.pk }), null);
  net.run();
  t.equal(b.state.upstream.get(idKey(uid(5)))?.kind, 'orphan', 'the response came back to an orphan');
  t.equal(c.app({ kind: 'cancelInvoice', invoiceId: uid(1, 32) }), null);
  net.run();
  t.equal(b.state.upstream.size, 0);
  t.equal(mc(b, c, 'FST')!.localPending, 0n);
  t.equal(mc(c, b, 'FST')!.remotePending, 0n);
  t.same([b.faults, c.faults], [[], []]);
});

t.test('the same request id from two friends is forwarded once and the next channel stays consistent', async (t) => {
  const net = new SimNet();
  const [a, d, b, c] = ['a', 'd', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(d, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  c.app({ kind: 'addInvoice', invoiceId: uid(1, 32), currency: 'FST', totalDestPayment: 10n });
  c.app({ kind: 'addInvoice', invoiceId: uid(2, 32), currency: 'FST', totalDestPayment: 10n });
  a.app({ kind: 'createPayment', paymentId: uid(1), invoiceId: uid(1, 32), currency: 'FST', totalDestPayment: 10n, destPublicKey: c.pk });
  d.app({ kind: 'createPayment', paymentId: uid(2), invoiceId: uid(2, 32), currency: 'FST', totalDestPayment: 10n, destPublicKey: c.pk });
  t.equal(a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(9), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n }), null);
  t.equal(d.app({ kind: 'createTransaction', paymentId: uid(2), requestId: uid(9), route: [d.pk, b.pk, c.pk], destPayment: 10n, fees: 0n }), null);
  net.run();
  const results = [a, d].map((n) => n.appInbox.find((m) => m.kind === 'transactionResult'));
  t.same(results.map((r) => r?.kind === 'transactionResult' && r.outcome.kind).sort(), ['complete', 'failure']);
  t.same([b.faults, c.faults], [[], []], 'no move was rejected');
  t.equal(b.state.friends.get(idKey(c.pk))!.inconsistency, null);
});

t.test('strings are hashed with their length, so different currency lists never collide', async (t) => {
  const base = { oldToken: new Uint8Array(64), ops: [], relays: null, timeMs: 0 };
  t.not(Buffer.from(prefixHash({ ...base, activeCurrencies: ['AB', 'C'] })).toString('hex'), Buffer.from(prefixHash({ ...base, activeCurrencies: ['A', 'BC'] })).toString('hex'));
  const info = (names: string[]) => tokenInfoHash({
    localPublicKey: new Uint8Array(32), remotePublicKey: new Uint8Array(32), inconsistencyCounter: 0n, moveTokenCounter: 0n,
    balances: names.map((currency) => ({ currency, balance: 0n, localPending: 0n, remotePending: 0n })),
  });
  t.not(Buffer.from(info(['AB', 'C'])).toString('hex'), Buffer.from(info(['A', 'BC'])).toString('hex'));
});

t.test('the move counter never wraps: at its maximum the channel refuses to move on both sides', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  const fa = a.state.friends.get(idKey(b.pk))!;
  const fb = b.state.friends.get(idKey(a.pk))!;
  fa.channel.moveTokenCounter = U64_MAX - 1n;
  fb.channel.moveTokenCounter = U64_MAX - 1n;
  const holder = fa.channel.direction === 'incoming' ? a : b;
  const other = holder === a ? b : a;
  holder.handle({ kind: 'friendOffline', friend: other.pk });
  holder.handle({ kind: 'friendOnline', friend: other.pk });
  net.run();
  t.equal(fa.channel.moveTokenCounter, U64_MAX, 'the last move is still allowed');
  t.equal(fb.channel.moveTokenCounter, U64_MAX);
  const now = fa.channel.direction === 'incoming' ? fa : fb;
  t.equal(beginMove(now.channel, null, net.nowMs), null, 'no move past the maximum');
  t.same([a.faults, b.faults], [[], []]);
});

t.test('an event persists only the entities it touched, never the whole state', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  for (let i = 0; i < 20; i++) {
    const f = net.add(`f${i}`);
    net.befriend(a, f, 'FST', 10n, 10n);
  }
  net.befriend(a, b, 'FST', 100n, 100n);
  setupPayment(a, b, 1, 3n);
  const out = handleEvent(a.state, a.env, { kind: 'app', appId: 'app', owner: 'app', appRequestId: '1', command: { kind: 'createTransaction', paymentId: uid(1), requestId: uid(3), route: [a.pk, b.pk], destPayment: 3n, fees: 0n } }, net.nowMs);
  t.ok(out.changes.friends.size <= 1 && out.changes.channels.size <= 1, 'one friend record at most');
  t.equal(out.changes.payments.size, 1);
  t.ok(out.changes.txs.size <= 1);
});

t.test('failures reach the app: a cancelled transaction and a cancelled payment are reported', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  a.app({ kind: 'createPayment', paymentId: uid(1), invoiceId: uid(99, 32), currency: 'FST', totalDestPayment: 5n, destPublicKey: b.pk });
  a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(2), route: [a.pk, b.pk], destPayment: 5n, fees: 0n });
  net.run();
  const result = a.appInbox.find((m) => m.kind === 'transactionResult');
  t.equal(result?.kind === 'transactionResult' && result.outcome.kind, 'failure', 'unknown invoice: failure result');
  t.equal(a.app({ kind: 'requestClosePayment', paymentId: uid(1) }), null);
  const status = a.appInbox.findLast((m) => m.kind === 'paymentStatus');
  t.equal(status?.kind === 'paymentStatus' && status.status.kind, 'canceled');
  t.equal(a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(3), route: [a.pk, b.pk], destPayment: 5n, fees: 0n }), 'ERR_FUNDER_PAYMENT_CLOSED');
  t.equal(mc(a, b, 'FST')!.balance, 0n);
  void pay;
});

t.test('a request behind an unreachable hop is released at the deadlines, hop by hop, and the late hop answers with a cancel', async (t) => {
  const net = new SimNet();
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  setupPayment(a, c, 1, 10n);
  a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(5), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n });
  // The link from b to c breaks right after b sent the request: everything b sends c is lost.
  let cut = false;
  const enqueue = net.enqueue.bind(net);
  net.enqueue = (from, to, message) => {
    if (!(cut && from === b && idKey(to) === idKey(c.pk))) enqueue(from, to, message);
  };
  let steps = 0;
  while (mc(b, c, 'FST')!.local.size === 0 && steps++ < 100) net.deliver(net.queue.shift()!);
  cut = true;
  net.queue = net.queue.filter((m) => m.from !== b || idKey(m.to) !== idKey(c.pk));
  net.run();
  t.equal(mc(a, b, 'FST')!.localPending, 10n);
  for (let i = 0; i < 70; i++) {
    net.nowMs += 1000;
    for (const n of [a, b, c]) n.handle({ kind: 'tick' });
    net.run();
  }
  t.equal(mc(a, b, 'FST')!.localPending, 0n, 'b gave up on c and released a before a could withdraw');
  t.equal(mc(b, c, 'FST')!.localPending, 10n, 'towards c it stays frozen until c can be told');
  t.ok(b.state.deadlines.get(idKey(uid(5)))?.abandoned, 'and b refuses any answer from c from now on');
  const results = a.appInbox.filter((m) => m.kind === 'transactionResult');
  t.equal(results.length, 1);
  t.same(results[0].kind === 'transactionResult' && results[0].outcome, { kind: 'failure', cause: { reason: CancelReason.Expired, local: false } });
  cut = false;
  b.handle({ kind: 'friendOffline', friend: c.pk });
  c.handle({ kind: 'friendOffline', friend: b.pk });
  b.handle({ kind: 'friendOnline', friend: c.pk });
  c.handle({ kind: 'friendOnline', friend: b.pk });
  net.run();
  // The request reaches c long after its deadline: c cancels it rather than answer too late.
  t.equal(mc(b, c, 'FST')!.localPending, 0n);
  t.equal(mc(c, b, 'FST')!.remotePending, 0n);
  t.equal(b.state.deadlines.size, 0);
  t.same([a.faults, b.faults, c.faults], [[], [], []], 'no disagreement');
  t.equal(a.appInbox.filter((m) => m.kind === 'transactionResult').length, 1, 'the buyer heard once');
});

t.test('a request queued behind an unreachable hop is cancelled at its deadline', async (t) => {
  const net = new SimNet();
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  setupPayment(a, c, 1, 10n);
  // c holds the b-c token (b just announced a new currency to it); c stays online but nothing it sends arrives.
  if (b.state.friends.get(idKey(c.pk))!.channel.direction === 'incoming') {
    b.app({ kind: 'openCurrency', publicKey: c.pk, currency: 'XYZ' });
    net.run();
  }
  t.equal(b.state.friends.get(idKey(c.pk))!.channel.direction, 'outgoing');
  a.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(5), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n });
  const enqueue = net.enqueue.bind(net);
  net.enqueue = (from, to, message) => {
    if (from !== c) enqueue(from, to, message);
  };
  net.run();
  t.equal(b.state.friends.get(idKey(c.pk))!.requests.length, 1, 'queued at b');
  for (let i = 0; i < 70; i++) {
    net.nowMs += 1000;
    for (const n of [a, b, c]) n.handle({ kind: 'tick' });
    net.run();
  }
  const results = a.appInbox.filter((m) => m.kind === 'transactionResult');
  t.equal(results.length, 1, 'the buyer hears exactly once');
  t.equal(results[0].kind === 'transactionResult' && results[0].outcome.kind, 'failure');
  t.equal(mc(a, b, 'FST')!.localPending, 0n, 'credit released between buyer and first hop');
});

t.test('an answered payment left uncollected is given up on after the collect window, and a commit that late is refused', async (t) => {
  const net = new SimNet('collect-window');
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  const { commit } = pay(net, a, c, [a, b, c], 1, 10n, 0n);
  t.ok(commit, 'the seller answered');
  const pending = [...mc(c, b, 'FST')!.remote.values()][0];
  net.advance(pending.deadlineMs + COLLECT_WINDOW_MS - GIVE_UP_AFTER_MS - net.nowMs, 1_000, () => {
    for (const n of [a, b, c]) n.handle({ kind: 'tick' });
  });
  t.equal(c.app({ kind: 'commitInvoice', commit: commit! }), 'ERR_FUNDER_COMMIT_EXPIRED', 'the seller refuses to collect this late');
  net.advance(2 * HOP_TTL_MARGIN_MS, 1_000, () => {
    for (const n of [a, b, c]) n.handle({ kind: 'tick' });
  });
  t.equal(mc(a, b, 'FST')!.localPending, 0n, 'the buyer is released');
  t.equal(mc(b, c, 'FST')!.localPending, 0n, 'and so is the forwarder');
  t.equal(mc(c, b, 'FST')!.balance, 0n, 'nobody paid');
  const failure = a.appInbox.findLast((m) => m.kind === 'transactionResult');
  t.same(failure?.kind === 'transactionResult' && failure.outcome, { kind: 'failure', cause: { reason: CancelReason.Expired, local: false } });
  t.same([a.faults, b.faults, c.faults], [[], [], []]);
});
