import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliNetwork } from '../../src/apps/cli_network.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';
import { readCommitFile } from '../../src/files/payment_files.js';

/**
 * The original's basic CLI scenario, over real processes and sockets: two relays, two index
 * servers that trust each other, two nodes set up only with stmgr and stctrl; friends, currency,
 * credit, an invoice created and cancelled, then an invoice paid, committed, the receipt verified
 * with stverify, and the balances checked on both sides.
 */

// Dozens of real processes on a shared machine: far slower than a unit test.
t.setTimeout(1_200_000);

t.test('two nodes set up with stmgr and stctrl pay an invoice and both see the balance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'offset-cli-basic-'));
  const net = new CliNetwork(dir, () => {}, { OFFSET_LOG_LEVEL: 'warn' });
  t.teardown(() => net.stopAll());
  const [relay0, relay1] = [await net.relay('relay0'), await net.relay('relay1')];
  const [index0, index1] = await net.indexServers(['index0', 'index1']);
  const seller = await net.node('node0');
  let buyer = await net.node('node1');
  await net.ctrl(seller, ['config', 'add-relay', '--relay', relay0.ticket, '--name', 'r0']);
  await net.ctrl(buyer, ['config', 'add-relay', '--relay', relay1.ticket, '--name', 'r1']);
  await net.ctrl(seller, ['config', 'add-index', '--index', index0.ticket, '--name', 'i0']);
  await net.ctrl(buyer, ['config', 'add-index', '--index', index1.ticket, '--name', 'i1']);
  t.match(await net.ctrl(seller, ['info', 'relays']), /^r0 /);
  t.match(await net.ctrl(seller, ['info', 'index']), /i0 /);

  // FST2 is added and removed again before anything uses it.
  await net.befriend(seller, buyer, 'FST', { aTrustsB: 200n, bTrustsA: 0n, aRateForB: { mul: 0, add: 1 }, bRateForA: { mul: 0, add: 1 } });
  await net.ctrl(seller, ['config', 'set-max-debt', '--name', 'node1', '--currency', 'FST2', '--mdebt', '5']);
  await net.ctrl(seller, ['config', 'remove-currency', '--name', 'node1', '--currency', 'FST2']);
  const sellerFriends = await net.friends(seller);
  t.same(sellerFriends[0].currencies.map((c) => c.currency), ['FST'], 'FST2 is gone');
  t.match(await net.ctrl(seller, ['info', 'friends']), /^E\+ node1 /, 'enabled and online');

  // An invoice created and cancelled leaves no file behind.
  const cancelled = join(dir, 'cancelled.invoice');
  await net.ctrl(seller, ['seller', 'create-invoice', '--currency', 'FST', '--amount', '10', '--invoice', cancelled]);
  t.ok(existsSync(cancelled));
  await net.ctrl(seller, ['seller', 'cancel-invoice', '--invoice', cancelled]);
  t.notOk(existsSync(cancelled), 'a cancelled invoice\'s file is removed');

  const invoice = join(dir, 'fifty.invoice');
  const payment = join(dir, 'fifty.payment');
  const commit = join(dir, 'fifty.commit');
  const receipt = join(dir, 'fifty.receipt');
  await net.ctrl(seller, ['seller', 'create-invoice', '--currency', 'FST', '--amount', '50', '--invoice', invoice]);
  const paid = await net.payInvoice(buyer, invoice, payment, commit);
  t.match(paid, /Total fees: 0/, 'a direct friend charges nothing');
  t.match(paid, /Payment successful!/);

  // The buyer's node restarts before the commit reached the seller: the node kept the commit, and
  // payment-status saves it again.
  await buyer.program.stop('SIGTERM');
  buyer = await net.startNode({ ...buyer, address: undefined, ticket: join(buyer.dir, 'restarted.ticket') });
  const commitAgain = join(dir, 'fifty-again.commit');
  t.match(await net.ctrl(buyer, ['buyer', 'payment-status', '--payment', payment, '--commit', commitAgain]), /commit saved to/);
  t.same(readCommitFile(commitAgain), readCommitFile(commit), 'the same commit as pay-invoice saved');
  await net.ctrl(seller, ['seller', 'commit-invoice', '--invoice', invoice, '--commit', commitAgain]);
  t.match(await net.ctrl(buyer, ['buyer', 'payment-status', '--payment', payment, '--receipt', receipt]), /Payment succeeded/);
  t.notOk(existsSync(payment), 'the payment file is removed once the receipt is saved');
  const verified = await runProgramToEnd('stverify', ['verify-receipt', '--invoice', invoice, '--receipt', receipt]);
  t.equal(verified.code, 0, verified.stderr);
  t.match(verified.stdout, /Receipt is valid!/);

  await net.waitForFriends(seller, 'balance 50', (fs) => fs[0]?.currencies[0]?.balance?.balance === '50');
  await net.waitForFriends(buyer, 'balance -50', (fs) => fs[0]?.currencies[0]?.balance?.balance === '-50');
  t.pass('the seller is owed 50 and the buyer owes 50');

  // The seller saves the buyer's last signed token; anyone can check it offline.
  const token = join(dir, 'node1.token');
  t.match(await net.ctrl(seller, ['info', 'friend-last-token', '--name', 'node1', '--token', token]), /saved to/);
  const tokenChecked = await runProgramToEnd('stverify', ['verify-token', '--token', token]);
  t.equal(tokenChecked.code, 0, tokenChecked.stderr);
  t.match(tokenChecked.stdout, /^Token is valid!/);
  t.match(tokenChecked.stdout, `signed by: ${buyer.publicKey}`, 'signed by the buyer');
  t.match(tokenChecked.stdout, `friend: ${seller.publicKey}`);

  // The buyer trusts the seller with nothing, so the seller cannot pay back.
  const back = join(dir, 'back.invoice');
  await net.ctrl(buyer, ['seller', 'create-invoice', '--currency', 'FST', '--amount', '60', '--invoice', back]);
  const refused = await runProgramToEnd('stctrl', ['--idfile', seller.appIdent, '--ticket', seller.ticket, 'buyer', 'pay-invoice',
    '--invoice', back, '--payment', join(dir, 'back.payment'), '--commit', join(dir, 'back.commit')]);
  t.equal(refused.code, 1, 'paying beyond the credit fails with exit 1');
  t.match(refused.stderr, /^stctrl: error: .*(no route|insufficient capacity|payment failed)/);

  await net.ctrl(seller, ['config', 'close-currency', '--name', 'node1', '--currency', 'FST']);
  await net.ctrl(seller, ['config', 'disable-friend', '--name', 'node1']);
  await net.ctrl(buyer, ['config', 'disable-friend', '--name', 'node0']);
  await net.waitForFriends(seller, 'D-', (fs) => !fs[0].enabled && !fs[0].online);
  t.match(await net.ctrl(buyer, ['info', 'friends']), /^D- node0 /);
  const unknown = await runProgramToEnd('stctrl', ['--idfile', seller.appIdent, '--ticket', seller.ticket, 'config', 'enable-friend', '--name', 'nobody']);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no friend named "nobody" \(friends: node1\)/);
  t.same(await net.stopAll(), [], 'every process exits cleanly on SIGTERM');
});
