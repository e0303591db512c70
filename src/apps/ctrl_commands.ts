import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync } from 'node:fs';
import { bytesEqual, parseDecimal, toBase64Url, U128_MAX } from '../common/bytes.js';
import { OffsetError } from '../common/errors.js';
import { isValidRate } from '../common/rate.js';
import { FileError, FileErrorCode } from '../files/file_errors.js';
import { FileKind, type ServerTicket } from '../files/formats.js';
import {
  isValidCurrencyName, readCommitFile, readInvoiceFile, readPaymentFile, writeCommitFile, writeInvoiceFile, writePaymentFile,
  writeReceiptFile, writeTokenFile, type TokenFile,
} from '../files/payment_files.js';
import { readFriendTicket, readServerTicket, writeFriendTicket } from '../files/tickets.js';
import { verifyCommit } from '../funder/receipt.js';
import type { Commit } from '../funder/types.js';
import type { AppPermissions, FriendReport, NamedAddress, NodeReport } from '../node/app_codec.js';
import { AppClient, newUid, type Answer } from './app_client.js';
import { failureCodeName, failureText, friendBalance, mostTelling } from './node_report.js';
import type { Failure } from '../node/app_codec.js';
import { planPayment, totalLimit } from './multi_route.js';

/**
 * What each stctrl command does, over a connected AppClient. Each command checks its inputs and
 * output files before it asks the node for anything, so a typo never leaves half-done work, and
 * every failure is an OffsetError with a stable code that stctrl prints on one line.
 */

export const CtrlErrorCode = {
  UnknownName: 'ERR_CTRL_UNKNOWN_NAME',
  NameTaken: 'ERR_CTRL_NAME_TAKEN',
  BadArgument: 'ERR_CTRL_BAD_ARGUMENT',
  NoPermission: 'ERR_CTRL_NO_PERMISSION',
  NoRoute: 'ERR_CTRL_NO_ROUTE',
  InsufficientCapacity: 'ERR_CTRL_INSUFFICIENT_CAPACITY',
  PaymentFailed: 'ERR_CTRL_PAYMENT_FAILED',
  PaymentCanceled: 'ERR_CTRL_PAYMENT_CANCELED',
  PaymentNotFound: 'ERR_CTRL_PAYMENT_NOT_FOUND',
  NoCommit: 'ERR_CTRL_NO_COMMIT',
  BadCommit: 'ERR_CTRL_BAD_COMMIT',
} as const;

export class CtrlError extends OffsetError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'CtrlError';
  }
}

/** One command's outcome: lines for people, one object for --json. */
export interface CommandOutput {
  readonly human: readonly string[];
  readonly json: Record<string, unknown>;
}

export interface CommandContext {
  readonly client: AppClient;
  readonly timeoutMs: number;
}

// ---- argument parsing ----------------------------------------------------------------------

export function parseAmount(text: string, what: string, allowZero = false): bigint {
  const value = parseDecimal(text, allowZero ? 0n : 1n, U128_MAX);
  if (value === null) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `${what} must be a whole number from ${allowZero ? 0 : 1} to 2^128-1, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function parseU32(text: string, what: string): number {
  const value = parseDecimal(text, 0n, 0xffffffffn);
  if (value === null) throw new CtrlError(CtrlErrorCode.BadArgument, `${what} must be a whole number from 0 to 4294967295, got ${JSON.stringify(text)}`);
  return Number(value);
}

export function checkCurrency(currency: string): string {
  if (!isValidCurrencyName(currency)) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `currency must be 1-16 bytes of text, got ${JSON.stringify(currency)}`);
  }
  return currency;
}

function refuseExisting(path: string): void {
  if (existsSync(path)) throw new FileError(FileErrorCode.Exists, path, 'already exists; refusing to overwrite');
}

// ---- names ---------------------------------------------------------------------------------

function names(list: readonly { name: string }[]): string {
  const known = list.map((x) => x.name).filter((n) => n !== '');
  return known.length === 0 ? 'none' : known.join(', ');
}

export function friendByName(report: NodeReport, name: string): FriendReport {
  const friend = report.friends.find((f) => f.name === name);
  if (friend === undefined) throw new CtrlError(CtrlErrorCode.UnknownName, `no friend named ${JSON.stringify(name)} (friends: ${names(report.friends)})`);
  return friend;
}

function relayByName(report: NodeReport, name: string): NamedAddress {
  const relay = report.relays.find((r) => r.name === name);
  if (relay === undefined) throw new CtrlError(CtrlErrorCode.UnknownName, `no relay named ${JSON.stringify(name)} (relays: ${names(report.relays)})`);
  return relay;
}

function indexByName(report: NodeReport, name: string): NamedAddress {
  const server = report.indexServers.find((r) => r.name === name);
  if (server === undefined) {
    throw new CtrlError(CtrlErrorCode.UnknownName, `no index server named ${JSON.stringify(name)} (index servers: ${names(report.indexServers)})`);
  }
  return server;
}

export function requirePermission(permissions: AppPermissions, needed: keyof AppPermissions, command: string): void {
  if (!permissions[needed]) {
    throw new CtrlError(CtrlErrorCode.NoPermission, `${command} needs the ${needed} permission, which this app's ticket on the node does not grant`);
  }
}

// ---- info ----------------------------------------------------------------------------------

export function infoPublicKey(ctx: CommandContext): CommandOutput {
  const key = toBase64Url(ctx.client.report.publicKey);
  return { human: [key], json: { publicKey: key } };
}

export function infoRelays(ctx: CommandContext): CommandOutput {
  const relays = ctx.client.report.relays;
  return {
    human: relays.length === 0 ? ['No relays configured.'] : relays.map((r) => `${r.name || '(unnamed)'}  ${toBase64Url(r.publicKey)}  ${r.address}`),
    json: { relays: relays.map((r) => ({ name: r.name, publicKey: toBase64Url(r.publicKey), address: r.address })) },
  };
}

export function infoIndex(ctx: CommandContext): CommandOutput {
  const report = ctx.client.report;
  const connected = report.indexServers.find((s) => report.connectedIndex !== null && bytesEqual(s.publicKey, report.connectedIndex));
  const lines = report.indexServers.map((s) => `${s === connected ? '(*) ' : '    '}${s.name}  ${toBase64Url(s.publicKey)}  ${s.address}`);
  lines.push(report.connectedIndex === null ? 'Not connected to any index server.' : `Connected to ${connected?.name ?? toBase64Url(report.connectedIndex)}.`);
  return {
    human: report.indexServers.length === 0 ? ['No index servers configured.', lines[lines.length - 1]] : lines,
    json: {
      indexServers: report.indexServers.map((s) => ({ name: s.name, publicKey: toBase64Url(s.publicKey), address: s.address })),
      connected: report.connectedIndex === null ? null : toBase64Url(report.connectedIndex),
    },
  };
}

function friendLines(f: FriendReport): string[] {
  const consistent = f.channel.kind === 'consistent';
  const head = `${f.enabled ? 'E' : 'D'}${f.online ? '+' : '-'} ${f.name}  ${toBase64Url(f.publicKey)}${consistent ? '' : '  INCONSISTENT'}`;
  const lines = [head];
  for (const c of f.currencyConfigs) {
    const b = friendBalance(f, c.currency);
    const balance = b === null ? 'not active' : `B=${b.balance} LPD=${b.localPendingDebt} RPD=${b.remotePendingDebt}`;
    lines.push(`    ${c.currency}: ${c.isOpen ? 'open' : 'closed'}, ${balance}, max debt=${c.remoteMaxDebt}, rate=${c.rate.mul}/2^32+${c.rate.add}`);
  }
  if (f.channel.kind === 'inconsistent') {
    const terms = (t: { balances: readonly { currency: string; balance: bigint }[] }): string => t.balances.map((x) => `${x.currency}=${x.balance}`).join(' ') || '(none)';
    lines.push(`    reset terms: ours ${terms(f.channel.localTerms)}; theirs ${f.channel.remoteTerms === null ? 'not received' : terms(f.channel.remoteTerms)}`);
  }
  return lines;
}

export function describeFriend(f: FriendReport): Record<string, unknown> {
  return {
    name: f.name, publicKey: toBase64Url(f.publicKey), enabled: f.enabled, online: f.online, consistent: f.channel.kind === 'consistent',
    relays: f.relays.map((r) => ({ publicKey: toBase64Url(r.publicKey), address: r.address })),
    currencies: f.currencyConfigs.map((c) => {
      const b = friendBalance(f, c.currency);
      return {
        currency: c.currency, isOpen: c.isOpen, remoteMaxDebt: c.remoteMaxDebt.toString(), rate: { mul: c.rate.mul, add: c.rate.add },
        balance: b === null ? null : {
          balance: b.balance.toString(), localPendingDebt: b.localPendingDebt.toString(), remotePendingDebt: b.remotePendingDebt.toString(),
        },
      };
    }),
  };
}

export function infoFriends(ctx: CommandContext): CommandOutput {
  const friends = ctx.client.report.friends;
  return {
    human: friends.length === 0 ? ['No friends.'] : friends.flatMap(friendLines),
    json: { friends: friends.map(describeFriend) },
  };
}

export function infoExportTicket(ctx: CommandContext, ticketPath: string): CommandOutput {
  refuseExisting(ticketPath);
  const report = ctx.client.report;
  const relays = report.relays.map((r) => ({ publicKey: r.publicKey, address: r.address }));
  writeFriendTicket(ticketPath, { publicKey: report.publicKey, relays });
  return {
    human: [`Friend ticket saved to ${ticketPath} (${relays.length} relay${relays.length === 1 ? '' : 's'}).`],
    json: { ticket: ticketPath, publicKey: toBase64Url(report.publicKey), relays: relays.length },
  };
}

type TokenAnswer = Extract<Answer, { kind: 'friendLastToken' }>;

/** Saves the friend's last signed move token; `stverify verify-token` checks it offline. */
export async function infoFriendLastToken(ctx: CommandContext, name: string, tokenPath: string): Promise<CommandOutput> {
  refuseExisting(tokenPath);
  const friend = friendByName(ctx.client.report, name);
  const requestId = newUid();
  const answer = ctx.client.waitForAnswer(
    (m): m is TokenAnswer => m.kind === 'friendLastToken' && bytesEqual(m.appRequestId, requestId), ctx.timeoutMs, 'the friend\'s token');
  answer.catch(() => {});
  await ctx.client.request({ kind: 'friendLastToken', publicKey: friend.publicKey }, ctx.timeoutMs, requestId);
  const { token } = await answer;
  if (!bytesEqual(token.signer, friend.publicKey)) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `the node returned a token signed by another key than friend ${JSON.stringify(name)}'s`);
  }
  const file: TokenFile = {
    prefixHash: token.prefixHash, randNonce: token.randNonce, newToken: token.newToken,
    tokenInfo: {
      localPublicKey: token.signer, remotePublicKey: token.receiver,
      balances: token.balances.map((b) => ({ currency: b.currency, balance: b.balance, localPending: b.localPendingDebt, remotePending: b.remotePendingDebt })),
      inconsistencyCounter: token.inconsistencyCounter, moveTokenCounter: token.moveTokenCounter,
    },
  };
  writeTokenFile(tokenPath, file);
  return {
    human: [`Last token of friend ${name} (move ${token.moveTokenCounter}) saved to ${tokenPath}.`],
    json: { token: tokenPath, friend: toBase64Url(friend.publicKey), moveTokenCounter: token.moveTokenCounter.toString() },
  };
}

// ---- config --------------------------------------------------------------------------------

function done(message: string, json: Record<string, unknown> = {}): CommandOutput {
  return { human: [message], json: { ok: true, ...json } };
}

export async function configAddRelay(ctx: CommandContext, relayPath: string, name: string): Promise<CommandOutput> {
  const ticket: ServerTicket = readServerTicket(relayPath, FileKind.RelayTicket);
  if (ctx.client.report.relays.some((r) => r.name === name && name !== '')) {
    throw new CtrlError(CtrlErrorCode.NameTaken, `a relay named ${JSON.stringify(name)} already exists`);
  }
  await ctx.client.request({ kind: 'addRelay', relay: { publicKey: ticket.publicKey, address: ticket.address, name } }, ctx.timeoutMs);
  return done(`Relay ${name} added.`);
}

export async function configRemoveRelay(ctx: CommandContext, name: string): Promise<CommandOutput> {
  const relay = relayByName(ctx.client.report, name);
  await ctx.client.request({ kind: 'removeRelay', publicKey: relay.publicKey }, ctx.timeoutMs);
  return done(`Relay ${name} removed.`);
}

export async function configAddIndex(ctx: CommandContext, indexPath: string, name: string): Promise<CommandOutput> {
  const ticket = readServerTicket(indexPath, FileKind.IndexTicket);
  if (ctx.client.report.indexServers.some((s) => s.name === name)) {
    throw new CtrlError(CtrlErrorCode.NameTaken, `an index server named ${JSON.stringify(name)} already exists`);
  }
  await ctx.client.request({ kind: 'addIndexServer', server: { publicKey: ticket.publicKey, address: ticket.address, name } }, ctx.timeoutMs);
  return done(`Index server ${name} added.`);
}

export async function configRemoveIndex(ctx: CommandContext, name: string): Promise<CommandOutput> {
  const server = indexByName(ctx.client.report, name);
  await ctx.client.request({ kind: 'removeIndexServer', publicKey: server.publicKey }, ctx.timeoutMs);
  return done(`Index server ${name} removed.`);
}

export async function configAddFriend(ctx: CommandContext, friendPath: string, name: string): Promise<CommandOutput> {
  const ticket = readFriendTicket(friendPath);
  if (ctx.client.report.friends.some((f) => f.name === name)) {
    throw new CtrlError(CtrlErrorCode.NameTaken, `a friend named ${JSON.stringify(name)} already exists`);
  }
  await ctx.client.request({ kind: 'addFriend', publicKey: ticket.publicKey, name, relays: ticket.relays }, ctx.timeoutMs);
  return done(`Friend ${name} added.`);
}

export async function configSetFriendRelays(ctx: CommandContext, friendPath: string, name: string): Promise<CommandOutput> {
  const ticket = readFriendTicket(friendPath);
  const friend = friendByName(ctx.client.report, name);
  if (!bytesEqual(ticket.publicKey, friend.publicKey)) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `${friendPath} is the ticket of another node than friend ${JSON.stringify(name)}`);
  }
  await ctx.client.request({ kind: 'setFriendRelays', publicKey: friend.publicKey, relays: ticket.relays }, ctx.timeoutMs);
  return done(`Relays of friend ${name} updated.`);
}

export async function configFriendSwitch(ctx: CommandContext, kind: 'removeFriend' | 'enableFriend' | 'disableFriend', name: string): Promise<CommandOutput> {
  const friend = friendByName(ctx.client.report, name);
  await ctx.client.request({ kind, publicKey: friend.publicKey }, ctx.timeoutMs);
  const verb = { removeFriend: 'removed', enableFriend: 'enabled', disableFriend: 'disabled' }[kind];
  return done(`Friend ${name} ${verb}.`);
}

export async function configCurrency(
  ctx: CommandContext, kind: 'openCurrency' | 'closeCurrency' | 'removeCurrency', name: string, currency: string,
): Promise<CommandOutput> {
  const friend = friendByName(ctx.client.report, name);
  await ctx.client.request({ kind, publicKey: friend.publicKey, currency: checkCurrency(currency) }, ctx.timeoutMs);
  const verb = { openCurrency: 'opened', closeCurrency: 'closed', removeCurrency: 'removed' }[kind];
  return done(`Currency ${currency} ${verb} with friend ${name}.`);
}

export async function configSetMaxDebt(ctx: CommandContext, name: string, currency: string, maxDebt: string): Promise<CommandOutput> {
  const amount = parseAmount(maxDebt, '--mdebt', true);
  const friend = friendByName(ctx.client.report, name);
  await ctx.client.request({ kind: 'setMaxDebt', publicKey: friend.publicKey, currency: checkCurrency(currency), remoteMaxDebt: amount }, ctx.timeoutMs);
  return done(`Friend ${name} may now owe up to ${amount} ${currency}.`, { remoteMaxDebt: amount.toString() });
}

export async function configSetRate(ctx: CommandContext, name: string, currency: string, mul: string, add: string): Promise<CommandOutput> {
  const rate = { mul: parseU32(mul, '--mul'), add: parseU32(add, '--add') };
  if (!isValidRate(rate)) throw new CtrlError(CtrlErrorCode.BadArgument, 'invalid rate');
  const friend = friendByName(ctx.client.report, name);
  await ctx.client.request({ kind: 'setRate', publicKey: friend.publicKey, currency: checkCurrency(currency), rate }, ctx.timeoutMs);
  return done(`Rate for payments arriving from ${name} in ${currency}: ${rate.mul}/2^32 of the amount + ${rate.add}.`, { rate });
}

export async function configResetFriend(ctx: CommandContext, name: string): Promise<CommandOutput> {
  const friend = friendByName(ctx.client.report, name);
  if (friend.channel.kind === 'consistent') {
    throw new CtrlError(CtrlErrorCode.BadArgument, `the channel with friend ${name} is consistent; there is nothing to reset`);
  }
  const terms = friend.channel.remoteTerms;
  if (terms === null) throw new CtrlError(CtrlErrorCode.BadArgument, `friend ${name} has not sent its reset terms yet (is it online?)`);
  await ctx.client.request({ kind: 'resetFriendChannel', publicKey: friend.publicKey, resetToken: terms.resetToken }, ctx.timeoutMs);
  return done(`Accepted the reset terms of friend ${name}.`);
}

// ---- seller --------------------------------------------------------------------------------

export async function sellerCreateInvoice(ctx: CommandContext, currency: string, amountText: string, invoicePath: string): Promise<CommandOutput> {
  const amount = parseAmount(amountText, '--amount');
  checkCurrency(currency);
  refuseExisting(invoicePath);
  const invoiceId = new Uint8Array(randomBytes(32));
  await ctx.client.request({ kind: 'addInvoice', invoiceId, currency, totalDestPayment: amount }, ctx.timeoutMs);
  writeInvoiceFile(invoicePath, { invoiceId, currency, destPublicKey: ctx.client.report.publicKey, totalDestPayment: amount });
  return {
    human: [`Invoice for ${amount} ${currency} saved to ${invoicePath}.`],
    json: { invoice: invoicePath, invoiceId: toBase64Url(invoiceId), currency, amount: amount.toString() },
  };
}

export async function sellerCancelInvoice(ctx: CommandContext, invoicePath: string): Promise<CommandOutput> {
  const invoice = readInvoiceFile(invoicePath);
  if (!bytesEqual(invoice.destPublicKey, ctx.client.report.publicKey)) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `${invoicePath} is an invoice of another node`);
  }
  await ctx.client.request({ kind: 'cancelInvoice', invoiceId: invoice.invoiceId }, ctx.timeoutMs);
  unlinkSync(invoicePath);
  return done(`Invoice canceled; ${invoicePath} removed.`);
}

export async function sellerCommitInvoice(ctx: CommandContext, invoicePath: string, commitPath: string): Promise<CommandOutput> {
  const invoice = readInvoiceFile(invoicePath);
  const commit = readCommitFile(commitPath);
  if (!bytesEqual(invoice.destPublicKey, ctx.client.report.publicKey)) {
    throw new CtrlError(CtrlErrorCode.BadArgument, `${invoicePath} is an invoice of another node`);
  }
  const problem = verifyCommit(invoice, commit);
  if (problem !== null) throw new CtrlError(CtrlErrorCode.BadCommit, `${commitPath} does not commit to this invoice (${problem})`);
  await ctx.client.request({ kind: 'commitInvoice', commit }, ctx.timeoutMs);
  return done(`Commit accepted: collecting ${invoice.totalDestPayment} ${invoice.currency}.`);
}

// ---- buyer ---------------------------------------------------------------------------------

type RoutesAnswer = Extract<Answer, { kind: 'routes' }>;
type TxAnswer = Extract<Answer, { kind: 'transactionResult' }>;
type StatusAnswer = Extract<Answer, { kind: 'closePayment' }>;

export async function buyerPayInvoice(
  ctx: CommandContext, invoicePath: string, paymentPath: string, commitPath: string, maxFeesText: string | undefined,
): Promise<CommandOutput> {
  const invoice = readInvoiceFile(invoicePath);
  refuseExisting(paymentPath);
  refuseExisting(commitPath);
  const maxFees = maxFeesText === undefined ? null : parseAmount(maxFeesText, '--max-fees', true);
  const { client } = ctx;
  const me = client.report.publicKey;
  if (bytesEqual(me, invoice.destPublicKey)) throw new CtrlError(CtrlErrorCode.BadArgument, 'this invoice is our own node\'s');

  const routesId = newUid();
  const answer = client.waitForAnswer((m): m is RoutesAnswer => m.kind === 'routes' && bytesEqual(m.requestId, routesId), ctx.timeoutMs, 'routes');
  answer.catch(() => {});
  await client.request({
    kind: 'requestRoutes', requestId: routesId, currency: invoice.currency, amount: invoice.totalDestPayment, source: me,
    destination: invoice.destPublicKey, exclude: null, maxHops: 0, maxFee: null, maxRoutes: 0,
  }, ctx.timeoutMs, routesId);
  const { outcome } = await answer;
  if (outcome.kind === 'failed') {
    throw new CtrlError(CtrlErrorCode.NoRoute, `the index server found no route: ${outcome.error.message}`);
  }
  const { routes } = outcome;
  if (routes.length === 0) {
    throw new CtrlError(CtrlErrorCode.NoRoute, `no route to the seller can carry ${invoice.currency} (is the index server connected, and are the friends online with open credit?)`);
  }
  const plan = planPayment(routes, invoice.totalDestPayment, me, invoice.destPublicKey);
  if (plan === null) {
    throw new CtrlError(CtrlErrorCode.InsufficientCapacity,
      `insufficient capacity: the routes found carry at most ${totalLimit(routes)} of the ${invoice.totalDestPayment} ${invoice.currency} needed`);
  }
  if (maxFees !== null && plan.totalFees > maxFees) {
    throw new CtrlError(CtrlErrorCode.PaymentFailed, `the fees would be ${plan.totalFees}, above --max-fees ${maxFees}`);
  }

  const paymentId = newUid();
  // Written before the payment exists, so the payment can always be found and closed later.
  writePaymentFile(paymentPath, {
    paymentId, invoiceId: invoice.invoiceId, currency: invoice.currency, totalDestPayment: invoice.totalDestPayment,
    destPublicKey: invoice.destPublicKey,
  });
  await client.request({
    kind: 'createPayment', paymentId, invoiceId: invoice.invoiceId, currency: invoice.currency,
    totalDestPayment: invoice.totalDestPayment, destPublicKey: invoice.destPublicKey,
  }, ctx.timeoutMs);

  const results: Array<Promise<TxAnswer>> = [];
  let refused: Error | null = null;
  for (const tx of plan.transactions) {
    const requestId = newUid();
    const result = client.waitForAnswer(
      (m): m is TxAnswer => m.kind === 'transactionResult' && bytesEqual(m.requestId, requestId) && bytesEqual(m.paymentId, paymentId),
      ctx.timeoutMs, 'the transaction result');
    result.catch(() => {});
    try {
      await client.request({ kind: 'createTransaction', paymentId, requestId, route: tx.route, destPayment: tx.destPayment, fees: tx.fee }, ctx.timeoutMs, requestId);
    } catch (err) {
      refused = err as Error;
      break;
    }
    results.push(result);
  }
  const outcomes = await Promise.all(results);
  const commit: Commit | null = outcomes.reduce<Commit | null>((found, r) => (r.outcome.kind === 'complete' ? r.outcome.commit : found), null);
  const failure = mostTelling(outcomes.flatMap((r) => (r.outcome.kind === 'failure' ? [r.outcome] : [])));
  const failed = refused !== null || failure !== null;
  const routesText = plan.transactions.map((tx) => `${tx.destPayment} over ${tx.route.length - 2} forwarder${tx.route.length === 3 ? '' : 's'} (fee ${tx.fee})`);
  if (commit === null || failed) {
    // Stop the payment so its other transactions cannot complete it later; the node cancels or settles.
    await client.request({ kind: 'requestClosePayment', paymentId }, ctx.timeoutMs).catch(() => {});
    const why = refused !== null ? (refused as Error).message
      : failure !== null ? `a route failed: ${failureText(failure)}`
        : 'no transaction completed the invoice';
    // A failed route names its reason in the error's code, so scripts can tell them apart.
    const code = refused === null && failure !== null ? failureCodeName(failure.reason) : CtrlErrorCode.PaymentFailed;
    throw new CtrlError(code, `payment failed: ${why}; see payment-status --payment ${paymentPath}`);
  }
  writeCommitFile(commitPath, commit);
  return {
    human: [
      `Total fees: ${plan.totalFees}`,
      ...routesText.map((t) => `  route: ${t}`),
      `Payment successful! Commit saved to ${commitPath}; give it to the seller.`,
    ],
    json: {
      ok: true, payment: paymentPath, commit: commitPath, totalFees: plan.totalFees.toString(), amount: invoice.totalDestPayment.toString(),
      currency: invoice.currency,
      routes: plan.transactions.map((tx) => ({ nodes: tx.route.map(toBase64Url), amount: tx.destPayment.toString(), fee: tx.fee.toString() })),
    },
  };
}

/** The node keeps the commit until the payment is closed: it can be saved again, after a restart too. */
function inProgressOutput(commit: Commit | null, commitPath: string | undefined): CommandOutput {
  if (commitPath === undefined) {
    return {
      human: [commit === null ? 'Payment in progress.' : 'Payment in progress; the seller\'s commit is ready (save it with --commit FILE).'],
      json: { status: 'inProgress', commitReady: commit !== null },
    };
  }
  if (commit === null) throw new CtrlError(CtrlErrorCode.NoCommit, 'the payment has no commit yet (no route has completed the invoice)');
  writeCommitFile(commitPath, commit);
  return {
    human: [`Payment in progress; commit saved to ${commitPath}: give it to the seller.`],
    json: { status: 'inProgress', commitReady: true, commit: commitPath },
  };
}

function canceledText(failure: Failure | null): string {
  return failure === null ? 'no transaction was sent' : failureText(failure);
}

function failureJson(failure: Failure | null): Record<string, unknown> {
  if (failure === null) return { reason: null };
  return { reason: failureCodeName(failure.reason), message: failure.message, atThisNode: failure.atThisNode };
}

export async function buyerPaymentStatus(
  ctx: CommandContext, paymentPath: string, receiptPath: string | undefined, commitPath: string | undefined = undefined,
): Promise<CommandOutput> {
  const payment = readPaymentFile(paymentPath);
  if (receiptPath !== undefined && commitPath !== undefined) {
    // Closing waits for the seller to collect, which needs the commit first.
    throw new CtrlError(CtrlErrorCode.BadArgument, 'use --commit alone first, give the commit to the seller, then --receipt');
  }
  if (receiptPath !== undefined) refuseExisting(receiptPath);
  if (commitPath !== undefined) refuseExisting(commitPath);
  const { client } = ctx;
  const isStatus = (m: Answer): m is StatusAnswer => m.kind === 'closePayment' && bytesEqual(m.paymentId, payment.paymentId);
  if (receiptPath === undefined) {
    const answer = client.waitForAnswer(isStatus, ctx.timeoutMs, 'the payment status');
    answer.catch(() => {});
    await client.request({ kind: 'paymentStatus', paymentId: payment.paymentId }, ctx.timeoutMs);
    const { status } = await answer;
    if (status.kind === 'notFound') throw new CtrlError(CtrlErrorCode.PaymentNotFound, 'payment could not be found on the node');
    if (status.kind === 'canceled') {
      return {
        human: [`Payment was canceled: ${canceledText(status.failure)}.`],
        json: { status: status.kind, ...failureJson(status.failure) },
      };
    }
    if (status.kind === 'inProgress') return inProgressOutput(status.commit, commitPath);
    if (commitPath !== undefined) throw new CtrlError(CtrlErrorCode.NoCommit, 'the payment succeeded already; close it with --receipt');
    return { human: ['Payment succeeded.'], json: { status: status.kind } };
  }
  // Closing stops new transactions; the node answers once every transaction is resolved.
  const answer = client.waitForAnswer(isStatus, ctx.timeoutMs, 'the payment to resolve');
  answer.catch(() => {});
  await client.request({ kind: 'requestClosePayment', paymentId: payment.paymentId }, ctx.timeoutMs);
  const { status } = await answer;
  switch (status.kind) {
    case 'success':
      writeReceiptFile(receiptPath, status.receipt);
      await client.request({ kind: 'ackClosePayment', paymentId: payment.paymentId, ackUid: status.ackUid }, ctx.timeoutMs);
      unlinkSync(paymentPath);
      return {
        human: [`Payment succeeded. Receipt saved to ${receiptPath}.`],
        json: { status: 'success', receipt: receiptPath },
      };
    case 'canceled':
      await client.request({ kind: 'ackClosePayment', paymentId: payment.paymentId, ackUid: status.ackUid }, ctx.timeoutMs);
      unlinkSync(paymentPath);
      throw new CtrlError(CtrlErrorCode.PaymentCanceled,
        `payment was canceled: ${canceledText(status.failure)}; nothing was paid and ${paymentPath} was removed`);
    case 'notFound':
      throw new CtrlError(CtrlErrorCode.PaymentNotFound, 'payment could not be found on the node');
    case 'inProgress':
      throw new CtrlError(CtrlErrorCode.PaymentFailed, 'the node reported the payment still in progress after closing it');
  }
}
