#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadIdentityFile } from '../files/identity_file.js';
import { FileKind } from '../files/formats.js';
import { readServerTicket } from '../files/tickets.js';
import type { AppPermissions } from '../node/app_codec.js';
import { AppClient } from './app_client.js';
import { runProgram } from './cli_common.js';
import * as cmd from './ctrl_commands.js';
import { emit } from './output.js';

/**
 * stctrl: control a node as one of its trusted apps. Commands are grouped as in the original
 * (info, config, seller, buyer) and refer to friends, relays and index servers by local name.
 * Every command waits for the node's explicit result and exits 1 with a one-line error when the
 * node refuses, a file is missing or wrong, a name is unknown, or the node cannot be reached.
 */

interface GlobalOptions {
  idfile: string;
  ticket: string;
  json: boolean;
  timeout: number;
}

function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError('expected a number of seconds from 0 to 86400');
  return value;
}

type Action = (ctx: cmd.CommandContext, options: Record<string, string>) => Promise<cmd.CommandOutput> | cmd.CommandOutput;

function leaf(program: Command, name: string, description: string, permission: keyof AppPermissions | null, action: Action): Command {
  return new Command(name).description(description).option('--json', 'print one JSON object instead of text').action(async (options: Record<string, string | boolean>) => {
    const global = program.opts<GlobalOptions>();
    const json = global.json || options.json === true;
    // Files are read before dialing, so a typo in a path is reported as such, not as a network error.
    const identity = loadIdentityFile(global.idfile);
    const node = readServerTicket(global.ticket, FileKind.NodeTicket);
    const timeoutMs = Math.round(global.timeout * 1000);
    const client = await AppClient.connect({
      identity, node, connectTimeoutMs: Math.min(timeoutMs, 15_000),
    });
    try {
      if (permission !== null) cmd.requirePermission(client.permissions, permission, name);
      const output = await action({ client, timeoutMs }, options as Record<string, string>);
      emit({ json }, output.human, output.json);
    } finally {
      client.close();
    }
  });
}

export function stctrlProgram(): Command {
  const program = new Command('stctrl')
    .description('Control an Offset node as one of its trusted apps')
    .requiredOption('-I, --idfile <file>', 'identity file of this app')
    .requiredOption('-T, --ticket <file>', 'ticket of the node to control (stmgr node-ticket)')
    .option('--json', 'print one JSON object instead of text', false)
    .option('--timeout <seconds>', 'how long to wait for the node (default 60)', seconds, 60)
    // Program options go before the command, so a command's own --ticket is never taken for the node's.
    .enablePositionalOptions();

  const info = new Command('info').description('show the node\'s state');
  info.addCommand(leaf(program, 'public-key', 'the node\'s public key', null, (ctx) => cmd.infoPublicKey(ctx)));
  info.addCommand(leaf(program, 'relays', 'the node\'s relays', null, (ctx) => cmd.infoRelays(ctx)));
  info.addCommand(leaf(program, 'index', 'the index servers and whether one is connected', null, (ctx) => cmd.infoIndex(ctx)));
  info.addCommand(leaf(program, 'friends', 'friends: E/D enabled, +/- online, balances (B, LPD, RPD), max debts, rates', null, (ctx) => cmd.infoFriends(ctx)));
  info.addCommand(leaf(program, 'friend-last-token', 'save the last token a friend signed (check it with stverify verify-token; config permission)', 'config',
    (ctx, o) => cmd.infoFriendLastToken(ctx, o.name, o.token))
    .requiredOption('-n, --name <name>', 'friend name')
    .requiredOption('-t, --token <file>', 'token file to create'));
  info.addCommand(leaf(program, 'export-ticket', 'save the node\'s friend ticket (its key and relays) for friends to add', null,
    (ctx, o) => cmd.infoExportTicket(ctx, o.ticket))
    .requiredOption('-t, --ticket <file>', 'friend ticket file to create'));
  program.addCommand(info);

  const config = new Command('config').description('configure relays, index servers, friends and credit (config permission)');
  const friendName = ['-n, --name <name>', 'friend name'] as const;
  const currency = ['-c, --currency <currency>', 'currency name (1-16 bytes)'] as const;
  config.addCommand(leaf(program, 'add-relay', 'add a relay the node listens on', 'config', (ctx, o) => cmd.configAddRelay(ctx, o.relay, o.name))
    .requiredOption('-r, --relay <file>', 'relay ticket').requiredOption('-n, --name <name>', 'local name for the relay'));
  config.addCommand(leaf(program, 'remove-relay', 'remove a relay', 'config', (ctx, o) => cmd.configRemoveRelay(ctx, o.name))
    .requiredOption('-n, --name <name>', 'relay name'));
  config.addCommand(leaf(program, 'add-index', 'add an index server', 'config', (ctx, o) => cmd.configAddIndex(ctx, o.index, o.name))
    .requiredOption('-i, --index <file>', 'index ticket').requiredOption('-n, --name <name>', 'local name for the index server'));
  config.addCommand(leaf(program, 'remove-index', 'remove an index server', 'config', (ctx, o) => cmd.configRemoveIndex(ctx, o.name))
    .requiredOption('-n, --name <name>', 'index server name'));
  config.addCommand(leaf(program, 'add-friend', 'add a friend from its friend ticket (disabled until enable-friend)', 'config',
    (ctx, o) => cmd.configAddFriend(ctx, o.friend, o.name))
    .requiredOption('-f, --friend <file>', 'friend ticket').requiredOption('-n, --name <name>', 'local name for the friend'));
  config.addCommand(leaf(program, 'set-friend-relays', 'update a friend\'s relays from its new friend ticket', 'config',
    (ctx, o) => cmd.configSetFriendRelays(ctx, o.friend, o.name))
    .requiredOption('-f, --friend <file>', 'friend ticket').requiredOption(...friendName));
  for (const [name, kind, text] of [
    ['remove-friend', 'removeFriend', 'remove a friend'],
    ['enable-friend', 'enableFriend', 'enable a friend (connect and exchange tokens)'],
    ['disable-friend', 'disableFriend', 'disable a friend (disconnect)'],
  ] as const) {
    config.addCommand(leaf(program, name, text, 'config', (ctx, o) => cmd.configFriendSwitch(ctx, kind, o.name)).requiredOption(...friendName));
  }
  for (const [name, kind, text] of [
    ['open-currency', 'openCurrency', 'accept payments in a currency with a friend'],
    ['close-currency', 'closeCurrency', 'stop new payments in a currency with a friend'],
    ['remove-currency', 'removeCurrency', 'remove a currency with a friend (only when it is not in use)'],
  ] as const) {
    config.addCommand(leaf(program, name, text, 'config', (ctx, o) => cmd.configCurrency(ctx, kind, o.name, o.currency))
      .requiredOption(...friendName).requiredOption(...currency));
  }
  config.addCommand(leaf(program, 'set-max-debt', 'how much a friend may owe us in a currency', 'config',
    (ctx, o) => cmd.configSetMaxDebt(ctx, o.name, o.currency, o.mdebt))
    .alias('set-currency-max-debt')
    .requiredOption(...friendName).requiredOption(...currency).requiredOption('-m, --mdebt <amount>', 'maximum debt'));
  config.addCommand(leaf(program, 'set-rate', 'our fee for forwarding payments that arrive from a friend: amount*mul/2^32 + add', 'config',
    (ctx, o) => cmd.configSetRate(ctx, o.name, o.currency, o.mul, o.add))
    .alias('set-currency-rate')
    .requiredOption(...friendName).requiredOption(...currency)
    .requiredOption('-m, --mul <mul>', 'proportional part, in 2^-32 units (0-4294967295)')
    .requiredOption('-a, --add <add>', 'fixed part (0-4294967295)'));
  config.addCommand(leaf(program, 'reset-friend', 'accept a friend\'s reset terms after an inconsistency', 'config', (ctx, o) => cmd.configResetFriend(ctx, o.name))
    .requiredOption(...friendName));
  program.addCommand(config);

  const seller = new Command('seller').description('sell: invoices and commits (seller permission)');
  seller.addCommand(leaf(program, 'create-invoice', 'create an invoice and save it for the buyer', 'seller',
    (ctx, o) => cmd.sellerCreateInvoice(ctx, o.currency, o.amount, o.invoice))
    .requiredOption(...currency).requiredOption('-a, --amount <amount>', 'amount to receive').requiredOption('-i, --invoice <file>', 'invoice file to create'));
  seller.addCommand(leaf(program, 'cancel-invoice', 'cancel an invoice (its file is removed)', 'seller', (ctx, o) => cmd.sellerCancelInvoice(ctx, o.invoice))
    .requiredOption('-i, --invoice <file>', 'invoice file'));
  seller.addCommand(leaf(program, 'commit-invoice', 'accept the buyer\'s commit and collect the payment', 'seller',
    (ctx, o) => cmd.sellerCommitInvoice(ctx, o.invoice, o.commit))
    .requiredOption('-i, --invoice <file>', 'invoice file').requiredOption('-c, --commit <file>', 'commit file from the buyer'));
  program.addCommand(seller);

  const buyer = new Command('buyer').description('buy: pay invoices (buyer permission; pay-invoice also needs routes)');
  buyer.addCommand(leaf(program, 'pay-invoice', 'pay an invoice over routes from the index server, split over several routes if needed', 'buyer',
    async (ctx, o) => {
      cmd.requirePermission(ctx.client.permissions, 'routes', 'pay-invoice');
      return cmd.buyerPayInvoice(ctx, o.invoice, o.payment, o.commit, o.maxFees);
    })
    .requiredOption('-i, --invoice <file>', 'invoice from the seller')
    .requiredOption('-p, --payment <file>', 'payment file to create (for payment-status)')
    .requiredOption('-c, --commit <file>', 'commit file to create (give it to the seller)')
    .option('--max-fees <amount>', 'refuse to pay more than this in fees'));
  buyer.addCommand(leaf(program, 'payment-status', 'show a payment\'s status; with --commit, save its commit again; with --receipt, close it and save the receipt', 'buyer',
    (ctx, o) => cmd.buyerPaymentStatus(ctx, o.payment, o.receipt, o.commit))
    .requiredOption('-p, --payment <file>', 'payment file')
    .option('-c, --commit <file>', 'save the commit for the seller here (when pay-invoice could not)')
    .option('-r, --receipt <file>', 'close the payment and save its receipt here'));
  program.addCommand(buyer);
  return program;
}

await runProgram(stctrlProgram());
