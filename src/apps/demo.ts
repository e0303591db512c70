#!/usr/bin/env node
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { CliNetwork, type NodeHandle } from './cli_network.js';

/**
 * `npm run demo`: a whole Offset network on 127.0.0.1, driven only through the command-line
 * programs. Two relays, two federated index servers and three nodes in a chain A - B - C; A pays
 * C's invoice through B, B earns its forwarding fee, C collects, A verifies the receipt offline.
 * Every process is stopped and the temporary directory removed at the end, also on failure.
 */

const CURRENCY = 'FST';
const AMOUNT = 100n;

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

function show(text: string): void {
  const body = text.trimEnd();
  if (body !== '') process.stdout.write(`${body.split('\n').map((l) => `   ${l}`).join('\n')}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'offset-demo-'));
  const net = new CliNetwork(dir, show, { OFFSET_LOG_LEVEL: process.env.OFFSET_LOG_LEVEL ?? 'warn' });
  let failed = false;
  const stop = (): void => {
    void net.stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    step('Starting two relays and two index servers that trust each other');
    const [relay1, relay2] = [await net.relay('relay1'), await net.relay('relay2')];
    show(`relay1 on ${relay1.address}, relay2 on ${relay2.address}`);
    const [index1, index2] = await net.indexServers(['index1', 'index2']);
    show(`index1 on ${index1.address}, index2 on ${index2.address}`);

    step('Starting three nodes, each with an app allowed to configure, buy and sell');
    const a = await net.node('alice');
    const b = await net.node('bob');
    const c = await net.node('carol');
    for (const n of [a, b, c]) show(`${n.name}: node ${n.publicKey} on ${n.address}`);

    step('Configuring relays and index servers with stctrl');
    const layout: Array<[NodeHandle, typeof relay1, typeof index1]> = [[a, relay1, index1], [b, relay1, index2], [c, relay2, index2]];
    for (const [n, relay, index] of layout) {
      await net.ctrl(n, ['config', 'add-relay', '--relay', relay.ticket, '--name', relay.name]);
      await net.ctrl(n, ['config', 'add-index', '--index', index.ticket, '--name', index.name]);
      show(`${n.name} uses ${relay.name} and ${index.name}`);
    }

    step(`Making friends along the chain alice - bob - carol, with credit in ${CURRENCY}`);
    // bob charges 1 plus 1% for forwarding a payment that arrives from alice.
    const bobRate = { mul: Math.round(2 ** 32 / 100), add: 1 };
    await net.befriend(a, b, CURRENCY, { aTrustsB: 1000n, bTrustsA: 1000n, bRateForA: bobRate });
    await net.befriend(b, c, CURRENCY, { aTrustsB: 1000n, bTrustsA: 1000n });
    show(await net.ctrl(b, ['info', 'friends']));

    step(`carol creates an invoice for ${AMOUNT} ${CURRENCY}`);
    const invoice = join(dir, 'carol.invoice');
    show(await net.ctrl(c, ['seller', 'create-invoice', '--currency', CURRENCY, '--amount', String(AMOUNT), '--invoice', invoice]));

    step('alice pays it over a route from the index servers, through bob');
    const payment = join(dir, 'alice.payment');
    const commit = join(dir, 'alice.commit');
    show(await net.payInvoice(a, invoice, payment, commit));

    step('carol commits the invoice with the commit alice handed her, and collects');
    show(await net.ctrl(c, ['seller', 'commit-invoice', '--invoice', invoice, '--commit', commit]));

    step('alice closes the payment and gets the receipt');
    const receipt = join(dir, 'alice.receipt');
    show(await net.ctrl(a, ['buyer', 'payment-status', '--payment', payment, '--receipt', receipt]));

    step('Anyone can verify the receipt offline against the invoice');
    show(await net.run('stverify', ['verify-receipt', '--invoice', invoice, '--receipt', receipt]));

    step('Balances (positive: the friend owes us)');
    const fee = AMOUNT * BigInt(bobRate.mul) / (1n << 32n) + BigInt(bobRate.add);
    const expected: Array<[NodeHandle, string, bigint]> = [[a, 'bob', -(AMOUNT + fee)], [b, 'alice', AMOUNT + fee], [b, 'carol', -AMOUNT], [c, 'bob', AMOUNT]];
    for (const [n, friend, want] of expected) {
      await net.waitForFriends(n, `the final balance with ${friend}`,
        (fs) => fs.some((f) => f.name === friend && f.currencies.some((x) => x.balance !== null && BigInt(x.balance.balance) === want && x.balance.localPendingDebt === '0' && x.balance.remotePendingDebt === '0')));
      show(`${n.name.padEnd(6)} with ${friend.padEnd(6)}: ${(await net.balance(n, friend, CURRENCY))!} ${CURRENCY}`);
    }
    show(`bob earned ${fee} ${CURRENCY} for forwarding (1 + 1% of ${AMOUNT})`);
  } catch (err) {
    failed = true;
    process.stderr.write(`\ndemo failed: ${errorMessage(err)}\n`);
    for (const s of net.servers) {
      const tail = s.program.stderrLines.slice(-3);
      if (tail.length > 0) process.stderr.write(`  ${s.name} stderr: ${tail.join(' | ')}\n`);
    }
  } finally {
    step('Shutting everything down');
    const unclean = await net.stopAll();
    rmSync(dir, { recursive: true, force: true });
    for (const line of unclean) show(line);
    if (unclean.length > 0) failed = true;
    else show(`all ${net.programs.length} server processes stopped cleanly${failed ? ' after the failure' : ''}`);
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
