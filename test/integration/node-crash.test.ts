import t from 'tap';
import { bytesEqual } from '../../src/common/bytes.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import type { Commit } from '../../src/node/app_codec.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir } from '../node/app_helper.js';

t.test('a node killed mid-payment and restarted loses no credit', async (t) => {
  const relay = await startRelay(tempDir('relay'));
  t.teardown(() => relay.program.stop());
  const buyer = await prepareNode('buyer');
  const seller = await prepareNode('seller');
  await Promise.all([startNode(buyer), startNode(seller)]);
  t.teardown(() => buyer.program?.stop());
  t.teardown(() => seller.program?.stop());
  const appA = await TestApp.connect(buyer.port, buyer.identity.publicKey, buyer.app);
  let appB = await TestApp.connect(seller.port, seller.identity.publicKey, seller.app);
  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  await appA.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
  await appB.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
  const A = buyer.identity.publicKey;
  const B = seller.identity.publicKey;
  await befriend({ app: appA, key: A, relays }, { app: appB, key: B, relays }, 'FST', 10_000n);

  const count = 12;
  const payments = Array.from({ length: count }, (_, i) => ({
    invoiceId: randomBytes(32), paymentId: randomBytes(16), requestId: randomBytes(16), amount: BigInt(10 + i),
  }));
  for (const p of payments) await appB.must({ kind: 'addInvoice', invoiceId: p.invoiceId, currency: 'FST', totalDestPayment: p.amount });
  for (const p of payments) {
    await appA.must({ kind: 'createPayment', paymentId: p.paymentId, invoiceId: p.invoiceId, currency: 'FST', totalDestPayment: p.amount, destPublicKey: B });
  }
  // Every transaction is durable at the buyer before the seller dies with some of them in flight.
  await Promise.all(payments.map((p) => appA.must({
    kind: 'createTransaction', paymentId: p.paymentId, requestId: p.requestId, route: [A, B], destPayment: p.amount, fees: 0n,
  })));
  await appA.wait((m) => m.kind === 'transactionResult');
  await seller.program!.stop('SIGKILL');
  t.equal(seller.program!.child.signalCode, 'SIGKILL', 'the seller was killed');

  await startNode(seller);
  appB = await TestApp.connect(seller.port, seller.identity.publicKey, seller.app);
  await appB.until(() => appB.friend(A)?.online === true);
  const commits = new Map<string, Commit | null>();
  for (const p of payments) {
    const tx = await appA.wait((m) => m.kind === 'transactionResult' && bytesEqual(m.requestId, p.requestId));
    commits.set(p.paymentId.toString(), tx.kind === 'transactionResult' && tx.outcome.kind === 'complete' ? tx.outcome.commit : null);
  }
  let paid = 0n;
  for (const p of payments) {
    const commit = commits.get(p.paymentId.toString()) ?? null;
    if (commit !== null) await appB.must({ kind: 'commitInvoice', commit });
    await appA.must({ kind: 'requestClosePayment', paymentId: p.paymentId });
    const status = await appA.wait((m) => m.kind === 'closePayment' && bytesEqual(m.paymentId, p.paymentId));
    if (status.kind === 'closePayment' && status.status.kind === 'success') paid += p.amount;
  }
  t.ok(paid > 0n, 'payments completed across the crash');
  const settled = (app: TestApp, key: Uint8Array): boolean => {
    const f = app.friend(key);
    return f?.channel.kind === 'consistent' && f.channel.balances.every((b) => b.localPendingDebt === 0n && b.remotePendingDebt === 0n);
  };
  await appA.until(() => settled(appA, B) && appA.balance(B, 'FST') === -paid);
  await appB.until(() => settled(appB, A) && appB.balance(A, 'FST') === paid);
  t.pass(`both sides agree on ${paid}, the sum of the receipts, with nothing left pending`);
  appA.close();
  appB.close();
});
