/**
 * Ingest section of the index benchmark: signed updates of 10 mutations each, as ClientMessage
 * frames the way they arrive from a node's connection. Signing and encoding happen before the
 * clock starts; decoding, screening, signature checks and applying are all timed.
 *
 *   sync      one thread: decode, check (signature included), apply, update by update
 *   pipeline  decode and screen on the main thread, signatures on N worker threads in batches,
 *             apply in arrival order on the main thread (what the server does)
 *   breakdown µs per update of each main-thread step and of one signature check, one thread
 *
 * Standalone: `tsx benchmarks/index/ingest.ts [--quick] [--workers 1,2]`.
 */
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeClientMessage, encodeClientMessage } from '../../src/index/codec.js';
import { IndexCore } from '../../src/index/core.js';
import { HashClock } from '../../src/index/hash-clock.js';
import { IngestPipeline } from '../../src/index/ingest.js';
import { mutationsUpdateDigest, signMutationsUpdate, verifyMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate } from '../../src/index/types.js';
import { VerifyPool } from '../../src/index/verify-pool.js';
import { syntheticKey } from './synthetic.js';

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const MUTATIONS_PER_UPDATE = 10;
const BACKLOG_MAX = 1024;

interface Workload {
  readonly clock: HashClock;
  readonly frames: Uint8Array[];
  readonly keys: Uint8Array[];
}

function workload(updates: number): Workload {
  const clock = new HashClock();
  const nodeCount = 1000;
  const identities = Array.from({ length: nodeCount }, () => Identity.generate());
  const friends = Array.from({ length: 200 }, (_, i) => syntheticKey(i));
  const sessionId = randomBytes(16);
  const counters = new Array<bigint>(nodeCount).fill(0n);
  const frames: Uint8Array[] = [];
  const keys: Uint8Array[] = [];
  for (let i = 0; i < updates; i++) {
    const who = i % nodeCount;
    const mutations: IndexMutation[] = [];
    for (let j = 0; j < MUTATIONS_PER_UPDATE; j++) {
      mutations.push({ kind: 'update', friend: friends[(i * 10 + j) % friends.length], currency: 'USD', recvCapacity: BigInt(i + j), rate: { mul: j, add: 1 } });
    }
    const update = signMutationsUpdate(identities[who], { mutations, timeHash: clock.latest, sessionEpoch: 1n, sessionId, counter: ++counters[who], randNonce: randomBytes(16) });
    frames.push(encodeClientMessage({ kind: 'update', update }));
    keys.push(identities[who].publicKey);
  }
  return { clock, frames, keys };
}

function decodeUpdate(frame: Uint8Array): MutationsUpdate {
  // As the server does: the frame is handed over for good, so the update borrows its bytes.
  const decoded = decodeClientMessage(frame, { borrow: true });
  if (!decoded.ok || decoded.value.kind !== 'update') throw new Error('benchmark frame does not decode');
  return decoded.value.update;
}

interface Run {
  accepted: number;
  seconds: number;
  /** CPU of the whole process (every thread) per update: what the work costs regardless of load. */
  cpuUs: number;
  /** Share of the wall time the main thread's event loop was busy. */
  mainBusy: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function runSync(w: Workload): Run {
  const core = new IndexCore({ clock: w.clock });
  const cpu0 = cpuNow();
  const t0 = performance.now();
  let accepted = 0;
  for (let i = 0; i < w.frames.length; i++) if (core.acceptClientUpdate(w.keys[i], decodeUpdate(w.frames[i])).ok) accepted++;
  return { accepted, seconds: (performance.now() - t0) / 1000, cpuUs: (cpuNow() - cpu0) / w.frames.length, mainBusy: 1 };
}

/**
 * Feeds every frame to a pipeline on its own core, as they arrive from sockets: a few at a time,
 * the event loop turning between arrivals so verdicts are taken in while more frames come. With
 * the backlog full, reading stops until half of it is decided, as a socket under backpressure
 * (polling the event loop instead would burn the CPU the signature workers need).
 */
async function feed(w: Workload, pool: VerifyPool): Promise<{ accepted: number }> {
  const pipeline = new IngestPipeline(new IndexCore({ clock: w.clock }), pool);
  let accepted = 0;
  let decided = 0;
  let wake: (() => void) | null = null;
  let wakeAt = 0;
  const done = (o: { ok: boolean }) => {
    if (o.ok) accepted++;
    decided++;
    if (wake !== null && decided >= wakeAt) {
      const resume = wake;
      wake = null;
      resume();
    }
  };
  const framesPerTurn = 64;
  let i = 0;
  while (i < w.frames.length) {
    for (let k = 0; k < framesPerTurn && i < w.frames.length && pipeline.backlog < BACKLOG_MAX; k++, i++) {
      pipeline.submitClient(w.keys[i], decodeUpdate(w.frames[i]), done);
    }
    if (i >= w.frames.length) break;
    if (pipeline.backlog >= BACKLOG_MAX) {
      wakeAt = i - BACKLOG_MAX / 2;
      if (decided < wakeAt) await new Promise<void>((resolve) => (wake = resolve));
    } else await new Promise((resolve) => setImmediate(resolve));
  }
  await pipeline.idle();
  return { accepted };
}

async function runPipeline(w: Workload, workers: number): Promise<Run> {
  const pool = new VerifyPool(workers);
  await pool.ready();
  // Start-up (thread creation, module loading, compiling the hot paths of every thread) is
  // not ingest: one whole pass on a throwaway core first.
  await feed(w, pool);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = cpuNow();
  const t0 = performance.now();
  const { accepted } = await feed(w, pool);
  const seconds = (performance.now() - t0) / 1000;
  const cpuUs = (cpuNow() - cpu0) / w.frames.length;
  const mainBusy = performance.eventLoopUtilization(elu0).utilization;
  await pool.close();
  return { accepted, seconds, cpuUs, mainBusy };
}

/**
 * CPU µs per update of each step, one thread, same workload (process CPU time: no other thread
 * of this process runs meanwhile, and CPU time is far less disturbed by a busy machine than
 * wall time); the least of three rounds.
 */
function breakdown(w: Workload): Record<string, number> {
  const n = w.frames.length;
  const best: Record<string, number> = {};
  const time = (name: string, run: () => void) => {
    const c0 = cpuNow();
    run();
    const us = (cpuNow() - c0) / n;
    best[name] = Math.min(best[name] ?? Infinity, us);
  };
  for (let round = 0; round < 3; round++) {
    let updates: MutationsUpdate[] = [];
    time('decode_us', () => {
      updates = w.frames.map(decodeUpdate);
    });
    const core = new IndexCore({ clock: w.clock });
    time('screen_us', () => {
      for (let i = 0; i < n; i++) core.screenClientUpdate(w.keys[i], updates[i]);
    });
    time('digest_us', () => {
      for (let i = 0; i < n; i++) mutationsUpdateDigest(updates[i]);
    });
    time('apply_us', () => {
      for (let i = 0; i < n; i++) core.acceptScreened(updates[i], [], true);
    });
    time('verify_us', () => {
      for (let i = 0; i < n; i++) verifyMutationsUpdate(updates[i]);
    });
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(best)) out[k] = round(v, 2);
  out.main_thread_us = round(best.decode_us + best.screen_us + best.digest_us + best.apply_us, 2);
  out.ed25519_us = round(best.verify_us - best.digest_us, 2);
  return out;
}

export async function measureIngest(updates: number, workerCounts: readonly number[] = [1, 2]): Promise<Record<string, unknown> & { mutations_per_s: number }> {
  const w = workload(updates);
  const sync = runSync(w);
  const byWorkers: Record<string, number> = {};
  const cpuByWorkers: Record<string, number> = {};
  const busyByWorkers: Record<string, number> = {};
  let best = 0;
  for (const workers of workerCounts) {
    const run = await runPipeline(w, workers);
    if (run.accepted !== updates) throw new Error(`pipeline accepted ${run.accepted} of ${updates}`);
    const rate = Math.round((run.accepted * MUTATIONS_PER_UPDATE) / run.seconds);
    byWorkers[String(workers)] = rate;
    cpuByWorkers[String(workers)] = round(run.cpuUs, 1);
    busyByWorkers[String(workers)] = round(run.mainBusy, 2);
    best = Math.max(best, rate);
  }
  const parts = breakdown(w);
  return {
    updates,
    mutations_per_update: MUTATIONS_PER_UPDATE,
    sync_mutations_per_s: Math.round((sync.accepted * MUTATIONS_PER_UPDATE) / sync.seconds),
    sync_cpu_us_per_update: round(sync.cpuUs, 1),
    pipeline_mutations_per_s_by_workers: byWorkers,
    pipeline_cpu_us_per_update_by_workers: cpuByWorkers,
    pipeline_main_busy_by_workers: busyByWorkers,
    mutations_per_s: best,
    ...parts,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const at = process.argv.indexOf('--workers');
  const workers = at > 0 ? process.argv[at + 1].split(',').map(Number) : [1, 2];
  const result = await measureIngest(quick ? 20_000 : 60_000, workers);
  process.stdout.write(`${JSON.stringify({ section: 'ingest', ...result })}\n`);
}
