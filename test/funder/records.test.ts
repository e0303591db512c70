import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import { I128_MAX, I128_MIN, U128_MAX, U64_MAX } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { emptyChangeSet, type ChangeSet } from '../../src/funder/api.js';
import { FunderRuntime } from '../../src/funder/runtime.js';
import { newFunderState, type FunderState } from '../../src/funder/state.js';
import { FunderCorruptRecordError, RecordKeeper, stateFromRecords } from '../../src/funder/store/persist.js';
import {
  decodeChannel, decodeDeadline, decodeFriend, decodeInvoiceStatus, decodeInvoiceTx, encodeInvoiceTx, decodeInvoiceHeader, encodeInvoiceHeader, decodeMove, decodePaymentHeader, decodePaymentStatus,
  decodeQueued, decodeUpstream, encodeChannel, encodeDeadline, encodeFriend, encodeInvoiceStatus, encodeMove,
  encodePaymentHeader, encodePaymentStatus, encodeQueued, encodeUpstream,
} from '../../src/funder/store/records.js';
import { RocksStore } from '../../src/funder/store/rocks.js';
import type { MoveToken, ResetTerms } from '../../src/funder/types.js';
import { SimNet, uid } from './sim.js';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

t.test('every record kind reads back equal to what was written, extremes included', async (t) => {
  const terms: ResetTerms = {
    resetToken: bytes(64, 1), inconsistencyCounter: U64_MAX,
    balanceForReset: [{ currency: 'A', balance: I128_MIN }, { currency: 'ZZZZZZZZZZZZZZZZ', balance: I128_MAX }], signature: bytes(64, 2),
  };
  const friend = {
    publicKey: bytes(32, 3), name: 'bob ☺', relays: [{ publicKey: bytes(32, 4), address: 'relay.example:443' }], enabled: true,
    configs: new Map([['FST', { rate: { mul: 0xffffffff, add: 7 }, remoteMaxDebt: U128_MAX, isOpen: true }], ['X', { rate: { mul: 0, add: 0 }, remoteMaxDebt: 0n, isOpen: false }]]),
    inconsistency: { localTerms: terms, remoteTerms: null }, settledResetTokens: ['ab'.repeat(64)], sentRelaysKey: null, nextSeq: 2 ** 40,
  };
  t.same(decodeFriend(encodeFriend(friend)), friend);
  const friend2 = { ...friend, inconsistency: { localTerms: terms, remoteTerms: terms }, sentRelaysKey: 'k@a', relays: [], configs: new Map() };
  t.same(decodeFriend(encodeFriend(friend2)), friend2);
  const channel = {
    direction: 'outgoing' as const, lastIncomingToken: bytes(64, 5), lastIncomingDigest: null, recentIncoming: ['cd'.repeat(64)], lastIncomingTimeMs: Date.UTC(2100, 0),
    lastIncoming: {
      prefixHash: bytes(32, 1), infoHash: bytes(32, 2), randNonce: bytes(16, 3), newToken: bytes(64, 4), moveTokenCounter: U64_MAX,
      balances: [{ currency: 'A', balance: -7n, localPending: 0n, remotePending: U128_MAX }],
    },
    moveTokenCounter: U64_MAX, inconsistencyCounter: 0n, localAnnounced: ['A', 'B'], remoteAnnounced: [],
    balances: [{ currency: 'A', balance: -1n, localPending: U128_MAX, remotePending: 0n }, { currency: 'B', balance: I128_MIN, localPending: 1n, remotePending: 256n }],
  };
  t.same(decodeChannel(encodeChannel(channel)), channel);
  const move: MoveToken = {
    oldToken: bytes(64, 6),
    ops: [
      { currency: 'A', op: { kind: 'request', requestId: bytes(16, 7), srcHashedLock: bytes(32, 8), route: [bytes(32, 9), bytes(32, 10)], destPayment: U128_MAX, totalDestPayment: 2n ** 100n, invoiceId: bytes(32, 11), leftFees: 0n, ttlMs: 60_000 } },
      { currency: 'A', op: { kind: 'response', requestId: bytes(16, 12), destHashedLock: bytes(32, 13), isComplete: true, randNonce: bytes(16, 14), signature: bytes(64, 15) } },
      { currency: 'B', op: { kind: 'cancel', requestId: bytes(16, 16) } },
      { currency: 'B', op: { kind: 'collect', requestId: bytes(16, 17), srcPlainLock: bytes(32, 18), destPlainLock: bytes(32, 19) } },
      { currency: 'B', op: { kind: 'expire', requestId: bytes(16, 20) } },
    ],
    relays: null, activeCurrencies: ['A', 'B'], infoHash: bytes(32, 21), randNonce: bytes(16, 22), newToken: bytes(64, 23), timeMs: Date.UTC(2100, 0),
  };
  t.same(decodeMove(encodeMove(move)), move);
  const queued = { queue: 'userRequests' as const, currency: 'A', op: move.ops[0].op, seq: 12 };
  t.same(decodeQueued(encodeQueued(queued), 12), queued);
  for (const up of [{ kind: 'friend', friendKey: 'ee'.repeat(32), currency: 'Q' }, { kind: 'payment', paymentKey: '01'.repeat(16) }, { kind: 'orphan' }] as const) {
    t.same(decodeUpstream(encodeUpstream(up)), up);
  }
  for (const abandoned of [false, true]) {
    const deadline = { friendKey: '0f'.repeat(32), currency: 'A', deadlineMs: Date.UTC(2100, 0), abandoned };
    t.same(decodeDeadline(encodeDeadline(deadline)), deadline);
  }
  const invoiceStatus = { completedBy: { responseHash: bytes(32, 2), signature: bytes(64, 3), destPayment: 2n ** 64n, srcHashedLock: bytes(32, 1) } };
  t.same(decodeInvoiceStatus(encodeInvoiceStatus(invoiceStatus)), invoiceStatus);
  const invoiceTx = { friendKey: '0e'.repeat(32), currency: 'A', requestId: bytes(16, 5), destPayment: U128_MAX, srcHashedLock: bytes(32, 6) };
  t.same(decodeInvoiceTx(encodeInvoiceTx(invoiceTx), bytes(16, 5)), invoiceTx);
  const invoiceHeader = { currency: 'A', totalDestPayment: 5n, destPlainLock: bytes(32, 7), owner: 'ab'.repeat(32) };
  t.same(decodeInvoiceHeader(encodeInvoiceHeader(invoiceHeader)), invoiceHeader);
  const header = { invoiceId: bytes(32, 1), currency: 'A', totalDestPayment: 1n, destPublicKey: bytes(32, 2), srcPlainLock: bytes(32, 3), appId: '', owner: 'ab', ackUid: bytes(16, 4) };
  t.same(decodePaymentHeader(encodePaymentHeader(header)), header);
  const status = { closing: true, closeWaiter: 'app-1', commitBy: 'aa'.repeat(16), txs: [['aa'.repeat(16), 'responded'], ['bb'.repeat(16), 'failed']] as const };
  t.same(decodePaymentStatus(encodePaymentStatus(status)), status);
});

/** Every entity of a state, as if each had just changed. */
function everything(state: FunderState): ChangeSet {
  const c = emptyChangeSet();
  c.node = true;
  for (const [key, friend] of state.friends) {
    c.friends.add(key);
    c.channels.add(key);
    for (const [currency, mc] of friend.channel.mutualCredits) {
      for (const rk of mc.local.keys()) c.txs.add(`${key}\0L\0${rk}\0${currency}`);
      for (const rk of mc.remote.keys()) c.txs.add(`${key}\0R\0${rk}\0${currency}`);
    }
    for (const item of [...friend.backwards, ...friend.requests, ...friend.userRequests]) c.queued.set(`${key}\0${item.seq}`, item);
  }
  for (const k of state.upstream.keys()) c.upstream.add(k);
  for (const k of state.downstream.keys()) c.downstream.add(k);
  for (const k of state.deadlines.keys()) c.deadlines.add(k);
  for (const k of state.invoices.keys()) c.invoices.add(k);
  for (const k of state.payments.keys()) c.payments.add(k);
  return c;
}

function persisted(state: FunderState): Map<string, Buffer> {
  const ops = new RecordKeeper().changesToOps(state, everything(state));
  return new Map([...ops].filter((e): e is [string, Buffer] => e[1] !== null).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function withoutVolatile(state: FunderState): unknown {
  const friends = [...state.friends].map(([k, f]) => [k, { ...f, online: false, remoteWantsToken: false, tokenRequested: false, resendPending: false }]);
  return { ...state, friends: new Map(friends as [string, unknown][]) };
}

function richState(): { net: SimNet; states: FunderState[] } {
  const net = new SimNet();
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 1000n, 1000n);
  net.befriend(b, c, 'FST', 1000n, 1000n);
  for (let n = 1; n <= 3; n++) {
    c.app({ kind: 'addInvoice', invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: 10n });
    a.app({ kind: 'createPayment', paymentId: uid(n), invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: 10n, destPublicKey: c.pk });
    a.app({ kind: 'createTransaction', paymentId: uid(n), requestId: uid(100 + n), route: [a.pk, b.pk, c.pk], destPayment: n === 3 ? 4n : 10n, fees: 0n });
  }
  a.app({ kind: 'requestClosePayment', paymentId: uid(1) });
  net.run();
  // Payment 1 committed and collected (a receipt), 2 responded, 3 partly paid; then one request left queued.
  const done = a.appInbox.find((m) => m.kind === 'transactionResult' && m.requestId[3] === 101);
  if (done?.kind === 'transactionResult' && done.outcome.kind === 'complete') c.app({ kind: 'commitInvoice', commit: done.outcome.commit });
  net.run();
  c.app({ kind: 'addInvoice', invoiceId: uid(9, 32), currency: 'FST', totalDestPayment: 5n });
  a.app({ kind: 'createPayment', paymentId: uid(9), invoiceId: uid(9, 32), currency: 'FST', totalDestPayment: 5n, destPublicKey: c.pk });
  a.app({ kind: 'createTransaction', paymentId: uid(9), requestId: uid(109), route: [a.pk, b.pk, c.pk], destPayment: 5n, fees: 0n });
  for (let i = 0; i < 3 && net.queue.length > 0; i++) net.deliver(net.queue.shift()!);
  return { net, states: [a.state, b.state, c.state] };
}

t.test('a whole state written as records reads back equal', async (t) => {
  const { states } = richState();
  const [a, , c] = states;
  t.ok([...a.payments.values()].some((p) => p.receipt !== null), 'the state holds a receipt');
  t.ok([...a.payments.values()].some((p) => p.commit !== null && p.receipt === null), 'and a commit without receipt');
  t.ok([...c.invoices.values()].some((i) => i.txs.size > 0), 'and an invoice with accepted transactions');
  for (const state of states) {
    const records = persisted(state);
    const back = stateFromRecords(newFunderState(state.localPublicKey), records, new RecordKeeper());
    t.same(withoutVolatile(back), withoutVolatile(state));
    // Written again from what was read, nothing differs, and a keeper that loaded them writes nothing.
    t.same(persisted(back), records);
    const keeper = new RecordKeeper();
    const loaded = stateFromRecords(newFunderState(state.localPublicKey), records, keeper);
    const again = keeper.changesToOps(loaded, everything(loaded));
    t.same([...again.keys()].filter((k) => !k.startsWith('c/') && !k.startsWith('f/') && k !== 'n'), [], 'nothing unchanged is rewritten');
  }
});

t.test('a corrupt record stops the load with an error naming its key, never a crash', async (t) => {
  const { states } = richState();
  const records = persisted(states[0]);
  const keys = [...records.keys()];
  const pick = (kind: string): string => keys.find((k) => k.startsWith(kind))!;
  const cases: [string, (v: Buffer) => Buffer][] = [
    [pick('c/'), (v) => v.subarray(0, v.length - 3)],
    [pick('p/'), (v) => Buffer.concat([v, Buffer.from([0])])],
    [pick('m/'), (v) => Buffer.from([9, ...v.subarray(1)])],
    [pick('r/'), () => serialize({ closing: true })],
    [pick('t/'), () => Buffer.alloc(0)],
    [pick('u/'), (v) => Buffer.from([v[0], 77])],
  ];
  for (const [key, corrupt] of cases) {
    const copy = new Map(records);
    copy.set(key, corrupt(records.get(key)!));
    let error: unknown = null;
    try {
      stateFromRecords(newFunderState(states[0].localPublicKey), copy, new RecordKeeper());
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof FunderCorruptRecordError, `${key}: a typed error`);
    t.equal((error as FunderCorruptRecordError).code, 'ERR_FUNDER_CORRUPT_RECORD');
    t.match((error as Error).message, key, 'the message names the key');
  }
});

t.test('a runtime refuses a database holding a corrupt record, naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'funder-records-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const identity = Identity.fromSeed(bytes(32, 1));
  const sink = { sendFriend: () => {}, toApp: () => {} };
  const runtime = await FunderRuntime.open(dir, identity, sink);
  runtime.submit({ kind: 'app', appId: 'x', owner: 'x', appRequestId: '1', command: { kind: 'addFriend', publicKey: bytes(32, 2), name: 'b', relays: [] } });
  await runtime.close();
  const store = await RocksStore.open(dir);
  const key = [...(await store.readAll()).keys()].find((k) => k.startsWith('c/'))!;
  await store.write([{ type: 'put', key, value: serialize({ direction: 'incoming' }) }]);
  await store.close();
  await t.rejects(FunderRuntime.open(dir, identity, sink), { code: 'ERR_FUNDER_CORRUPT_RECORD', message: new RegExp(key) });
  // The store was closed again: a second attempt meets the same error, not a lock.
  await t.rejects(FunderRuntime.open(dir, identity, sink), { code: 'ERR_FUNDER_CORRUPT_RECORD' });
});
