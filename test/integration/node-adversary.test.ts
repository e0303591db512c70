import t from 'tap';
import { bytesEqual } from '../../src/common/bytes.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { hashLock } from '../../src/funder/signing.js';
import type { NodeReport } from '../../src/node/app_codec.js';
import { TestApp, prepareNode, startNode, startRelay, tempDir } from '../node/app_helper.js';
import { LiveAdversary, eventually } from '../node/live_adversary.js';

/**
 * A real stnode between two colluding friends on a real relay. Mallory pays carol through it,
 * keeps the token once the payment is on its way, and withdraws her request after carol answered
 * (stamped at its deadline, long before that really is). Carol then collects with mallory's lock.
 * The node must refuse the withdrawal, so that what carol takes from it stays claimed from mallory.
 */

const CUR = 'FST';

/** The node's worth from its report: balances, or its own reset terms where a friend forced a dispute. */
function worth(report: NodeReport): bigint {
  let total = 0n;
  for (const f of report.friends) {
    const list = f.channel.kind === 'consistent' ? f.channel.balances : f.channel.localTerms.balances;
    total += list.find((b) => b.currency === CUR)?.balance ?? 0n;
  }
  return total;
}

t.test('a node refuses the withdrawal of a request it forwarded once the next hop answered, and loses nothing to colluders', async (t) => {
  const relay = await startRelay(tempDir('adv-relay'));
  t.teardown(() => relay.program.stop());
  const x = await prepareNode('adv-x');
  await startNode(x);
  t.teardown(() => x.program?.stop());
  const app = await TestApp.connect(x.port, x.identity.publicKey, x.app);
  t.teardown(() => app.close());
  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  await app.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
  const mallory = new LiveAdversary(relays);
  const carol = new LiveAdversary(relays);
  t.teardown(() => mallory.stop());
  t.teardown(() => carol.stop());
  for (const adv of [mallory, carol]) {
    for (const command of [
      { kind: 'addFriend', publicKey: x.identity.publicKey, name: 'x', relays },
      { kind: 'setMaxDebt', publicKey: x.identity.publicKey, currency: CUR, remoteMaxDebt: 100n },
      { kind: 'openCurrency', publicKey: x.identity.publicKey, currency: CUR },
      { kind: 'enableFriend', publicKey: x.identity.publicKey },
    ] as const) t.equal(adv.app(command), null, `${command.kind} at the adversary`);
    await app.must({ kind: 'addFriend', publicKey: adv.publicKey, name: adv === mallory ? 'mallory' : 'carol', relays });
    await app.must({ kind: 'setMaxDebt', publicKey: adv.publicKey, currency: CUR, remoteMaxDebt: 100n });
    await app.must({ kind: 'openCurrency', publicKey: adv.publicKey, currency: CUR });
    await app.must({ kind: 'enableFriend', publicKey: adv.publicKey });
  }
  for (const adv of [mallory, carol]) {
    await app.until(() => app.friend(adv.publicKey)?.online === true && app.balance(adv.publicKey, CUR) !== null);
    await eventually(() => adv.friend(x.identity.publicKey)?.channel.mutualCredits.has(CUR) === true, 'the currency at the adversary');
  }

  const invoiceId = new Uint8Array(32).fill(7);
  t.equal(carol.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: 10n }), null);
  const paymentId = new Uint8Array(16).fill(8);
  t.equal(mallory.app({ kind: 'createPayment', paymentId, invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: carol.publicKey }), null);
  t.equal(mallory.app({
    kind: 'createTransaction', paymentId, requestId: new Uint8Array(16).fill(9), route: [mallory.publicKey, x.identity.publicKey, carol.publicKey],
    destPayment: 10n, fees: 0n,
  }), null);
  const toX = (): ReturnType<LiveAdversary['friend']> => mallory.friend(x.identity.publicKey);
  await eventually(() => toX()!.channel.direction === 'outgoing' && (toX()!.channel.mutualCredits.get(CUR)?.local.size ?? 0) === 1, 'the request sent');
  // Go silent, then ask for the token back: once here, it stays here.
  mallory.withhold(x.identity.publicKey);
  t.ok(mallory.replay(x.identity.publicKey, 1, true), 'the request is sent again, asking for the token');
  await eventually(() => toX()!.channel.direction === 'incoming', 'the token back at mallory');
  await eventually(() => [...(carol.friend(x.identity.publicKey)!.channel.mutualCredits.get(CUR)?.remote.values() ?? [])].some((tx) => tx.stage.kind === 'response'),
    'carol answered the node');
  await app.until(() => (app.friend(carol.publicKey)?.channel.kind === 'consistent'));

  const [pending] = mallory.pendingTo(x.identity.publicKey, CUR);
  t.ok(pending.dueMs > Date.now(), 'the deadline is still ahead');
  const forged = mallory.forge(x.identity.publicKey, [{ currency: CUR, op: { kind: 'expire', requestId: pending.requestId } }], pending.dueMs);
  t.type(forged, 'object', 'the withdrawal is a valid move, stamped at the deadline');
  await app.until(() => app.friend(mallory.publicKey)?.channel.kind === 'inconsistent', 30_000);
  t.pass('the node refused it and disputes the channel with mallory');

  // Carol collects with the lock mallory shares with her.
  const invoice = carol.state.invoices.get(idKey(invoiceId))!;
  const payment = mallory.state.payments.get(idKey(paymentId))!;
  const done = invoice.completedBy!;
  t.equal(carol.app({
    kind: 'commitInvoice',
    commit: {
      responseHash: done.responseHash, srcPlainLock: payment.srcPlainLock, destHashedLock: hashLock(invoice.destPlainLock),
      destPayment: done.destPayment, totalDestPayment: 10n, invoiceId, currency: CUR, signature: done.signature,
    },
  }), null);
  await app.until(() => app.balance(carol.publicKey, CUR) === -10n, 30_000);
  t.pass('carol collected 10 from the node');
  const terms = app.friend(mallory.publicKey)!.channel;
  t.same(terms.kind === 'inconsistent' && terms.localTerms.balances, [{ currency: CUR, balance: 10n }], 'its terms claim the 10 from mallory');
  t.equal(worth(app.report!), 0n, 'the node lost nothing');
  t.ok(bytesEqual(app.report!.publicKey, x.identity.publicKey));
});
