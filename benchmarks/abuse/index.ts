/**
 * Index part of the abuse benchmark: a real index server (in this process, two client shards)
 * with an honest graph of signed nodes, measured by an honest client process (route queries
 * and updates) first without attack, then beside each attacker class in turn, each attacker a
 * process of its own dialling from its own loopback address:
 *
 *   currency-fill    a few keys asking for new currency names in every update
 *   friend-flood     keys cycling random friend keys, 256 mutations an update
 *   conn-flood       WebSocket connections opened as fast as possible, handshakes never finished
 *   bad-signature    forged updates, a new key for every connection cut
 *   update-rate      one connection sending valid signed updates as fast as it can
 *   search-hog       connections keeping their search queues full of expensive requests
 *   slow-peer        a trusted federation peer that stops reading, while a node feeds updates
 *
 * Per class: honest route answers (share answered with a route), honest latency p50/p99 and
 * their ratio to the run without attack, honest updates seen in route answers, refusals by
 * reason during the class, server RSS. Targets: >= 99% honest answers at <= 2x latency.
 *
 * Standalone: `tsx benchmarks/abuse/index.ts [--quick]`; JSON lines, the last a summary. The
 * same file runs the honest client (`--role honest`) and the attackers (`--role attack`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeServerMessage, encodeClientMessage } from '../../src/index/codec.js';
import { IndexCore } from '../../src/index/core.js';
import { IndexServer } from '../../src/index/server.js';
import { signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate, RequestRoutes, ResponseRoutes } from '../../src/index/types.js';
import type { SecureChannel } from '../../src/transport/transport.js';
import { dialFrom } from '../../test/index/loopback-client.js';

const thisFile = fileURLToPath(import.meta.url);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const CLASSES = ['currency-fill', 'friend-flood', 'conn-flood', 'bad-signature', 'update-rate', 'search-hog', 'slow-peer'] as const;
type AttackClass = (typeof CLASSES)[number];

interface ChildArgs {
  port: number;
  serverPort: number;
  serverKey: string;
  address: string;
  /** Honest: query pairs (hex keys); attackers: far pairs for searches. */
  pairs: [string, string][];
  /** Honest: seeds of nodes A whose report of friend B they update, with B's key. */
  updaters: [string, string][];
  attack?: AttackClass;
  peerSeed?: string;
}

// ------------------------------------------------------------------ shared client plumbing

/** A node's connection: keeps the newest time hash, answers route requests by id. */
class Conn {
  timeHash: Uint8Array | null = null;
  closed = false;
  private readonly waiting = new Map<string, (r: ResponseRoutes) => void>();
  private counter = 0n;
  private readonly session = randomBytes(16);
  private readonly epoch = BigInt(Date.now());

  private constructor(
    readonly channel: SecureChannel,
    readonly identity: Identity,
    readonly tcp: import('node:net').Socket,
  ) {
    channel.onFrame((frame) => {
      const m = decodeServerMessage(frame);
      if (!m.ok) return;
      if (m.value.kind === 'time') this.timeHash = m.value.hash;
      else if (m.value.kind === 'routes') {
        const id = hex(m.value.response.requestId);
        const done = this.waiting.get(id);
        this.waiting.delete(id);
        done?.(m.value.response);
      }
    });
    channel.onClose(() => {
      this.closed = true;
      for (const done of this.waiting.values()) done({ requestId: new Uint8Array(16), routes: [], complete: false, truncated: false });
      this.waiting.clear();
    });
  }

  static async open(args: ChildArgs, identity = Identity.generate(), purpose: 'index-client' | 'index-federation' = 'index-client', port = args.port): Promise<Conn> {
    const { channel, tcp } = await dialFrom(args.address, port, identity, unhex(args.serverKey), purpose);
    const conn = new Conn(channel, identity, tcp);
    for (let i = 0; i < 200 && conn.timeHash === null && purpose === 'index-client'; i++) await sleep(5);
    return conn;
  }

  request(request: RequestRoutes, timeoutMs: number): Promise<ResponseRoutes | null> {
    return new Promise((resolve) => {
      const id = hex(request.requestId);
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.channel.send(encodeClientMessage({ kind: 'routes', request }));
    });
  }

  /** Sends without waiting for the answer (floods). */
  fire(request: RequestRoutes, done: () => void): void {
    this.waiting.set(hex(request.requestId), done);
    this.channel.send(encodeClientMessage({ kind: 'routes', request }));
  }

  signed(mutations: IndexMutation[]): MutationsUpdate {
    return signMutationsUpdate(this.identity, { mutations, timeHash: this.timeHash ?? new Uint8Array(32), sessionEpoch: this.epoch, sessionId: this.session, counter: ++this.counter, randNonce: randomBytes(16) });
  }

  send(update: MutationsUpdate): void {
    this.channel.send(encodeClientMessage({ kind: 'update', update }));
  }
}

const routeRequest = (source: Uint8Array, destination: Uint8Array, amount = 1n, maxRoutes = 1): RequestRoutes => ({
  requestId: randomBytes(16), currency: 'USD', amount, source, destination, exclude: null, maxHops: 0, maxFee: null, maxRoutes,
});
const report = (friend: Uint8Array, capacity: bigint, currency = 'USD'): IndexMutation => ({ kind: 'update', friend, currency, recvCapacity: capacity, rate: { mul: 0, add: 1 } });

// ------------------------------------------------------------------ honest client (child)

async function honestRole(args: ChildArgs): Promise<void> {
  const querier = await Conn.open(args);
  const updaters = await Promise.all(args.updaters.map(async ([seed, friend]) => ({ conn: await Conn.open(args, Identity.fromSeed(unhex(seed))), friend: unhex(friend) })));
  const pairs = args.pairs.map(([s, d]) => [unhex(s), unhex(d)] as const);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const ms = Number(line);
    if (!Number.isFinite(ms)) break;
    const until = performance.now() + ms;
    const latencies: number[] = [];
    let queries = 0;
    let answered = 0;
    const queryLoop = async () => {
      for (let i = 0; performance.now() < until; i++) {
        const [s, d] = pairs[(queries + i) % pairs.length];
        const started = performance.now();
        queries++;
        const r = await querier.request(routeRequest(s, d), 2000);
        if (r !== null && r.routes.length > 0) {
          answered++;
          latencies.push(performance.now() - started);
        }
      }
    };
    // Each updater changes its report of its friend; the update counts once a route answer shows it.
    let updates = 0;
    let seen = 0;
    const updateLatencies: number[] = [];
    const updateLoop = async (u: (typeof updaters)[number]) => {
      while (performance.now() < until - 1000) {
        const capacity = BigInt(1000 + Math.floor(Math.random() * 1e6));
        const started = performance.now();
        updates++;
        u.conn.send(u.conn.signed([report(u.friend, capacity)]));
        for (;;) {
          const r = await querier.request(routeRequest(u.friend, u.conn.identity.publicKey), 1000);
          if (r !== null && r.routes.length > 0 && r.routes[0].nodes.length === 2 && r.routes[0].capacity === capacity) {
            seen++;
            updateLatencies.push(performance.now() - started);
            break;
          }
          if (performance.now() - started > 3000) break;
          await sleep(20);
        }
        await sleep(200);
      }
    };
    await Promise.all([queryLoop(), ...updaters.map(updateLoop)]);
    console.log(JSON.stringify({ queries, answered, p50_ms: percentile(latencies, 0.5), p99_ms: percentile(latencies, 0.99), updates, updates_seen: seen, update_p50_ms: percentile(updateLatencies, 0.5) }));
  }
  process.exit(0);
}

// ------------------------------------------------------------------ attackers (child)

interface Tally {
  [what: string]: number;
}

async function attackRole(args: ChildArgs): Promise<void> {
  const tally: Tally = {};
  const add = (what: string, n = 1) => (tally[what] = (tally[what] ?? 0) + n);
  let stop = false;
  process.on('SIGTERM', () => {
    stop = true;
    console.log(JSON.stringify(tally));
    setTimeout(() => process.exit(0), 50);
  });
  const tryOpen = async (identity?: Identity, address = args.address): Promise<Conn | null> => {
    try {
      return await Conn.open({ ...args, address }, identity);
    } catch {
      add('connect-refused');
      await sleep(20);
      return null;
    }
  };
  const ready = () => console.log(JSON.stringify({ ready: true }));
  const pace = async (conn: Conn) => {
    // Stay just above the update rate: the point is to be refused, not to spin this process.
    while (conn.channel.bufferedBytes() > 256 * 1024 && !conn.closed) await sleep(5);
    await sleep(1);
  };

  switch (args.attack) {
    case 'currency-fill': {
      const conns = (await Promise.all([0, 1, 2, 3].map(() => tryOpen()))).filter((c): c is Conn => c !== null);
      const friend = randomBytes(32);
      ready();
      while (!stop) {
        for (const c of conns) {
          c.send(c.signed(Array.from({ length: 64 }, () => report(friend, 100n, `Z${hex(randomBytes(6))}`))));
          add('updates');
        }
        // About each connection's update rate: more would only be refused sooner.
        await sleep(5);
      }
      break;
    }
    case 'friend-flood': {
      const conns = (await Promise.all([0, 1, 2, 3].map(() => tryOpen()))).filter((c): c is Conn => c !== null);
      const held = conns.map(() => [] as Uint8Array[]);
      ready();
      while (!stop) {
        for (let i = 0; i < conns.length; i++) {
          const fresh = Array.from({ length: 128 }, () => randomBytes(32));
          const mutations: IndexMutation[] = [...held[i].map((f): IndexMutation => ({ kind: 'remove', friend: f, currency: 'USD' })), ...fresh.map((f) => report(f, 5n))];
          held[i] = fresh;
          conns[i].send(conns[i].signed(mutations));
          add('updates');
          await pace(conns[i]);
        }
      }
      break;
    }
    case 'conn-flood': {
      const sockets: WebSocket[] = [];
      ready();
      while (!stop) {
        // Upgrades that never start their handshake hold a handshake slot until its deadline.
        const ws = new WebSocket(`ws://127.0.0.1:${args.port}/`, { localAddress: args.address, perMessageDeflate: false });
        ws.on('error', () => add('refused'));
        ws.on('open', () => add('opened'));
        ws.on('close', () => {
          const at = sockets.indexOf(ws);
          if (at >= 0) sockets.splice(at, 1);
        });
        sockets.push(ws);
        add('attempts');
        if (sockets.length > 3000) await sleep(50);
        else await sleep(1);
      }
      break;
    }
    case 'bad-signature': {
      ready();
      const addresses = [0, 1, 2, 3].map((i) => args.address.replace(/\d+$/, (n) => String(Number(n) + i)));
      for (let i = 0; !stop; i++) {
        const conn = await tryOpen(Identity.generate(), addresses[i % addresses.length]);
        if (conn === null) continue;
        while (!conn.closed && !stop) {
          const update = conn.signed([report(randomBytes(32), 1n)]);
          update.signature[0] ^= 1;
          conn.send(update);
          add('forged');
          await sleep(1);
        }
        add('cut');
      }
      break;
    }
    case 'update-rate': {
      const conn = await tryOpen();
      if (conn === null) break;
      const friends = Array.from({ length: 10 }, () => randomBytes(32));
      const presigned = Array.from({ length: 20_000 }, (_, i) => conn.signed(friends.map((f, j) => report(f, BigInt(i * 10 + j + 1)))));
      ready();
      for (let i = 0; !stop && i < presigned.length; i++) {
        conn.send(presigned[i]);
        add('updates');
        if (i % 50 === 0) await pace(conn);
      }
      break;
    }
    case 'search-hog': {
      const conns = (await Promise.all(Array.from({ length: 8 }, () => tryOpen()))).filter((c): c is Conn => c !== null);
      const pairs = args.pairs.map(([s, d]) => [unhex(s), unhex(d)] as const);
      ready();
      let k = 0;
      // Each connection keeps 32 requests waiting: a new one for every answer. Amounts no
      // single route can carry make every search add routes greedily up to its bound.
      const keepFull = (c: Conn) => {
        if (stop || c.closed) return;
        const [s, d] = pairs[k++ % pairs.length];
        add('searches');
        c.fire(routeRequest(s, d, 10n ** 30n, 8), () => keepFull(c));
      };
      for (const c of conns) for (let i = 0; i < 32; i++) keepFull(c);
      while (!stop) await sleep(50);
      break;
    }
    case 'slow-peer': {
      const peer = await Conn.open(args, Identity.fromSeed(unhex(args.peerSeed!)), 'index-federation', args.serverPort);
      peer.tcp.pause(); // a peer that stops reading
      // Nodes whose updates the server forwards to the peer: a few MB a second.
      const feeders = (await Promise.all([1, 2, 3, 4].map((k) => tryOpen(undefined, args.address.replace(/\d+$/, (n) => String(Number(n) + k)))))).filter((c): c is Conn => c !== null);
      const friends = Array.from({ length: 256 }, () => randomBytes(32));
      ready();
      for (let i = 1; !stop; i++) {
        for (const feeder of feeders) feeder.send(feeder.signed(friends.map((f) => report(f, BigInt(i)))));
        add('updates', feeders.length);
        await sleep(5);
      }
      break;
    }
  }
  while (!stop) await sleep(50);
}

// ------------------------------------------------------------------ the run (parent)

interface Graph {
  identities: Identity[];
  friends: number[][];
}

/** A ring with two neighbours each side plus random chords, every friendship reported both ways and signed. */
function buildGraph(nodes: number): Graph {
  const identities = Array.from({ length: nodes }, () => Identity.generate());
  const sets = Array.from({ length: nodes }, () => new Set<number>());
  const link = (a: number, b: number) => {
    if (a === b) return;
    sets[a].add(b);
    sets[b].add(a);
  };
  for (let i = 0; i < nodes; i++) {
    link(i, (i + 1) % nodes);
    link(i, (i + 2) % nodes);
    for (let k = 0; k < 2; k++) link(i, Math.floor(Math.random() * nodes));
  }
  return { identities, friends: sets.map((s) => [...s]) };
}

function loadCore(graph: Graph): IndexCore {
  const core = new IndexCore();
  const session = randomBytes(16);
  graph.identities.forEach((identity, i) => {
    const mutations = graph.friends[i].map((f) => report(graph.identities[f].publicKey, 1_000_000_000n));
    const update = signMutationsUpdate(identity, { mutations, timeHash: core.clock.latest, sessionEpoch: 1n, sessionId: session, counter: 1n, randNonce: randomBytes(16) });
    const outcome = core.acceptClientUpdate(identity.publicKey, update);
    if (!outcome.ok) throw new Error(`graph load refused: ${outcome.reason}`);
  });
  return core;
}

function spawnRole(role: 'honest' | 'attack', args: ChildArgs): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(process.execPath, [...process.execArgv, thisFile, '--role', role, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, OFFSET_LOG_LEVEL: 'silent' } });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines };
}

async function nextJson(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  for (;;) {
    const next = await lines.next();
    if (next.done === true) throw new Error('child ended without an answer');
    try {
      return JSON.parse(next.value) as Record<string, unknown>;
    } catch {
      // not a JSON line (a child's stray output): skip it
    }
  }
}

function diff(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, n] of after) {
    const d = n - (before.get(reason) ?? 0);
    if (d > 0) out[reason] = d;
  }
  return out;
}

export async function runIndexAbuse(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  process.env.OFFSET_LOG_LEVEL ??= 'silent';
  const emit = (values: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'abuse-index', ...values }));
  const nodes = opts.quick ? 2000 : 5000;
  const measureMs = opts.quick ? 4000 : 10_000;
  const started = performance.now();
  const graph = buildGraph(nodes);
  const core = loadCore(graph);
  const identity = Identity.generate();
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers: 2, core, compactDelayMs: 5 });
  const children: ChildProcess[] = [];
  try {
    server.flushSnapshot();
    emit({ section: 'setup', nodes, reports: core.graph.storedReports, load_s: round((performance.now() - started) / 1000, 2) });
    const key = (i: number) => hex(graph.identities[i].publicKey);
    const pairs: [string, string][] = Array.from({ length: 200 }, () => [key(Math.floor(Math.random() * nodes)), key(Math.floor(Math.random() * nodes))]);
    const farPairs: [string, string][] = Array.from({ length: 200 }, (_, i) => [key(i), key((i + Math.floor(nodes / 2)) % nodes)]);
    const updaters: [string, string][] = [0, 1, 2, 3].map((k) => {
      const a = Math.floor(((k + 0.5) * nodes) / 4);
      return [hex(graph.identities[a].seed), key((a + 1) % nodes)];
    });
    const base = { port: server.clientPort, serverPort: server.serverPort, serverKey: hex(identity.publicKey) };
    const honest = spawnRole('honest', { ...base, address: '127.0.0.1', pairs, updaters });
    children.push(honest.child);
    const measure = async () => {
      honest.child.stdin!.write(`${measureMs}\n`);
      return nextJson(honest.lines);
    };
    const baseline = await measure();
    emit({ section: 'no-attack', ...baseline, rss_mb: round(process.memoryUsage().rss / 2 ** 20, 1) });
    const baseP50 = Number(baseline.p50_ms);
    const baseP99 = Number(baseline.p99_ms);

    const summary: Record<string, unknown> = { bench: 'abuse-index', summary: true, nodes, no_attack: baseline };
    let meets = true;
    for (const [i, attack] of CLASSES.entries()) {
      const peer = Identity.generate();
      if (attack === 'slow-peer') server.setTrusted([{ publicKey: peer.publicKey, address: '127.0.0.1:1' }]);
      const before = { conn: server.connectionRefusals(), upd: server.updateRejections(), route: server.routeRejections(), cuts: server.peerCutCount };
      const attacker = spawnRole('attack', { ...base, address: `127.0.0.${20 + i * 5}`, pairs: farPairs, updaters: [], attack, peerSeed: hex(peer.seed) });
      children.push(attacker.child);
      await nextJson(attacker.lines); // ready
      await sleep(300); // let the attack reach full strength
      const withAttack = await measure();
      const refusals = {
        connections: diff(server.connectionRefusals(), before.conn),
        updates: diff(server.updateRejections(), before.upd),
        routes: diff(server.routeRejections(), before.route),
        federation_cuts: server.peerCutCount - before.cuts,
      };
      attacker.child.kill('SIGTERM');
      const sent = await nextJson(attacker.lines).catch(() => ({}));
      await new Promise<void>((resolve) => (attacker.child.exitCode !== null ? resolve() : attacker.child.once('exit', () => resolve())));
      if (attack === 'slow-peer') server.setTrusted([]);
      const success = Number(withAttack.queries) > 0 ? Number(withAttack.answered) / Number(withAttack.queries) : 0;
      const p50Ratio = withAttack.p50_ms === null ? null : round(Number(withAttack.p50_ms) / baseP50, 2);
      const p99Ratio = withAttack.p99_ms === null ? null : round(Number(withAttack.p99_ms) / baseP99, 2);
      const row = {
        attack,
        honest_route_success: round(success, 4),
        honest_p50_ms: withAttack.p50_ms === null ? null : round(Number(withAttack.p50_ms)),
        honest_p99_ms: withAttack.p99_ms === null ? null : round(Number(withAttack.p99_ms)),
        p50_ratio: p50Ratio,
        p99_ratio: p99Ratio,
        honest_updates: withAttack.updates,
        honest_updates_seen: withAttack.updates_seen,
        refusals,
        attacker: sent,
        currencies: core.graph.currencyCount,
        interned_keys: core.graph.keys.size,
        rss_mb: round(process.memoryUsage().rss / 2 ** 20, 1),
        meets_target: success >= 0.99 && p50Ratio !== null && p50Ratio <= 2,
      };
      if (!row.meets_target) meets = false;
      emit({ section: 'attack', ...row });
      summary[attack] = { success: row.honest_route_success, p50_ratio: p50Ratio, p99_ratio: p99Ratio, updates_seen: `${row.honest_updates_seen}/${row.honest_updates}`, rss_mb: row.rss_mb, meets_target: row.meets_target };
      await sleep(500); // penalties and queues of this class drain before the next
    }
    summary.all_meet_target = meets;
    summary.seconds = round((performance.now() - started) / 1000, 1);
    return summary;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await server.close();
  }
}

const roleAt = process.argv.indexOf('--role');
if (roleAt >= 0) {
  const role = process.argv[roleAt + 1];
  const args = JSON.parse(process.argv[roleAt + 2]) as ChildArgs;
  await (role === 'honest' ? honestRole(args) : attackRole(args));
} else if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const summary = await runIndexAbuse({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(summary));
  process.exit(0);
}
