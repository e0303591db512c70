import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Kills a three-node network (real synced RocksDB, real signatures) with SIGKILL at seeded
 * points while it makes 1,000 payments, restarting it after each kill; the last life finishes or
 * unwinds everything. Then: every channel mirrors, nothing is frozen, no move was ever rejected,
 * and the credit that moved is exactly what the successful payments paid (11 per payment from
 * the buyer, 1 kept by the forwarder, 10 to the seller): none created, none lost.
 */

const child = fileURLToPath(new URL('./crash_child.ts', import.meta.url));
const PAYMENTS = 1000;
const KILLS = 6;

function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function life(dir: string, crashAt: number) {
  return spawnSync(process.execPath, ['--import=tsx', child, dir, String(crashAt), String(PAYMENTS)], {
    encoding: 'utf8',
    env: { ...process.env, OFFSET_LOG_LEVEL: 'silent' },
    timeout: 120_000,
  });
}

t.test('SIGKILL at random durable points during 1,000 payments neither creates nor loses credit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'funder-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const random = prng(Number(process.env.FUNDER_CRASH_SEED ?? 20261125));
  let kills = 0;
  for (let i = 0; i < KILLS; i++) {
    // Killed right after a synced write and before any message that depends on it leaves.
    const crashAt = 10 + Math.floor(random() * 120);
    const run = life(dir, crashAt);
    if (run.signal === 'SIGKILL') kills++;
    else t.equal(run.status, 0, `life ${i + 1} ended early only by finishing: ${run.stderr.slice(-500)}`);
  }
  t.ok(kills >= KILLS - 2, `the network was killed ${kills} times`);
  const last = life(dir, 0);
  t.equal(last.status, 0, last.stderr.slice(-2000));
  const report = JSON.parse(last.stdout.trim().split('\n').at(-1)!) as {
    succeeded: number; canceled: number; faults: number; frozen: string;
    channels: { node: string; friend: string; balance: string; localPending: string; remotePending: string; counter: string; inconsistent: boolean }[];
  };
  t.equal(report.succeeded + report.canceled, PAYMENTS, 'every payment resolved');
  t.ok(report.succeeded > PAYMENTS / 2, `most payments succeeded (${report.succeeded})`);
  t.equal(report.faults, 0, 'no move was rejected: restarts produced duplicates or retransmits only');
  t.equal(report.frozen, '0', 'nothing frozen or queued');
  const view = (node: string, friend: string) => report.channels.find((c) => c.node === node && c.friend === friend)!;
  for (const [x, y] of [['a', 'b'], ['b', 'c']]) {
    const xy = view(x, y);
    const yx = view(y, x);
    t.equal(BigInt(xy.balance), -BigInt(yx.balance), `${x}-${y} balances opposite`);
    t.equal(xy.counter, yx.counter, `${x}-${y} at the same move`);
    t.notOk(xy.inconsistent || yx.inconsistent);
  }
  const s = BigInt(report.succeeded);
  t.equal(BigInt(view('a', 'b').balance), -11n * s, 'the buyer paid exactly 11 per successful payment');
  t.equal(BigInt(view('c', 'b').balance), 10n * s, 'the seller received exactly 10 per successful payment');
  t.equal(BigInt(view('b', 'a').balance) + BigInt(view('b', 'c').balance), s, 'the forwarder kept exactly its fee');
});
