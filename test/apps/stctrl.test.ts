import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';
import { writeFriendTicket } from '../../src/files/tickets.js';
import { readCommitFile, readInvoiceFile, readReceiptFile, writeCommitFile, writeInvoiceFile, writePaymentFile } from '../../src/files/payment_files.js';
import { routeFee, maxPayable } from '../../src/common/rate.js';
import { bytesEqual } from '../../src/common/bytes.js';
import { AppErrorCode } from '../../src/wire/generated/offset/app/app-error-code.js';
import { FailureReason } from '../../src/wire/generated/offset/app/failure-reason.js';
import type { AppRequest, FriendReport, Route } from '../../src/node/app_codec.js';
import { SimNet, pay, uid } from '../funder/sim.js';
import { ALL, ScriptedNode, appFiles, type AppFiles } from './scripted_node.js';

const ok = (request: AppRequest) => ({ kind: 'result' as const, appRequestId: request.appRequestId, error: null });

function stctrl(app: AppFiles, args: string[]) {
  return runProgramToEnd('stctrl', ['--idfile', app.idfile, '--ticket', app.ticket, '--timeout', '20', ...args]);
}

const bobKey = Identity.generate().publicKey;
const bob: FriendReport = {
  publicKey: bobKey, name: 'bob', relays: [], enabled: true, online: true,
  currencyConfigs: [{ currency: 'FST', rate: { mul: 0, add: 1 }, remoteMaxDebt: 100n, isOpen: true }],
  channel: { kind: 'consistent', balances: [{ currency: 'FST', balance: -5n, localPendingDebt: 2n, remotePendingDebt: 0n }] },
  lastTokenHash: null,
};

t.test('info shows friends, balances and keys as text and as JSON', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.report = { ...node.report, friends: [bob] };
  const app = appFiles(node, { routes: false, buyer: false, seller: false, config: false });
  const friends = await stctrl(app, ['info', 'friends']);
  t.equal(friends.code, 0, friends.stderr);
  t.match(friends.stdout, /^E\+ bob /);
  t.match(friends.stdout, /FST: open, B=-5 LPD=2 RPD=0, max debt=100/);
  const json = await stctrl(app, ['--json', 'info', 'friends']);
  t.match(JSON.parse(json.stdout), { friends: [{ name: 'bob', online: true, currencies: [{ currency: 'FST', balance: { balance: '-5' } }] }] });
  const key = await stctrl(app, ['info', 'public-key']);
  t.equal(key.stdout.trim(), Buffer.from(node.identity.publicKey).toString('base64url'));
  t.equal(node.requests.length, 0, 'info sends no requests');
});

t.test('config commands resolve names, send the exact request and report the node\'s refusal', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.report = { ...node.report, friends: [bob] };
  node.script = (request, reply) => {
    if (request.body.kind === 'closeCurrency') {
      reply({ kind: 'result', appRequestId: request.appRequestId, error: { code: AppErrorCode.CurrencyActive, message: 'currency in use' } });
    } else reply(ok(request));
  };
  const app = appFiles(node, ALL);
  const carol = Identity.generate().publicKey;
  const ticket = join(app.dir, 'carol.friend');
  writeFriendTicket(ticket, { publicKey: carol, relays: [{ publicKey: carol, address: 'relay.example:9000' }] });
  const added = await stctrl(app, ['config', 'add-friend', '--friend', ticket, '--name', 'carol']);
  t.equal(added.code, 0, added.stderr);
  const addRequest = node.requests.at(-1)!.body;
  t.ok(addRequest.kind === 'addFriend' && bytesEqual(addRequest.publicKey, carol) && addRequest.name === 'carol'
    && addRequest.relays[0].address === 'relay.example:9000', 'addFriend with the ticket\'s key and relays');

  const debt = await stctrl(app, ['config', 'set-max-debt', '--name', 'bob', '--currency', 'FST', '--mdebt', '340282366920938463463374607431768211455']);
  t.equal(debt.code, 0, debt.stderr);
  const debtRequest = node.requests.at(-1)!.body;
  t.ok(debtRequest.kind === 'setMaxDebt' && debtRequest.remoteMaxDebt === (1n << 128n) - 1n && bytesEqual(debtRequest.publicKey, bobKey));

  const rate = await stctrl(app, ['config', 'set-rate', '-n', 'bob', '-c', 'FST', '--mul', '0', '--add', '1']);
  t.equal(rate.code, 0, rate.stderr);
  t.match(node.requests.at(-1)!.body, { kind: 'setRate', currency: 'FST', rate: { mul: 0, add: 1 } });

  const before = node.requests.length;
  const unknown = await stctrl(app, ['config', 'enable-friend', '--name', 'dave']);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'stctrl: error: no friend named "dave" (friends: bob)\n');
  const badAmount = await stctrl(app, ['config', 'set-max-debt', '-n', 'bob', '-c', 'FST', '-m', '-3']);
  t.equal(badAmount.code, 1);
  t.match(badAmount.stderr, /--mdebt must be a whole number/);
  t.equal(node.requests.length, before, 'nothing sent for an unknown name or a bad amount');

  const refused = await stctrl(app, ['config', 'close-currency', '-n', 'bob', '-c', 'FST']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^stctrl: error: the node refused closeCurrency: currency in use \(ERR_APP_CURRENCY_ACTIVE\)\n$/);
});

t.test('an app without the permission a command needs is stopped before it asks', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.report = { ...node.report, friends: [bob] };
  const app = appFiles(node, { routes: true, buyer: true, seller: true, config: false });
  const result = await stctrl(app, ['config', 'disable-friend', '--name', 'bob']);
  t.equal(result.code, 1);
  t.match(result.stderr, /disable-friend needs the config permission/);
  t.equal(node.requests.length, 0);
});

t.test('seller: an invoice file appears only after the node accepted it; cancel removes it; a foreign commit is refused locally', async (t) => {
  const net = new SimNet('stctrl-seller');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.report = { ...node.report, publicKey: b.pk };
  let refuseInvoices = true;
  node.script = (request, reply) => {
    if (request.body.kind === 'addInvoice' && refuseInvoices) {
      reply({ kind: 'result', appRequestId: request.appRequestId, error: { code: AppErrorCode.InvoiceExists, message: 'invoice exists' } });
    } else reply(ok(request));
  };
  const app = appFiles(node, ALL);
  const invoicePath = join(app.dir, 'refused.invoice');
  const refused = await stctrl(app, ['seller', 'create-invoice', '--currency', 'FST', '--amount', '10', '--invoice', invoicePath]);
  t.equal(refused.code, 1);
  t.notOk(existsSync(invoicePath), 'no invoice file when the node refused');
  refuseInvoices = false;
  const created = await stctrl(app, ['seller', 'create-invoice', '-c', 'FST', '-a', '10', '-i', invoicePath]);
  t.equal(created.code, 0, created.stderr);
  const invoice = readInvoiceFile(invoicePath);
  t.same(invoice.destPublicKey, b.pk);
  t.equal(invoice.totalDestPayment, 10n);
  const sent = node.requests.at(-1)!.body;
  t.ok(sent.kind === 'addInvoice' && bytesEqual(sent.invoiceId, invoice.invoiceId), 'the file names the invoice the node accepted');

  // A genuine commit for another invoice of the same seller does not commit to this one.
  const { commit } = pay(net, a, b, [a, b], 1, 10n, 0n);
  const commitPath = join(app.dir, 'other.commit');
  writeCommitFile(commitPath, commit!);
  const before = node.requests.length;
  const mismatch = await stctrl(app, ['seller', 'commit-invoice', '--invoice', invoicePath, '--commit', commitPath]);
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, /does not commit to this invoice \(ERR_RECEIPT_INVOICE_MISMATCH\)/);
  t.equal(node.requests.length, before);
  const matching = join(app.dir, 'matching.invoice');
  writeInvoiceFile(matching, { invoiceId: uid(1, 32), currency: 'FST', destPublicKey: b.pk, totalDestPayment: 10n });
  const committed = await stctrl(app, ['seller', 'commit-invoice', '-i', matching, '-c', commitPath]);
  t.equal(committed.code, 0, committed.stderr);
  t.match(node.requests.at(-1)!.body, { kind: 'commitInvoice' });

  const canceled = await stctrl(app, ['seller', 'cancel-invoice', '--invoice', invoicePath]);
  t.equal(canceled.code, 0, canceled.stderr);
  t.notOk(existsSync(invoicePath), 'the canceled invoice\'s file is removed');
});

function routeOf(nodes: Uint8Array[], rates: { mul: number; add: number }[], hop: bigint): Route {
  return { nodes, capacity: maxPayable(rates, hop), amount: 0n, fee: 0n, forwarderRates: rates };
}

t.test('buyer: pay-invoice splits over two routes with their fees, writes the commit; payment-status saves the receipt', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  const me = node.identity.publicKey;
  const seller = Identity.generate().publicKey;
  const [m1, m2] = [Identity.generate().publicKey, Identity.generate().publicKey];
  const routes = [routeOf([me, m1, seller], [{ mul: 0, add: 1 }], 31n), routeOf([me, m2, seller], [{ mul: 0, add: 2 }], 22n)];
  const commit = {
    responseHash: new Uint8Array(32).fill(1), srcPlainLock: new Uint8Array(32).fill(2), destHashedLock: new Uint8Array(32).fill(3),
    destPayment: 20n, totalDestPayment: 50n, invoiceId: new Uint8Array(32).fill(4), currency: 'FST', signature: new Uint8Array(64).fill(5),
  };
  const transactions: Array<{ destPayment: bigint; fees: bigint; route: readonly Uint8Array[] }> = [];
  node.script = (request, reply) => {
    const body = request.body;
    if (body.kind === 'requestRoutes') {
      t.equal(body.amount, 50n);
      reply({ kind: 'routes', requestId: body.requestId, outcome: { kind: 'found', routes, complete: true, truncated: false } });
    }
    reply(ok(request));
    if (body.kind === 'createTransaction') {
      transactions.push(body);
      const last = transactions.length === 2;
      reply({
        kind: 'transactionResult', paymentId: body.paymentId, requestId: body.requestId,
        outcome: last ? { kind: 'complete', commit } : { kind: 'success' },
      });
    }
    if (body.kind === 'requestClosePayment') {
      reply({
        kind: 'closePayment', paymentId: body.paymentId,
        status: {
          kind: 'success', ackUid: new Uint8Array(16).fill(9),
          receipt: { ...commit, destPlainLock: new Uint8Array(32).fill(6), isComplete: true },
        },
      });
    }
  };
  const app = appFiles(node, ALL);
  const invoicePath = join(app.dir, 'shop.invoice');
  writeInvoiceFile(invoicePath, { invoiceId: commit.invoiceId, currency: 'FST', destPublicKey: seller, totalDestPayment: 50n });
  const paymentPath = join(app.dir, 'p.payment');
  const commitPath = join(app.dir, 'p.commit');
  const paid = await stctrl(app, ['buyer', 'pay-invoice', '--invoice', invoicePath, '--payment', paymentPath, '--commit', commitPath]);
  t.equal(paid.code, 0, paid.stderr);
  t.same(transactions.map((x) => [x.destPayment, x.fees]), [[30n, 1n], [20n, 2n]], '30 over the wider route, 20 over the other, each with its fee');
  t.equal(routeFee([{ mul: 0, add: 1 }], 30n), 1n);
  t.match(paid.stdout, /^Total fees: 3\n/);
  t.match(paid.stdout, /Payment successful!/);
  t.same(readCommitFile(commitPath), commit);
  t.ok(existsSync(paymentPath));

  const receiptPath = join(app.dir, 'p.receipt');
  const status = await stctrl(app, ['buyer', 'payment-status', '--payment', paymentPath, '--receipt', receiptPath]);
  t.equal(status.code, 0, status.stderr);
  t.equal(readReceiptFile(receiptPath).destPayment, 20n);
  t.match(node.requests.at(-1)!.body, { kind: 'ackClosePayment' });
  t.notOk(existsSync(paymentPath), 'payment file removed once the receipt is saved and acked');
});

t.test('buyer: not enough capacity, a failed route, or a canceled payment all exit 1 and leave no commit', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  const me = node.identity.publicKey;
  const seller = Identity.generate().publicKey;
  let routes = [routeOf([me, seller], [], 10n)];
  node.script = (request, reply) => {
    const body = request.body;
    if (body.kind === 'requestRoutes') reply({ kind: 'routes', requestId: body.requestId, outcome: { kind: 'found', routes, complete: false, truncated: false } });
    reply(ok(request));
    if (body.kind === 'createTransaction') {
      reply({ kind: 'transactionResult', paymentId: body.paymentId, requestId: body.requestId, outcome: { kind: 'failure', reason: FailureReason.InsufficientCapacity, message: 'no credit', atThisNode: false } });
    }
    if (body.kind === 'requestClosePayment' || body.kind === 'paymentStatus') {
      reply({
        kind: 'closePayment', paymentId: body.paymentId,
        status: { kind: 'canceled', ackUid: new Uint8Array(16), failure: { reason: FailureReason.InsufficientCapacity, message: 'no credit', atThisNode: false } },
      });
    }
  };
  const app = appFiles(node, ALL);
  const invoicePath = join(app.dir, 'big.invoice');
  writeInvoiceFile(invoicePath, { invoiceId: new Uint8Array(32).fill(1), currency: 'FST', destPublicKey: seller, totalDestPayment: 50n });
  const short = await stctrl(app, ['buyer', 'pay-invoice', '-i', invoicePath, '-p', join(app.dir, 'a.payment'), '-c', join(app.dir, 'a.commit')]);
  t.equal(short.code, 1);
  t.match(short.stderr, /insufficient capacity: the routes found carry at most 10 of the 50 FST needed/);
  t.notOk(existsSync(join(app.dir, 'a.payment')), 'no payment started');

  routes = [routeOf([me, seller], [], 100n)];
  const failed = await stctrl(app, ['buyer', 'pay-invoice', '-i', invoicePath, '-p', join(app.dir, 'b.payment'), '-c', join(app.dir, 'b.commit')]);
  t.equal(failed.code, 1);
  t.match(failed.stderr, /^stctrl: error: payment failed: a route failed: no credit \(ERR_PAY_INSUFFICIENT_CAPACITY\)/);
  t.equal(failed.stderr.trim().split('\n').length, 1, 'one line');
  t.notOk(existsSync(join(app.dir, 'b.commit')));
  t.match(node.requests.at(-1)!.body, { kind: 'requestClosePayment' }, 'the payment is closed so nothing completes it later');

  const shown = await stctrl(app, ['--json', 'buyer', 'payment-status', '-p', join(app.dir, 'b.payment')]);
  t.equal(shown.code, 0, shown.stderr);
  t.same(JSON.parse(shown.stdout), { status: 'canceled', reason: 'ERR_PAY_INSUFFICIENT_CAPACITY', message: 'no credit', atThisNode: false });
  const status = await stctrl(app, ['buyer', 'payment-status', '-p', join(app.dir, 'b.payment'), '-r', join(app.dir, 'b.receipt')]);
  t.equal(status.code, 1);
  t.match(status.stderr, /payment was canceled: no credit \(ERR_PAY_INSUFFICIENT_CAPACITY\)/);
  t.notOk(existsSync(join(app.dir, 'b.payment')));

  node.script = (request, reply) => {
    if (request.body.kind === 'requestRoutes') {
      reply({ kind: 'result', appRequestId: request.appRequestId, error: { code: AppErrorCode.NoIndexConnection, message: 'no index server connection' } });
    }
  };
  const noIndex = await stctrl(app, ['buyer', 'pay-invoice', '-i', invoicePath, '-p', join(app.dir, 'c.payment'), '-c', join(app.dir, 'c.commit')]);
  t.equal(noIndex.code, 1);
  t.match(noIndex.stderr, /ERR_APP_NO_INDEX_CONNECTION/);
});

t.test('missing files, an unreachable node, an untrusted app and bad usage each give one clear line', async (t) => {
  const node = await new ScriptedNode().start();
  const app = appFiles(node, ALL);
  const missing = await runProgramToEnd('stctrl', ['-I', join(app.dir, 'none.ident'), '-T', app.ticket, 'info', 'friends']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /none\.ident: no such file\n$/);
  const wrongKind = await runProgramToEnd('stctrl', ['-I', app.ticket, '-T', app.ticket, 'info', 'friends']);
  t.equal(wrongKind.code, 1);
  t.match(wrongKind.stderr, /is a node ticket, expected an identity file/);
  const stranger = appFiles(node, ALL);
  node.trusted.delete(Buffer.from(stranger.identity.publicKey).toString('hex'));
  const untrusted = await stctrl(stranger, ['info', 'friends']);
  t.equal(untrusted.code, 1);
  t.match(untrusted.stderr, /does not trust this app/);
  node.stop();
  const down = await stctrl(app, ['info', 'friends']);
  t.equal(down.code, 1);
  t.match(down.stderr, /^stctrl: error: cannot reach the node at 127\.0\.0\.1:\d+: .*\n$/);
  const usage = await stctrl(app, ['config', 'set-rate', '--name', 'bob']);
  t.equal(usage.code, 2);
  const unknown = await stctrl(app, ['frobnicate']);
  t.equal(unknown.code, 2);
  const help = await runProgramToEnd('stctrl', ['buyer', 'pay-invoice', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--invoice <file>/);
  const payment = join(app.dir, 'x.payment');
  writePaymentFile(payment, { paymentId: new Uint8Array(16), invoiceId: new Uint8Array(32), currency: 'FST', totalDestPayment: 1n, destPublicKey: new Uint8Array(32) });
  t.ok(readFileSync(payment, 'utf8').includes('"kind": "payment"'));
});
