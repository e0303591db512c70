import t from 'tap';
import { randomBytes } from '../../src/crypto/primitives.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir } from '../node/app_helper.js';
import { AppErrorCode } from '../../src/node/app_codec.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';

t.test('two nodes befriend through a relay and one pays the other; a restart keeps every balance', async (t) => {
  const relay = await startRelay(tempDir('relay'));
  t.teardown(() => relay.program.stop());
  const a = await prepareNode('a');
  const b = await prepareNode('b');
  await Promise.all([startNode(a, ['--metrics-addr', '127.0.0.1:0']), startNode(b)]);
  t.teardown(() => a.program?.stop());
  t.teardown(() => b.program?.stop());
  const appA = await TestApp.connect(a.port, a.identity.publicKey, a.app);
  const appB = await TestApp.connect(b.port, b.identity.publicKey, b.app);
  t.same(appA.permissions, { routes: true, buyer: true, seller: true, config: true }, 'the app learns its permissions');
  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  await appA.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r1' } });
  await appB.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r1' } });
  t.equal(appA.report?.relays[0]?.name, 'r1', 'the report follows the change before the result');
  await befriend({ app: appA, key: a.identity.publicKey, relays }, { app: appB, key: b.identity.publicKey, relays }, 'FST', 1000n);

  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  const requestId = randomBytes(16);
  await appB.must({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 30n });
  await appA.must({ kind: 'createPayment', paymentId, invoiceId, currency: 'FST', totalDestPayment: 30n, destPublicKey: b.identity.publicKey });
  await appA.must({ kind: 'createTransaction', paymentId, requestId, route: [a.identity.publicKey, b.identity.publicKey], destPayment: 30n, fees: 0n });
  const tx = await appA.wait((m) => m.kind === 'transactionResult');
  if (tx.kind !== 'transactionResult' || tx.outcome.kind !== 'complete') throw new Error(`transaction did not complete: ${JSON.stringify(tx.kind)}`);
  await appB.must({ kind: 'commitInvoice', commit: tx.outcome.commit });
  await appA.must({ kind: 'requestClosePayment', paymentId });
  const closed = await appA.wait((m) => m.kind === 'closePayment');
  t.equal(closed.kind === 'closePayment' && closed.status.kind, 'success', 'the buyer gets a receipt');
  await appA.until(() => appA.balance(b.identity.publicKey, 'FST') === -30n);
  await appB.until(() => appB.balance(a.identity.publicKey, 'FST') === 30n);
  t.pass('balances moved by the payment');

  const metricsPort = await a.program!.port('metrics');
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.match(metrics, /offset_node_friends_online 1/, 'metrics show the live friend link');
  t.match(metrics, /offset_node_app_requests_total\{kind="createTransaction"\} 1/, 'and count app requests by kind');

  const again = await appA.request({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 1n });
  t.equal(again, null, 'a seller request on the buyer node is fine with the seller permission');
  const dup = await appA.request({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 1n });
  t.equal(dup?.code, AppErrorCode.InvoiceExists, 'a refused request gets a typed error');

  appA.close();
  await a.program?.stop('SIGTERM');
  t.equal(a.program?.child.exitCode, 0, 'SIGTERM stops the node cleanly');
  await startNode(a);
  const appA2 = await TestApp.connect(a.port, a.identity.publicKey, a.app);
  t.equal(appA2.balance(b.identity.publicKey, 'FST'), -30n, 'the balance survives a restart');
  await appA2.until(() => appA2.friend(b.identity.publicKey)?.online === true);
  t.pass('the friendship comes back after the restart');
  appA2.close();
  appB.close();
});

t.test('stnode refuses a database made for another identity, with a one-line error', async (t) => {
  const a = await prepareNode('wrong-a');
  const b = await prepareNode('wrong-b');
  const result = await runProgramToEnd('stnode', ['--idfile', a.idfile, '--laddr', '127.0.0.1:0', '--database', b.db, '--trusted', a.trusted]);
  t.equal(result.code, 1);
  t.match(result.stderr, /^stnode: error: .*was made for identity/m);
  const missing = await runProgramToEnd('stnode', ['--idfile', a.idfile, '--laddr', '127.0.0.1:0', '--trusted', a.trusted]);
  t.equal(missing.code, 2, 'a missing option is a usage error');
});
