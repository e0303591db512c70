import t from 'tap';
import { randomBytes } from '../../src/crypto/primitives.js';
import { compareBytes } from '../../src/common/bytes.js';
import { hash } from '../../src/crypto/primitives.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir, type NodeFixture } from '../node/app_helper.js';

async function pay(buyer: TestApp, seller: TestApp, from: NodeFixture, to: NodeFixture, amount: bigint): Promise<void> {
  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  const requestId = randomBytes(16);
  await seller.must({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: amount });
  await buyer.must({ kind: 'createPayment', paymentId, invoiceId, currency: 'FST', totalDestPayment: amount, destPublicKey: to.identity.publicKey });
  await buyer.must({ kind: 'createTransaction', paymentId, requestId, route: [from.identity.publicKey, to.identity.publicKey], destPayment: amount, fees: 0n });
  const tx = await buyer.wait((m) => m.kind === 'transactionResult' && m.requestId.every((v, i) => v === requestId[i]));
  if (tx.kind !== 'transactionResult' || tx.outcome.kind !== 'complete') throw new Error('transaction did not complete');
  await seller.must({ kind: 'commitInvoice', commit: tx.outcome.commit });
}

t.test('a node moves to a new relay and the friendship recovers through it', async (t) => {
  const dir = tempDir('migration');
  const r1 = await startRelay(dir);
  const r2 = await startRelay(dir);
  t.teardown(() => r1.program.stop());
  t.teardown(() => r2.program.stop());
  const x = await prepareNode('x');
  const y = await prepareNode('y');
  // The node with the lower key hash waits on its relays: that is the one whose move matters.
  const [waiter, dialer] = compareBytes(hash(x.identity.publicKey), hash(y.identity.publicKey)) < 0 ? [x, y] : [y, x];
  await Promise.all([startNode(waiter), startNode(dialer)]);
  t.teardown(() => waiter.program?.stop());
  t.teardown(() => dialer.program?.stop());
  const appW = await TestApp.connect(waiter.port, waiter.identity.publicKey, waiter.app);
  const appD = await TestApp.connect(dialer.port, dialer.identity.publicKey, dialer.app);
  const relay1 = { publicKey: r1.identity.publicKey, address: r1.address };
  const relay2 = { publicKey: r2.identity.publicKey, address: r2.address };
  await appW.must({ kind: 'addRelay', relay: { ...relay1, name: 'r1' } });
  await appD.must({ kind: 'addRelay', relay: { ...relay1, name: 'r1' } });
  await befriend({ app: appW, key: waiter.identity.publicKey, relays: [relay1] }, { app: appD, key: dialer.identity.publicKey, relays: [relay1] }, 'FST', 100n);
  await pay(appD, appW, dialer, waiter, 5n);

  await appW.must({ kind: 'addRelay', relay: { ...relay2, name: 'r2' } });
  await appW.must({ kind: 'removeRelay', publicKey: relay1.publicKey });
  await appD.until(() => {
    const relays = appD.friend(waiter.identity.publicKey)?.relays ?? [];
    return relays.length === 1 && relays[0].address === relay2.address;
  });
  t.pass('the friend learns the new relay list');
  await r1.program.stop('SIGKILL');
  await appD.until(() => appD.friend(waiter.identity.publicKey)?.online === true);
  await appW.until(() => appW.friend(dialer.identity.publicKey)?.online === true);
  await pay(appD, appW, dialer, waiter, 7n);
  await appW.until(() => appW.balance(dialer.identity.publicKey, 'FST') === 12n);
  t.pass('payments flow over the new relay');
  appW.close();
  appD.close();
});
