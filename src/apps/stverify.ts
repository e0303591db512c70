#!/usr/bin/env node
import { Command } from 'commander';
import { toBase64Url } from '../common/bytes.js';
import { readInvoiceFile, readReceiptFile, readTokenFile } from '../files/payment_files.js';
import { runProgram } from './cli_common.js';
import { emit } from './output.js';
import { checkReceipt, checkToken, describeToken } from './verify.js';

/** stverify: check receipts and tokens offline, without a node. Exit 1 when they do not verify. */

export function stverifyProgram(): Command {
  const program = new Command('stverify')
    .description('Verify Offset receipts and friend tokens offline')
    .option('--json', 'print one JSON object instead of text', false);

  program.addCommand(
    new Command('verify-receipt')
      .description('check that a receipt proves the invoice was paid in full, signed by the seller')
      .requiredOption('-i, --invoice <file>', 'the invoice the receipt should pay')
      .requiredOption('-r, --receipt <file>', 'the receipt to check')
      .option('--json', 'print one JSON object instead of text', false)
      .action((options: { invoice: string; receipt: string; json: boolean }) => {
        const invoice = readInvoiceFile(options.invoice);
        const receipt = readReceiptFile(options.receipt);
        checkReceipt(invoice, receipt);
        emit({ json: options.json || program.opts<{ json: boolean }>().json }, [
          'Receipt is valid!',
          `invoice: ${toBase64Url(invoice.invoiceId)}`,
          `paid: ${invoice.totalDestPayment} ${invoice.currency} to ${toBase64Url(invoice.destPublicKey)}`,
        ], {
          valid: true, invoiceId: invoice.invoiceId, currency: invoice.currency,
          totalDestPayment: invoice.totalDestPayment, seller: invoice.destPublicKey,
        });
      }),
  );

  program.addCommand(
    new Command('verify-token')
      .description('check that a token file carries a valid signature by the key embedded in it, and show its balances')
      .requiredOption('-t, --token <file>', 'token file written by stctrl info friend-last-token')
      .option('--json', 'print one JSON object instead of text', false)
      .action((options: { token: string; json: boolean }) => {
        const token = readTokenFile(options.token);
        checkToken(token);
        const info = token.tokenInfo;
        emit({ json: options.json || program.opts<{ json: boolean }>().json }, [
          'Token is valid!',
          `signed by: ${toBase64Url(info.localPublicKey)}`,
          `friend: ${toBase64Url(info.remotePublicKey)}`,
          `inconsistency counter: ${info.inconsistencyCounter}`,
          `move token counter: ${info.moveTokenCounter}`,
          'balances (from the signer\'s side):',
          ...info.balances.map((b) => `- ${b.currency}: balance=${b.balance}, lpd=${b.localPending}, rpd=${b.remotePending}`),
        ], { valid: true, ...describeToken(token) });
      }),
  );
  return program;
}

await runProgram(stverifyProgram());
