import t from 'tap';
import { writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { writeAppTicket } from '../../src/files/tickets.js';
import { AppErrorCode } from '../../src/node/app_codec.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir } from '../node/app_helper.js';

t.test('apps: permissions, tickets and the trusted directory', async (t) => {
  const node = await prepareNode('access', { routes: false, buyer: false, seller: true, config: true });
  // A corrupt ticket sorts before the good one; it must not stop the node or the other apps.
  writeFileSync(join(node.trusted, 'a-corrupt.ticket'), '{"kind":"app-ticket","version":1,"publicKey":"@@@"');
  await startNode(node);
  t.teardown(() => node.program?.stop());
  const skipped = await node.program!.waitForLog((l) => l.event === 'ticket-skipped');
  t.match(String(skipped.file), /a-corrupt\.ticket$/, 'the corrupt ticket is skipped with its name logged');
  t.ok(String(skipped.reason).length > 0, 'and a reason');

  const app = await TestApp.connect(node.port, node.identity.publicKey, node.app);
  t.same(app.permissions, { routes: false, buyer: false, seller: true, config: true });
  const refused = await app.request({
    kind: 'createPayment', paymentId: randomBytes(16), invoiceId: randomBytes(32), currency: 'FST', totalDestPayment: 1n,
    destPublicKey: Identity.generate().publicKey,
  });
  t.equal(refused?.code, AppErrorCode.PermissionDenied, 'an app without the buyer permission is refused with a typed error');
  const routes = await app.request({
    kind: 'requestRoutes', requestId: randomBytes(16), currency: 'FST', amount: 1n, source: node.identity.publicKey,
    destination: Identity.generate().publicKey, exclude: null, maxHops: 0, maxFee: null, maxRoutes: 0,
  });
  t.equal(routes?.code, AppErrorCode.PermissionDenied, 'and so is a route request without the routes permission');
  t.equal(await app.request({ kind: 'addInvoice', invoiceId: randomBytes(32), currency: 'FST', totalDestPayment: 5n }), null, 'a permitted request is done');
  t.equal(app.closed, null, 'a refused request does not cost the app its connection');

  const stranger = Identity.generate();
  await t.rejects(TestApp.connect(node.port, node.identity.publicKey, stranger), 'an app without a ticket cannot connect');
  writeAppTicket(join(node.trusted, 'late.ticket'), stranger.publicKey, { routes: true, buyer: true, seller: false, config: false });
  const late = await TestApp.connect(node.port, node.identity.publicKey, stranger);
  t.same(late.permissions, { routes: true, buyer: true, seller: false, config: false }, 'a ticket added while running is honoured');
  unlinkSync(join(node.trusted, 'late.ticket'));
  for (let i = 0; i < 400 && late.closed === null; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.not(late.closed, null, 'an app whose ticket is removed is disconnected');
  app.close();
});

t.test('a disabled friend is refused: no link, and no payment through it', async (t) => {
  const relay = await startRelay(tempDir('relay'));
  t.teardown(() => relay.program.stop());
  const a = await prepareNode('da');
  const b = await prepareNode('db');
  await Promise.all([startNode(a), startNode(b)]);
  t.teardown(() => a.program?.stop());
  t.teardown(() => b.program?.stop());
  const appA = await TestApp.connect(a.port, a.identity.publicKey, a.app);
  const appB = await TestApp.connect(b.port, b.identity.publicKey, b.app);
  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  await appA.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
  await appB.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
  await befriend({ app: appA, key: a.identity.publicKey, relays }, { app: appB, key: b.identity.publicKey, relays }, 'FST', 100n);

  // An app that may only ask for routes sees the node's key and relays, never its friends.
  const watcher = Identity.generate();
  writeAppTicket(join(b.trusted, 'watcher.ticket'), watcher.publicKey, { routes: true, buyer: true, seller: true, config: false });
  const routesOnly = await TestApp.connect(b.port, b.identity.publicKey, watcher);
  t.same(routesOnly.report?.friends, [], 'an app without the config permission is not shown the friends');
  t.same(routesOnly.report?.relays.map((r) => r.address), [relay.address], 'only the relays its friend ticket names anyway');
  t.ok((appB.report?.friends.length ?? 0) > 0, 'the config app sees them');

  await appB.must({ kind: 'disableFriend', publicKey: a.identity.publicKey });
  await appA.until(() => appA.friend(b.identity.publicKey)?.online === false);
  await appB.until(() => appB.friend(a.identity.publicKey)?.online === false);
  t.pass('disabling drops the link on both sides');

  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  await appB.must({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 3n });
  await appA.must({ kind: 'createPayment', paymentId, invoiceId, currency: 'FST', totalDestPayment: 3n, destPublicKey: b.identity.publicKey });
  const tx = await appA.request({ kind: 'createTransaction', paymentId, requestId: randomBytes(16), route: [a.identity.publicKey, b.identity.publicKey], destPayment: 3n, fees: 0n });
  t.equal(tx?.code, AppErrorCode.FriendNotReady, 'a payment towards an unreachable friend is refused with a typed error');
  const own = await appB.request({ kind: 'createPayment', paymentId: randomBytes(16), invoiceId: randomBytes(32), currency: 'FST', totalDestPayment: 1n, destPublicKey: a.identity.publicKey });
  t.equal(own, null);
  t.equal(appB.balance(a.identity.publicKey, 'FST'), 0n, 'no credit moved');
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(appB.friend(a.identity.publicKey)?.online, false, 'the disabled friend stays unlinked');
  await appB.must({ kind: 'enableFriend', publicKey: a.identity.publicKey });
  await appB.until(() => appB.friend(a.identity.publicKey)?.online === true);
  t.pass('enabling links them again');
  t.notOk(routesOnly.messages.some((m) => m.kind === 'mutations' && m.mutations.some((x) => x.kind.startsWith('friend'))),
    'and no change of a friend reached the app without the config permission');
  routesOnly.close();
  appA.close();
  appB.close();
});
