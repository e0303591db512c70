/**
 * Durable payments per second between nodes in one process: real Ed25519 signatures, every
 * state change in a synced RocksDB batch before any message that depends on it leaves, no
 * network. Also measures the machine's limits in the same run: Ed25519 sign and verify per
 * second, synced RocksDB writes per second (one write at a time).
 *
 *   npm run bench:funder [-- --quick]
 *
 * Prints one JSON object per measurement; the last line is the summary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Identity, verifySignature } from '../src/crypto/identity.js';
import { SigningDomain } from '../src/crypto/domains.js';
import { Loopback, befriend, runPayments, type LoopbackNode } from '../src/funder/loopback.js';
import { RocksStore } from '../src/funder/store/rocks.js';

const quick = process.argv.includes('--quick');
const root = mkdtempSync(join(tmpdir(), 'bench-funder-'));

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function perSecond(durationMs: number, work: () => void): number {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < durationMs) {
    work();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

async function syncWritesPerSecond(durationMs: number): Promise<number> {
  const store = await RocksStore.open(join(root, 'raw'));
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < durationMs) {
    await store.write([{ type: 'put', key: `k${n % 64}`, value: 'x'.repeat(200) }]);
    n++;
  }
  const rate = n / ((performance.now() - start) / 1000);
  await store.close();
  return rate;
}

const seed = (name: string): Uint8Array => new Uint8Array(createHash('sha256').update(`bench/${name}`).digest());

async function network(tag: string, names: string[]): Promise<{ net: Loopback; nodes: LoopbackNode[] }> {
  const net = new Loopback();
  const nodes: LoopbackNode[] = [];
  for (const name of names) nodes.push(await net.add(name, seed(`${tag}/${name}`), join(root, tag, name)));
  for (let i = 0; i + 1 < nodes.length; i++) befriend(nodes[i], nodes[i + 1], 'BENCH', 10n ** 30n);
  net.connectAll();
  await net.ready('BENCH');
  return { net, nodes };
}

async function payments(tag: string, hops: number, count: number, window: number) {
  const names = Array.from({ length: hops + 1 }, (_, i) => `n${i}`);
  const { net, nodes } = await network(tag, names);
  const buyer = nodes[0];
  const seller = nodes[nodes.length - 1];
  // Warm up the code paths before measuring.
  await runPayments({ buyer, seller, route: nodes, currency: 'BENCH', amount: 10n, fees: 0n }, Math.min(200, count), Math.min(window, 64));
  buyer.listeners.length = 0;
  // Measured payments get ids of their own, after the warm-up's.
  const writesBefore = nodes.reduce((s, n) => s + n.runtime.stats.writes, 0);
  const eventsBefore = nodes.reduce((s, n) => s + n.runtime.stats.events, 0);
  const bytesBefore = nodes.reduce((s, n) => s + n.runtime.stats.writeBytes, 0);
  const writeMsBefore = nodes.reduce((s, n) => s + n.runtime.stats.writeMs, 0);
  const messagesBefore = net.delivered;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const result = await runPayments({ buyer, seller, route: nodes, currency: 'BENCH', amount: 10n, fees: 0n }, count, window, undefined, 1_000_000);
  const seconds = (performance.now() - start) / 1000;
  await net.quiet();
  // CPU of the whole process (main thread plus RocksDB's threads) per payment: unlike the rate,
  // it changes little when other work shares the machine, so runs can be compared across loads.
  const cpu = process.cpuUsage(cpuBefore);
  const messages = net.delivered - messagesBefore;
  const writes = nodes.reduce((s, n) => s + n.runtime.stats.writes, 0) - writesBefore;
  const events = nodes.reduce((s, n) => s + n.runtime.stats.events, 0) - eventsBefore;
  const bytes = nodes.reduce((s, n) => s + n.runtime.stats.writeBytes, 0) - bytesBefore;
  const writeMs = nodes.reduce((s, n) => s + n.runtime.stats.writeMs, 0) - writeMsBefore;
  const faults = nodes.reduce((s, n) => s + n.faults, 0);
  await net.close();
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const out = {
    measurement: `payments_${hops === 1 ? '2nodes' : `${hops + 1}nodes_${hops}hops`}`,
    payments: count, window, succeeded: result.succeeded, canceled: result.canceled, faults,
    seconds: Number(seconds.toFixed(3)),
    payments_per_s: Math.round(result.succeeded / seconds),
    p50_ms: Number(percentile(sorted, 50).toFixed(2)),
    p99_ms: Number(percentile(sorted, 99).toFixed(2)),
    synced_writes: writes,
    events_per_write: Number((events / Math.max(1, writes)).toFixed(1)),
    mean_write_ms: Number((writeMs / Math.max(1, writes)).toFixed(1)),
    bytes_written_per_payment: Math.round(bytes / Math.max(1, count)),
    cpu_us_per_payment: Math.round((cpu.user + cpu.system) / Math.max(1, count)),
    friend_messages_per_payment: Number((messages / Math.max(1, count)).toFixed(2)),
  };
  emit(out);
  return out;
}

try {
  const identity = Identity.generate();
  const message = new Uint8Array(112).fill(3);
  const signature = identity.sign(SigningDomain.MoveToken, message);
  const signPerS = perSecond(quick ? 500 : 2000, () => identity.sign(SigningDomain.MoveToken, message));
  const verifyPerS = perSecond(quick ? 500 : 2000, () => verifySignature(SigningDomain.MoveToken, identity.publicKey, message, signature));
  const syncPerS = await syncWritesPerSecond(quick ? 1000 : 3000);
  emit({ measurement: 'machine', sign_per_s: Math.round(signPerS), verify_per_s: Math.round(verifyPerS), sync_writes_per_s: Math.round(syncPerS) });

  const count = quick ? 2000 : 20000;
  const two = await payments('two', 1, count, 1024);
  const three = await payments('three', 2, count, 1024);
  // One payment at a time: the latency of a payment on an otherwise idle pair.
  const alone = await payments('alone', 1, quick ? 50 : 500, 1);
  emit({
    payments_per_s_2nodes: two.payments_per_s,
    payments_per_s_3hop: three.payments_per_s,
    p50_ms: two.p50_ms,
    p99_ms: two.p99_ms,
    p50_ms_3hop: three.p50_ms,
    p99_ms_3hop: three.p99_ms,
    p50_ms_one_at_a_time: alone.p50_ms,
    p99_ms_one_at_a_time: alone.p99_ms,
    bytes_written_per_payment_2nodes: two.bytes_written_per_payment,
    bytes_written_per_payment_3hop: three.bytes_written_per_payment,
    cpu_us_per_payment_2nodes: two.cpu_us_per_payment,
    cpu_us_per_payment_3hop: three.cpu_us_per_payment,
    sign_per_s: Math.round(signPerS),
    verify_per_s: Math.round(verifyPerS),
    sync_writes_per_s: Math.round(syncPerS),
    quick,
  });
} finally {
  rmSync(root, { recursive: true, force: true });
}
