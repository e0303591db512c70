import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliNetwork, type NodeHandle } from '../../src/apps/cli_network.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';

/**
 * Forwarding over the CLI: a chain where the middle node earns its rate, and a payment that no
 * single route can carry, split by stctrl over two routes through different forwarders.
 */

async function settle(net: CliNetwork, node: NodeHandle, friend: string, want: bigint): Promise<void> {
  await net.waitForFriends(node, `${friend} at ${want}`, (fs) => fs.some((f) => f.name === friend
    && f.currencies.some((c) => c.balance !== null && BigInt(c.balance.balance) === want && c.balance.localPendingDebt === '0' && c.balance.remotePendingDebt === '0')));
}

async function payThrough(net: CliNetwork, dir: string, buyer: NodeHandle, seller: NodeHandle, amount: bigint, tag: string): Promise<string> {
  const invoice = join(dir, `${tag}.invoice`);
  const payment = join(dir, `${tag}.payment`);
  const commit = join(dir, `${tag}.commit`);
  const receipt = join(dir, `${tag}.receipt`);
  await net.ctrl(seller, ['seller', 'create-invoice', '--currency', 'FST', '--amount', String(amount), '--invoice', invoice]);
  const paid = await net.payInvoice(buyer, invoice, payment, commit);
  await net.ctrl(seller, ['seller', 'commit-invoice', '--invoice', invoice, '--commit', commit]);
  await net.ctrl(buyer, ['buyer', 'payment-status', '--payment', payment, '--receipt', receipt]);
  const verified = await runProgramToEnd('stverify', ['verify-receipt', '--invoice', invoice, '--receipt', receipt]);
  if (verified.code !== 0) throw new Error(verified.stderr);
  return paid;
}

// Dozens of real processes on a shared machine: far slower than a unit test.
t.setTimeout(1_200_000);

t.test('the middle node of a chain forwards and earns its rate; a payment too large for one route is split over two', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'offset-cli-chain-'));
  const net = new CliNetwork(dir, () => {}, { OFFSET_LOG_LEVEL: 'warn' });
  t.teardown(() => { if (t.passing()) return; for (const p of net.programs) t.comment(`${p.name}: ${p.logLines.filter((l) => (l.level as number) >= 40).slice(-6).map((l) => JSON.stringify(l)).join(' | ')}`); });
  t.teardown(() => net.stopAll());
  const relay = await net.relay('relay');
  const [index] = await net.indexServers(['index']);
  const [a, b, c, d] = [await net.node('a'), await net.node('b'), await net.node('c'), await net.node('d')];
  for (const n of [a, b, c, d]) {
    await net.ctrl(n, ['config', 'add-relay', '--relay', relay.ticket, '--name', 'relay']);
    await net.ctrl(n, ['config', 'add-index', '--index', index.ticket, '--name', 'index']);
  }
  // a - b - d first; b charges a 2 per payment.
  await net.befriend(a, b, 'FST', { aTrustsB: 100n, bTrustsA: 100n, bRateForA: { mul: 0, add: 2 } });
  await net.befriend(b, d, 'FST', { aTrustsB: 100n, bTrustsA: 100n });

  const one = await payThrough(net, dir, a, d, 10n, 'one');
  t.match(one, /Total fees: 2/, 'the cheaper route through b, which charges 2');
  await settle(net, a, 'b', -12n);
  await settle(net, b, 'a', 12n);
  await settle(net, b, 'd', -10n);
  await settle(net, d, 'b', 10n);
  t.pass('b earned 2: +12 from a, -10 to d');

  // Then a - c - d, where c charges 1 plus 50 % and d trusts c with 30. Through b at most 86 more
  // can reach d (a may owe b 88, fee 2), so 110 needs c's route too.
  await net.befriend(a, c, 'FST', { aTrustsB: 100n, bTrustsA: 100n, bRateForA: { mul: 2 ** 31, add: 1 } });
  await net.befriend(c, d, 'FST', { aTrustsB: 100n, bTrustsA: 30n });
  const split = await payThrough(net, dir, a, d, 110n, 'split');
  const fees = /Total fees: (\d+)/.exec(split);
  t.ok(fees, split);
  t.match(split, /route: .*\n.*route: /, 'two routes used');
  const throughB = -(await net.balance(b, 'd', 'FST'))! - 10n;
  const throughC = -(await net.balance(c, 'd', 'FST'))!;
  t.equal(throughB + throughC, 110n, 'the two shares add up to the invoice');
  t.ok(throughB > 0n && throughC > 0n, `both routes carried a share (${throughB} and ${throughC})`);
  const expectedFees = 2n + (throughC / 2n + 1n);
  t.equal(BigInt(fees![1]), expectedFees, 'fees: 2 at b, and 1 + half the share at c');
  await settle(net, d, 'b', 10n + throughB);
  await settle(net, d, 'c', throughC);
  await settle(net, a, 'b', -12n - throughB - 2n);
  await settle(net, a, 'c', -(throughC + throughC / 2n + 1n));
  t.same(await net.stopAll(), [], 'every process exits cleanly on SIGTERM');
});
