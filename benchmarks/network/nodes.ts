/**
 * Real stnode processes for the benchmarks, driven through the app library
 * (src/apps/app_client.ts): start them, make them friends over a relay, pay end to end.
 */
import { AppClient, type Answer } from '../../src/apps/app_client.js';
import { bytesEqual } from '../../src/common/bytes.js';
import { calcFee, type Rate } from '../../src/common/rate.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import type { AppRequestBody, NodeReport } from '../../src/node/app_codec.js';
import { prepareNode, startNode, type NodeFixture } from '../../test/node/app_helper.js';
export const CURRENCY = 'FST';
export const RATE: Rate = { mul: 0, add: 1 };
export const REQUEST_TIMEOUT_MS = 120_000;

export interface Node {
  name: string;
  fixture: NodeFixture;
  app: AppClient;
  key: Uint8Array;
  metricsPort: number;
}

export function emit(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
// CPU and counters per process

export async function startNodes(first: number, count: number, relay: { identity: { publicKey: Uint8Array }; address: string }): Promise<Node[]> {
  const fixtures = await Promise.all(Array.from({ length: count }, (_, i) => prepareNode(`bench${first + i}`)));
  // Started a few at a time: each boots a TypeScript runtime, and the machine is shared.
  for (let i = 0; i < fixtures.length; i += 4) {
    await Promise.all(fixtures.slice(i, i + 4).map((f) => startNode(f, ['--metrics-addr', '127.0.0.1:0'])));
  }
  const nodes: Node[] = [];
  for (const [i, f] of fixtures.entries()) {
    const app = await AppClient.connect({ identity: f.app, node: { publicKey: f.identity.publicKey, address: `127.0.0.1:${f.port}` }, connectTimeoutMs: 60_000 });
    await app.request({ kind: 'addRelay', relay: { publicKey: relay.identity.publicKey, address: relay.address, name: 'bench' } }, REQUEST_TIMEOUT_MS);
    nodes.push({ name: `node${first + i}`, fixture: f, app, key: f.identity.publicKey, metricsPort: await f.program!.port('metrics') });
  }
  return nodes;
}

export const must = (node: Node, body: AppRequestBody): Promise<Uint8Array> => node.app.request(body, REQUEST_TIMEOUT_MS);

export function linked(report: NodeReport, friend: Uint8Array): boolean {
  const f = report.friends.find((x) => bytesEqual(x.publicKey, friend));
  return f !== undefined && f.online && f.channel.kind === 'consistent' && f.channel.balances.some((b) => b.currency === CURRENCY);
}

export async function link(a: Node, b: Node, relays: { publicKey: Uint8Array; address: string }[]): Promise<void> {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    await must(x, { kind: 'addFriend', publicKey: y.key, name: y.name, relays });
    await must(x, { kind: 'setMaxDebt', publicKey: y.key, currency: CURRENCY, remoteMaxDebt: 1n << 60n });
    await must(x, { kind: 'openCurrency', publicKey: y.key, currency: CURRENCY });
    await must(x, { kind: 'enableFriend', publicKey: y.key });
  }
  for (const [x, y] of [[a, b], [b, a]] as const) {
    await x.app.waitForReport((r) => linked(r, y.key), 60_000, `${x.name} linked to ${y.name}`);
    await must(x, { kind: 'setRate', publicKey: y.key, currency: CURRENCY, rate: RATE });
  }
}

export const isTx = (requestId: Uint8Array) => (m: Answer): m is Extract<Answer, { kind: 'transactionResult' }> =>
  m.kind === 'transactionResult' && bytesEqual(m.requestId, requestId);
export const isClose = (paymentId: Uint8Array) => (m: Answer): m is Extract<Answer, { kind: 'closePayment' }> =>
  m.kind === 'closePayment' && bytesEqual(m.paymentId, paymentId);

/**
 * One payment along `route` (nodes, buyer first); resolves true once the receipt is in the
 * buyer's hands. Requests that do not depend on each other's results are sent together, as an
 * app would: the payment and its transaction (the node handles an app's requests in order), the
 * seller's commit and the buyer's close (which the node answers once the payment is collected).
 * `afterInvoice` runs once the invoice exists, before the buyer pays (an attacker's turn).
 */
export async function payOnce(route: Node[], amount: bigint, afterInvoice?: (invoiceId: Uint8Array) => Promise<void>): Promise<boolean> {
  const buyer = route[0];
  const seller = route[route.length - 1];
  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  const requestId = randomBytes(16);
  let fees = 0n;
  for (let i = 1; i < route.length - 1; i++) fees += calcFee(RATE, amount) ?? 0n;
  await must(seller, { kind: 'addInvoice', invoiceId, currency: CURRENCY, totalDestPayment: amount });
  if (afterInvoice !== undefined) await afterInvoice(invoiceId);
  const result = buyer.app.waitForAnswer(isTx(requestId), REQUEST_TIMEOUT_MS, 'transaction result');
  await Promise.all([
    must(buyer, { kind: 'createPayment', paymentId, invoiceId, currency: CURRENCY, totalDestPayment: amount, destPublicKey: seller.key }),
    must(buyer, { kind: 'createTransaction', paymentId, requestId, route: route.map((n) => n.key), destPayment: amount, fees }),
  ]);
  const tx = await result;
  if (tx.outcome.kind !== 'complete') return false;
  const closed = buyer.app.waitForAnswer(isClose(paymentId), REQUEST_TIMEOUT_MS, 'payment closed');
  await Promise.all([
    must(seller, { kind: 'commitInvoice', commit: tx.outcome.commit }),
    must(buyer, { kind: 'requestClosePayment', paymentId }),
  ]);
  const status = await closed;
  return status.status.kind === 'success';
}
