/**
 * Abuse benchmark, credit part: honest payments a -> x -> s between real stnode processes over a
 * real relay, while malicious friends of the forwarder x (the product's core and channeler in
 * this process, test/node/live_adversary.ts) attack it. Phases, each with the same honest
 * closed-loop load:
 *
 *   baseline  no attack;
 *   withdraw  pairs of colluders pay each other through x, keep x's token, withdraw the request
 *             once the seller answered (stamped at its deadline) and collect with the shared lock;
 *   silent    a friend of x forwards a payment of a's and then holds x's token for good;
 *   grief     a stranger who learns every invoice id of s sends a 1-unit share to it first.
 *
 * Per phase: honest success rate, p50/p99 latency and their ratio to the baseline, what x lost
 * (its worth, net of the fees it earned from the honest payments), and x's RSS.
 *
 *   tsx benchmarks/abuse/credit.ts [--quick]
 */
import { readFileSync } from 'node:fs';
import { bytesEqual } from '../../src/common/bytes.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { hashLock } from '../../src/funder/signing.js';
import type { NodeReport } from '../../src/node/app_codec.js';
import { startRelay, tempDir } from '../../test/node/app_helper.js';
import { LiveAdversary, eventually } from '../../test/node/live_adversary.js';
import { CURRENCY, emit, link, must, payOnce, percentile, startNodes, type Node } from '../network/nodes.js';

type Relays = { publicKey: Uint8Array; address: string }[];

interface PhaseFigures {
  phase: string;
  honest_payments: number;
  honest_succeeded: number;
  success_rate: number;
  p50_ms: number;
  p99_ms: number;
  attacks: number;
  forwarder_lost: number;
  forwarder_rss_mb: number;
  [extra: string]: unknown;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Math.round(Number(m[1]) / 102.4) / 10;
}

/** x's worth from its report: balances, or its own reset terms where a friend forced a dispute. */
function worth(report: NodeReport): bigint {
  let total = 0n;
  for (const f of report.friends) {
    const list = f.channel.kind === 'consistent' ? f.channel.balances : f.channel.localTerms.balances;
    total += list.find((b) => b.currency === CURRENCY)?.balance ?? 0n;
  }
  return total;
}

async function befriend(x: Node, adv: LiveAdversary, relays: Relays, name: string): Promise<void> {
  for (const command of [
    { kind: 'addFriend', publicKey: x.key, name: 'x', relays },
    { kind: 'setMaxDebt', publicKey: x.key, currency: CURRENCY, remoteMaxDebt: 1n << 40n },
    { kind: 'openCurrency', publicKey: x.key, currency: CURRENCY },
    { kind: 'enableFriend', publicKey: x.key },
  ] as const) {
    const err = adv.app(command);
    if (err !== null) throw new Error(`${command.kind} at ${name}: ${err}`);
  }
  await must(x, { kind: 'addFriend', publicKey: adv.publicKey, name, relays });
  await must(x, { kind: 'setMaxDebt', publicKey: adv.publicKey, currency: CURRENCY, remoteMaxDebt: 1000n });
  await must(x, { kind: 'openCurrency', publicKey: adv.publicKey, currency: CURRENCY });
  await must(x, { kind: 'enableFriend', publicKey: adv.publicKey });
  await eventually(() => adv.friend(x.key)?.online === true && adv.friend(x.key)?.channel.mutualCredits.has(CURRENCY) === true, `${name} linked`, 60_000);
}

/** Honest payments (`pay` one each), `window` at a time, for `seconds`, while `attack` runs beside them. */
async function honestLoad(pay: () => Promise<boolean>, window: number, seconds: number, attack: () => Promise<Record<string, unknown>>) {
  const latencies: number[] = [];
  let started = 0;
  let succeeded = 0;
  const end = Date.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      started++;
      const t0 = performance.now();
      const ok = await pay().catch(() => false);
      if (ok) {
        succeeded++;
        latencies.push(performance.now() - t0);
      }
    }
  };
  const [extra] = await Promise.all([attack(), ...Array.from({ length: window }, worker)]);
  latencies.sort((p, q) => p - q);
  return { started, succeeded, latencies, extra };
}

/** One withdrawal attack by a colluding pair through x; resolves once the seller collected. */
async function withdrawAttack(x: Node, mallory: LiveAdversary, carol: LiveAdversary): Promise<void> {
  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  if (carol.app({ kind: 'addInvoice', invoiceId, currency: CURRENCY, totalDestPayment: 10n }) !== null) throw new Error('invoice');
  mallory.app({ kind: 'createPayment', paymentId, invoiceId, currency: CURRENCY, totalDestPayment: 10n, destPublicKey: carol.publicKey });
  mallory.app({ kind: 'createTransaction', paymentId, requestId: randomBytes(16), route: [mallory.publicKey, x.key, carol.publicKey], destPayment: 10n, fees: 0n });
  const toX = () => mallory.friend(x.key)!;
  await eventually(() => toX().channel.direction === 'outgoing' && (toX().channel.mutualCredits.get(CURRENCY)?.local.size ?? 0) === 1, 'request sent');
  mallory.withhold(x.key);
  mallory.replay(x.key, 1, true);
  await eventually(() => toX().channel.direction === 'incoming', 'token kept');
  const answered = () => [...(carol.friend(x.key)!.channel.mutualCredits.get(CURRENCY)?.remote.values() ?? [])].some((tx) => tx.stage.kind === 'response');
  await eventually(answered, 'seller answered');
  const [pending] = mallory.pendingTo(x.key, CURRENCY);
  mallory.forge(x.key, [{ currency: CURRENCY, op: { kind: 'expire', requestId: pending.requestId } }], pending.dueMs);
  const invoice = carol.state.invoices.get(idKey(invoiceId))!;
  const done = invoice.completedBy!;
  const payment = mallory.state.payments.get(idKey(paymentId))!;
  carol.app({
    kind: 'commitInvoice',
    commit: {
      responseHash: done.responseHash, srcPlainLock: payment.srcPlainLock, destHashedLock: hashLock(invoice.destPlainLock),
      destPayment: done.destPayment, totalDestPayment: 10n, invoiceId, currency: CURRENCY, signature: done.signature,
    },
  });
  await eventually(() => carol.state.friends.get(idKey(x.key))!.channel.mutualCredits.get(CURRENCY)!.balance >= 10n, 'seller collected', 30_000);
}

export async function runCreditAbuse(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const seconds = opts.quick ? 6 : 20;
  const window = 8;
  const relay = await startRelay(tempDir('abuse-relay'));
  const relays: Relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  const [a, x, s] = await startNodes(900, 3, relay);
  const adversaries: LiveAdversary[] = [];
  try {
    await link(a, x, relays);
    await link(x, s, relays);
    const route = [a, x, s];
    const pid = x.fixture.program!.child.pid;
    const reportOf = async (): Promise<NodeReport> => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return x.app.report;
    };
    const phases: PhaseFigures[] = [];
    let baseline: PhaseFigures | null = null;
    const honestPay = (): Promise<boolean> => payOnce(route, 1n);
    const run = async (phase: string, attack: () => Promise<Record<string, unknown>>, pay = honestPay): Promise<PhaseFigures> => {
      const before = worth(await reportOf());
      const r = await honestLoad(pay, window, seconds, attack);
      const after = worth(await reportOf());
      const figures: PhaseFigures = {
        phase, honest_payments: r.started, honest_succeeded: r.succeeded, success_rate: r.started === 0 ? 0 : r.succeeded / r.started,
        p50_ms: percentile(r.latencies, 50), p99_ms: percentile(r.latencies, 99), attacks: 0,
        // x earns 1 per honest payment it forwards; anything below that it lost to an attack.
        forwarder_lost: Number(BigInt(r.succeeded) - (after - before)), forwarder_rss_mb: rssMb(pid), ...r.extra,
      };
      if (baseline !== null) {
        figures.p50_ratio = figures.p50_ms / baseline.p50_ms;
        figures.p99_ratio = figures.p99_ms / baseline.p99_ms;
      }
      emit({ benchmark: 'abuse', part: 'credit', ...figures });
      phases.push(figures);
      return figures;
    };

    baseline = await run('baseline', async () => ({ attacks: 0 }));

    const pairs = opts.quick ? 2 : 6;
    const colluders: [LiveAdversary, LiveAdversary][] = [];
    for (let i = 0; i < pairs; i++) {
      const pair: [LiveAdversary, LiveAdversary] = [new LiveAdversary(relays), new LiveAdversary(relays)];
      adversaries.push(...pair);
      await befriend(x, pair[0], relays, `mallory${i}`);
      await befriend(x, pair[1], relays, `carol${i}`);
      colluders.push(pair);
    }
    await run('withdraw', async () => {
      let done = 0;
      for (const [m, c] of colluders) {
        await withdrawAttack(x, m, c);
        done++;
      }
      const disputed = (await reportOf()).friends.filter((f) => f.channel.kind === 'inconsistent').length;
      return { attacks: done, channels_disputed: disputed };
    });

    const silent = new LiveAdversary(relays);
    const behind = new LiveAdversary(relays);
    adversaries.push(silent, behind);
    await befriend(x, silent, relays, 'silent');
    for (const command of [
      { kind: 'addFriend', publicKey: behind.publicKey, name: 'behind', relays },
      { kind: 'setMaxDebt', publicKey: behind.publicKey, currency: CURRENCY, remoteMaxDebt: 1n << 40n },
      { kind: 'openCurrency', publicKey: behind.publicKey, currency: CURRENCY },
      { kind: 'enableFriend', publicKey: behind.publicKey },
    ] as const) silent.app(command);
    for (const command of [
      { kind: 'addFriend', publicKey: silent.publicKey, name: 'silent', relays },
      { kind: 'setMaxDebt', publicKey: silent.publicKey, currency: CURRENCY, remoteMaxDebt: 1n << 40n },
      { kind: 'openCurrency', publicKey: silent.publicKey, currency: CURRENCY },
      { kind: 'enableFriend', publicKey: silent.publicKey },
    ] as const) behind.app(command);
    await eventually(() => silent.friend(behind.publicKey)?.channel.mutualCredits.has(CURRENCY) === true, 'silent linked to behind', 60_000);
    await run('silent', async () => {
      // A payment of a's goes through the silent friend, who then keeps x's token.
      const invoiceId = randomBytes(32);
      behind.app({ kind: 'addInvoice', invoiceId, currency: CURRENCY, totalDestPayment: 5n });
      const paymentId = randomBytes(16);
      const requestId = randomBytes(16);
      await must(a, { kind: 'createPayment', paymentId, invoiceId, currency: CURRENCY, totalDestPayment: 5n, destPublicKey: behind.publicKey });
      await eventually(() => silent.friend(x.key)?.channel.direction === 'incoming', 'silent holds the token', 30_000).catch(() => undefined);
      const sentAt = Date.now();
      await must(a, { kind: 'createTransaction', paymentId, requestId, route: [a.key, x.key, silent.publicKey, behind.publicKey], destPayment: 5n, fees: 1n });
      await eventually(() => (silent.friend(x.key)?.channel.mutualCredits.get(CURRENCY)?.remote.size ?? 0) > 0, 'request at the silent friend', 30_000);
      silent.withhold(x.key);
      if (opts.quick) return { attacks: 1 };
      const failed = await a.app.waitForAnswer(
        (m): m is Extract<typeof m, { kind: 'transactionResult' }> => m.kind === 'transactionResult' && bytesEqual(m.requestId, requestId), 180_000, 'released');
      return { attacks: 1, frozen_released_after_s: Math.round((Date.now() - sentAt) / 100) / 10, victim_outcome: failed.outcome.kind };
    });

    const griefer = new LiveAdversary(relays);
    adversaries.push(griefer);
    await befriend(x, griefer, relays, 'griefer');
    // Every invoice of s first gets the stranger's 1-unit share, with a lock of its own.
    await run('grief', async () => ({ attacks: 0 }), () => payOnce(route, 1n, async (invoiceId) => {
      const paymentId = randomBytes(16);
      griefer.app({ kind: 'createPayment', paymentId, invoiceId, currency: CURRENCY, totalDestPayment: 1n, destPublicKey: s.key });
      griefer.app({ kind: 'createTransaction', paymentId, requestId: randomBytes(16), route: [griefer.publicKey, x.key, s.key], destPayment: 1n, fees: 1n });
      await eventually(() => (griefer.friend(x.key)?.channel.mutualCredits.get(CURRENCY)?.local.size ?? 0) > 0, 'share sent', 10_000).catch(() => undefined);
    }));

    const attacked = phases.filter((p) => p.phase !== 'baseline');
    const minSuccess = Math.min(...attacked.map((p) => p.success_rate));
    const maxP50Ratio = Math.max(...attacked.map((p) => Number(p.p50_ratio)));
    const lost = attacked.reduce((sum, p) => sum + p.forwarder_lost, 0);
    return {
      baseline_p50_ms: baseline.p50_ms,
      baseline_p99_ms: baseline.p99_ms,
      min_success_rate: minSuccess,
      max_p50_ratio: maxP50Ratio,
      max_p99_ratio: Math.max(...attacked.map((p) => Number(p.p99_ratio))),
      forwarder_lost: lost,
      forwarder_rss_mb: Math.max(...phases.map((p) => p.forwarder_rss_mb)),
      phases: phases.map((p) => p.phase),
      targets_met: minSuccess >= 0.99 && maxP50Ratio <= 2 && lost === 0,
    };
  } finally {
    for (const adv of adversaries) adv.stop();
    for (const n of [a, x, s]) {
      n.app.close();
      await n.fixture.program?.stop();
    }
    await relay.program.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCreditAbuse({ quick: process.argv.includes('--quick') })
    .then((summary) => emit({ benchmark: 'abuse', part: 'credit', summary: true, ...summary }))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
