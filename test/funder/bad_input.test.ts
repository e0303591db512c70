import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { SigningDomain } from '../../src/crypto/domains.js';
import { decodeFriendMessage, encodeFriendMessage } from '../../src/funder/codec.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { MAX_OPS_PER_MOVE } from '../../src/funder/constants.js';
import { moveSignedBytes, prefixHash, tokenInfoHash } from '../../src/funder/signing.js';
import { tokenInfo, type TokenChannel } from '../../src/funder/token_channel.js';
import type { CurrencyOp, FriendMessage, MoveToken } from '../../src/funder/types.js';
import { SimNet, mc, pay, type SimNode } from './sim.js';

function channel(x: SimNode, y: SimNode): TokenChannel {
  return x.state.friends.get(idKey(y.pk))!.channel;
}

/** A move that continues the chain `waiter` expects, built as its friend would, signed by `signer`. */
function craftMove(waiter: SimNode, holder: SimNode, ops: CurrencyOp[], signer: Identity, claimBalanceShift = 0n): MoveToken {
  const ch = channel(waiter, holder);
  const mcs = new Map([...ch.mutualCredits].map(([c, m]) => [c, { ...m, balance: m.balance + claimBalanceShift }]));
  const info = tokenInfo(ch, mcs, ch.moveTokenCounter + 1n, 'remote');
  const base = { oldToken: ch.lastOutgoing.newToken, ops, relays: null, activeCurrencies: null, timeMs: waiter.net.nowMs };
  const infoHash = tokenInfoHash(info);
  const randNonce = new Uint8Array(16).fill(7);
  const newToken = signer.sign(SigningDomain.MoveToken, moveSignedBytes(prefixHash(base), infoHash, randNonce));
  return { ...base, infoHash, randNonce, newToken };
}

function snapshot(x: SimNode, y: SimNode): string {
  const ch = channel(x, y);
  const m = ch.mutualCredits.get('FST')!;
  return JSON.stringify([ch.direction, String(ch.moveTokenCounter), String(m.balance), String(m.localPending), String(m.remotePending), x.state.friends.get(idKey(y.pk))!.inconsistency !== null]);
}

function setup(): { net: SimNet; a: SimNode; b: SimNode; waiter: SimNode; holder: SimNode; sent: FriendMessage[] } {
  const net = new SimNet('bad');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  const sent: FriendMessage[] = [];
  const enqueue = net.enqueue.bind(net);
  net.enqueue = (from, to, message) => {
    sent.push(message);
    enqueue(from, to, message);
  };
  const { commit } = pay(net, a, b, [a, b], 1, 10n, 0n);
  b.app({ kind: 'commitInvoice', commit: commit! });
  net.run();
  const waiter = channel(a, b).direction === 'outgoing' ? a : b;
  const holder = waiter === a ? b : a;
  return { net, a, b, waiter, holder, sent };
}

t.test('forged, tampered, replayed and over-limit moves are refused and change nothing', async (t) => {
  const { waiter, holder, sent } = setup();
  const before = snapshot(waiter, holder);
  const mallory = Identity.generate();
  const deliver = (moveToken: MoveToken): void => {
    waiter.handle({ kind: 'friendMessage', friend: holder.pk, message: { kind: 'moveTokenRequest', moveToken, tokenWanted: false } });
  };

  deliver(craftMove(waiter, holder, [], mallory));
  t.equal(waiter.faults.at(-1)?.code, 'ERR_TC_BAD_SIGNATURE', 'forged signature refused');
  t.equal(snapshot(waiter, holder), before);

  const genuine = craftMove(waiter, holder, [], holder.identity);
  deliver({ ...genuine, ops: [{ currency: 'FST', op: { kind: 'cancel', requestId: new Uint8Array(16) } }] });
  t.equal(waiter.faults.at(-1)?.code, 'ERR_TC_BAD_SIGNATURE', 'tampered operations refused');
  t.equal(snapshot(waiter, holder), before);

  const old = sent.find((m) => m.kind === 'moveTokenRequest' && m.moveToken.ops.length > 0 && channel(waiter, holder).recentIncoming.includes(Buffer.from(m.moveToken.newToken).toString('hex')));
  t.ok(old, 'an earlier move of the friend was captured');
  if (old?.kind === 'moveTokenRequest') {
    deliver(old.moveToken);
    t.equal(waiter.faults.at(-1)?.code, 'ERR_TC_UNEXPECTED_MOVE', 'replayed move refused');
    t.equal(snapshot(waiter, holder), before);
  }

  const cancels: CurrencyOp[] = Array.from({ length: MAX_OPS_PER_MOVE + 1 }, (_, i) => ({ currency: 'FST', op: { kind: 'cancel', requestId: new Uint8Array(16).fill(i % 256) } }));
  deliver(craftMove(waiter, holder, cancels, holder.identity));
  t.equal(waiter.faults.at(-1)?.code, 'ERR_TC_TOO_MANY_OPS', `more than ${MAX_OPS_PER_MOVE} operations refused`);
  t.equal(snapshot(waiter, holder), before);

  const faults = waiter.faults.length;
  deliver(genuine);
  t.equal(waiter.faults.length, faults, 'the genuine move is accepted (control)');
  t.not(snapshot(waiter, holder), before);
});

t.test('a signed move that breaks the rules is detected as an inconsistency and credit is unchanged', async (t) => {
  const { waiter, holder } = setup();
  const balance = mc(waiter, holder, 'FST')!.balance;
  const route = Array.from({ length: 32 }, () => Identity.generate().publicKey);
  const request: CurrencyOp = {
    currency: 'FST',
    op: { kind: 'request', requestId: new Uint8Array(16).fill(9), srcHashedLock: new Uint8Array(32), route, destPayment: 1n, totalDestPayment: 1n, invoiceId: new Uint8Array(32), leftFees: 0n, ttlMs: 10_000 },
  };
  waiter.handle({ kind: 'friendMessage', friend: holder.pk, message: { kind: 'moveTokenRequest', moveToken: craftMove(waiter, holder, [request], holder.identity), tokenWanted: false } });
  t.equal(waiter.faults.at(-1)?.code, 'ERR_MC_BAD_ROUTE', 'route of 32 keys refused on receipt');
  t.ok(waiter.state.friends.get(idKey(holder.pk))!.inconsistency, 'inconsistency detected');
  t.equal(mc(waiter, holder, 'FST')!.balance, balance);
  t.equal(mc(waiter, holder, 'FST')!.remotePending, 0n);
});

t.test('an inconsistency is resolved only by a reset on signed terms, after which payments work again', async (t) => {
  const { net, a, b, waiter, holder } = setup();
  // The holder's node claims a balance 3 higher than agreed.
  waiter.handle({ kind: 'friendMessage', friend: holder.pk, message: { kind: 'moveTokenRequest', moveToken: craftMove(waiter, holder, [], holder.identity, 3n), tokenWanted: false } });
  t.equal(waiter.faults.at(-1)?.code, 'ERR_TC_BAD_INFO_HASH');
  net.run();
  const fw = waiter.state.friends.get(idKey(holder.pk))!;
  const fh = holder.state.friends.get(idKey(waiter.pk))!;
  t.ok(fw.inconsistency && fh.inconsistency, 'both sides inconsistent');
  t.ok(fw.inconsistency?.remoteTerms && fh.inconsistency?.remoteTerms, 'each holds the other side\'s signed terms');
  t.equal(fw.inconsistency!.remoteTerms!.balanceForReset[0].balance, -fw.inconsistency!.localTerms.balanceForReset[0].balance, 'terms agree');
  t.equal(holder.app({ kind: 'createTransaction', paymentId: new Uint8Array(16), requestId: new Uint8Array(16), route: [holder.pk, waiter.pk], destPayment: 1n, fees: 0n }), 'ERR_FUNDER_UNKNOWN_PAYMENT');
  t.equal(waiter.app({ kind: 'resetFriendChannel', publicKey: holder.pk, resetToken: new Uint8Array(64) }), 'ERR_FUNDER_BAD_RESET_TOKEN');
  t.equal(waiter.app({ kind: 'resetFriendChannel', publicKey: holder.pk, resetToken: fw.inconsistency!.remoteTerms!.resetToken }), null);
  net.run();
  t.equal(fw.inconsistency, null);
  t.equal(fh.inconsistency, null);
  t.equal(mc(a, b, 'FST')!.balance, -10n);
  t.equal(mc(b, a, 'FST')!.balance, 10n);
  const { commit } = pay(net, a, b, [a, b], 2, 5n, 0n);
  t.ok(commit, 'payment after reset');
  b.app({ kind: 'commitInvoice', commit: commit! });
  net.run();
  t.equal(mc(a, b, 'FST')!.balance, -15n);
  t.equal(mc(b, a, 'FST')!.balance, 15n);
});

t.test('random bytes never decode into a message and never throw', async (t) => {
  let decoded = 0;
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(Math.floor(Math.random() * 300)).map(() => Math.floor(Math.random() * 256));
    if (decodeFriendMessage(bytes).ok) decoded++;
  }
  t.equal(decoded, 0);
  const good = encodeFriendMessage({ kind: 'inconsistencyError', resetTerms: { resetToken: new Uint8Array(64), inconsistencyCounter: 1n, balanceForReset: [{ currency: 'FST', balance: -5n }], signature: new Uint8Array(64) } });
  const round = decodeFriendMessage(good);
  t.ok(round.ok && round.value.kind === 'inconsistencyError' && round.value.resetTerms.balanceForReset[0].balance === -5n);
});

t.test('a reset move lost on the way is sent again after a reconnect', async (t) => {
  const { net, a, b, waiter, holder } = setup();
  waiter.handle({ kind: 'friendMessage', friend: holder.pk, message: { kind: 'moveTokenRequest', moveToken: craftMove(waiter, holder, [], holder.identity, 3n), tokenWanted: false } });
  net.run();
  const fw = waiter.state.friends.get(idKey(holder.pk))!;
  const fh = holder.state.friends.get(idKey(waiter.pk))!;
  t.equal(waiter.app({ kind: 'resetFriendChannel', publicKey: holder.pk, resetToken: fw.inconsistency!.remoteTerms!.resetToken }), null);
  net.queue = [];
  t.ok(fh.inconsistency, 'the friend never saw the reset');
  for (const [x, y] of [[a, b], [b, a]] as const) x.handle({ kind: 'friendOffline', friend: y.pk });
  for (const [x, y] of [[a, b], [b, a]] as const) x.handle({ kind: 'friendOnline', friend: y.pk });
  net.run();
  t.equal(fw.inconsistency, null);
  t.equal(fh.inconsistency, null);
  t.equal(mc(a, b, 'FST')!.balance, -mc(b, a, 'FST')!.balance);
  t.equal(fw.channel.moveTokenCounter, fh.channel.moveTokenCounter);
});
