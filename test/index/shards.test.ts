import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeServerMessage, encodeClientMessage } from '../../src/index/codec.js';
import { IndexClient } from '../../src/index/client.js';
import { WriteGraph } from '../../src/index/graph.js';
import { SearchExecutor } from '../../src/index/search-executor.js';
import { DEFAULT_INDEX_LIMITS } from '../../src/index/limits.js';
import { IndexServer, type IndexServerOptions } from '../../src/index/server.js';
import { signMutationsUpdate } from '../../src/index/signing.js';
import type { UpdateRejection } from '../../src/index/core.js';
import type { RequestRoutes, ResponseRoutes } from '../../src/index/types.js';
import { connectSecure, type SecureChannel } from '../../src/transport/transport.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

const key = (i: number) => {
  const k = new Uint8Array(32);
  k[0] = i;
  k[7] = 9;
  return k;
};

const CHAIN: [number, number][] = [
  [1, 2],
  [2, 3],
  [3, 4],
  [2, 1],
  [3, 2],
  [4, 3],
  [5, 4],
];

/** A chain 1 - 2 - 3 - 4 with credit both ways; node 5 reports only towards 4, so it has no edge. */
function chainGraph(graph = new WriteGraph()): WriteGraph {
  for (const [a, b] of CHAIN) graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: 100n, rate: { mul: 0, add: 1 } }], 0);
  return graph;
}

function routeRequest(from: Uint8Array, to: Uint8Array, currency = 'USD'): RequestRoutes {
  return { requestId: randomBytes(16), currency, amount: 10n, source: from, destination: to, exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1 };
}

const bounds = { workMax: 100_000, deadlineMs: 1000 };

function routesOf(frame: Uint8Array): ResponseRoutes {
  const message = decodeServerMessage(frame);
  if (!message.ok || message.value.kind !== 'routes') throw new Error('not a routes frame');
  return message.value.response;
}

// ------------------------------------------------------------------ in-process executor

t.test('a shard executor plans from its snapshot: routes, absent and silent nodes, unknown currencies', async (t) => {
  const graph = chainGraph();
  const executor = new SearchExecutor();
  executor.install(graph.compact().handle);
  const plan = executor.plan(routeRequest(key(1), key(4)), bounds);
  if (!plan.ok) throw new Error(plan.reason);
  const response = routesOf(executor.answer(plan.search));
  t.equal(response.routes.length, 1);
  t.same(response.routes[0].nodes.at(-1), key(4));
  t.same(executor.plan(routeRequest(key(1), key(99)), bounds), { ok: false, reason: 'absent-node' });
  t.same(executor.plan(routeRequest(key(1), key(4), 'EUR'), bounds), { ok: false, reason: 'unknown-currency' });
  t.same(executor.plan({ ...routeRequest(key(1), key(4)), amount: 0n }, bounds), { ok: false, reason: 'bad-amount' });
  // Node 5 reports (it is known and alive) but has no send edge: planned, searched, no route.
  const five = executor.plan(routeRequest(key(1), key(5)), bounds);
  t.ok(five.ok);
  if (five.ok) t.equal(routesOf(executor.answer(five.search)).routes.length, 0);
  // Removed nodes stop reporting in the next snapshot, though their key stays in the table.
  graph.removeNode(key(4));
  executor.install(graph.compact().handle);
  t.same(executor.plan(routeRequest(key(1), key(4)), bounds), { ok: false, reason: 'absent-node' });
});

t.test('an executor answers from a newer snapshot as soon as it is installed, and never goes back to an older one', async (t) => {
  const graph = new WriteGraph();
  const up = (a: number, b: number) => graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: 100n, rate: { mul: 0, add: 0 } }], 0);
  up(1, 2);
  up(2, 1);
  up(2, 3);
  const executor = new SearchExecutor();
  const old = graph.compact().handle;
  executor.install(old);
  const routes = () => {
    const plan = executor.plan(routeRequest(key(1), key(3)), bounds);
    return plan.ok ? routesOf(executor.answer(plan.search)).routes.length : -1;
  };
  t.equal(routes(), -1, 'node 3 has not reported: absent');
  up(3, 2);
  executor.install(graph.compact().handle);
  t.equal(routes(), 1, 'the new snapshot completes the route');
  executor.install(old);
  t.equal(routes(), 1, 'an older snapshot is ignored');
});

// ------------------------------------------------------------------ through the server

interface RawClient {
  channel: SecureChannel;
  responses: Map<string, ResponseRoutes>;
  arrived: () => number;
  closed: () => boolean;
  times: () => number;
}

async function rawClient(server: IndexServer, serverKey: Uint8Array, identity = Identity.generate()): Promise<RawClient> {
  const channel = await connectSecure(`ws://127.0.0.1:${server.clientPort}/`, { identity, expectedRemoteKey: serverKey, purpose: 'index-client' });
  const responses = new Map<string, ResponseRoutes>();
  let count = 0;
  let times = 0;
  let closed = false;
  channel.onFrame((frame) => {
    const message = decodeServerMessage(frame);
    if (message.ok && message.value.kind === 'routes') {
      count++;
      responses.set(Buffer.from(message.value.response.requestId).toString('hex'), message.value.response);
    } else if (message.ok) times++;
  });
  channel.onClose(() => (closed = true));
  return { channel, responses, arrived: () => count, closed: () => closed, times: () => times };
}

async function until(check: () => boolean, what = 'condition', limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function sendRoutes(client: RawClient, from: number, to: number, currency = 'USD'): string {
  const request = routeRequest(key(from), key(to), currency);
  client.channel.send(encodeClientMessage({ kind: 'routes', request }));
  return Buffer.from(request.requestId).toString('hex');
}

async function serverWithChain(t: typeof import('tap').default, options: Partial<IndexServerOptions> = {}) {
  const identity = Identity.generate();
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers: 2, tickMs: 60_000, ...options });
  t.teardown(() => server.close());
  chainGraph(server.core.graph);
  server.flushSnapshot();
  return { server, identity };
}

t.test('with two shards, connections land on both and each shard answers its own clients', async (t) => {
  const { server, identity } = await serverWithChain(t);
  t.equal(server.liveShards, 2);
  const clients: RawClient[] = [];
  t.teardown(() => clients.forEach((c) => c.channel.close()));
  // The kernel hashes each connection to a shard: open connections until both have some.
  while (server.connectionsPerShard().some((n) => n === 0)) {
    if (clients.length >= 64) throw new Error(`64 connections all landed on one shard: ${server.connectionsPerShard()}`);
    clients.push(await rawClient(server, identity.publicKey));
    await until(() => server.clientConnections === clients.length, 'the shard to count the connection');
  }
  t.ok(server.connectionsPerShard().every((n) => n > 0), `spread ${server.connectionsPerShard()}`);
  const ids = clients.map((c) => sendRoutes(c, 1, 4));
  await until(() => clients.every((c) => c.arrived() === 1), 'every answer');
  clients.forEach((c, i) => {
    const response = c.responses.get(ids[i]);
    t.equal(response?.routes.length, 1, `client ${i} got its own answer`);
    t.same(response?.routes[0].nodes.at(-1), key(4));
  });
  t.equal(server.routeQueries, clients.length, 'every request counted once, whichever shard took it');
  t.equal(clients.reduce((n, c) => n + c.times(), 0), clients.length, 'each client got the time hash on connecting');
});

t.test('pipelined requests of one turn are each answered with their own id: routes, absent nodes and unknown currencies mixed', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const client = await rawClient(server, identity.publicKey);
  t.teardown(() => client.channel.close());
  const expected = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    const kind = i % 5;
    if (kind === 3) expected.set(sendRoutes(client, 1, 99), -1);
    else if (kind === 4) expected.set(sendRoutes(client, 1, 4, 'EUR'), -2);
    else expected.set(sendRoutes(client, 1, 2 + kind), 2 + kind);
  }
  await until(() => client.arrived() === 40, 'forty answers');
  t.equal(client.responses.size, 40, 'forty distinct request ids answered');
  for (const [id, to] of expected) {
    const response = client.responses.get(id)!;
    if (to < 0) {
      t.equal(response.routes.length, 0, 'a refused request is answered with no routes');
      t.equal(response.complete, false);
    } else {
      t.equal(response.routes.length, 1);
      t.same(response.routes[0].nodes.at(-1), key(to), 'the route ends at this request destination');
    }
  }
  t.same(Object.fromEntries([...server.routeRejections()].filter(([, n]) => n > 0)), { 'absent-node': 8, 'unknown-currency': 8 });
  const text = await server.registry.metrics();
  t.match(text, /index_route_rejected_total\{reason="absent-node"\} 8/, 'shard rejections reach the metrics');
  t.match(text, /index_route_queries_total 40/);
  t.match(text, /index_route_latency_seconds_count 24/, 'each searched request observed once');
});

t.test('a client past its open-request bound gets empty answers for the rest, counted', async (t) => {
  // A negative turn budget makes the shard queue every request (one answered per turn). The
  // hundred requests leave in one sealed message, so the shard reads them all in one go.
  const { server, identity } = await serverWithChain(t, { workers: 1, shardTurnBudgetMs: -1 });
  const client = await rawClient(server, identity.publicKey);
  t.teardown(() => client.channel.close());
  const open = DEFAULT_INDEX_LIMITS.searchesPerConnectionMax;
  const ids = Array.from({ length: 100 }, () => sendRoutes(client, 1, 4));
  await until(() => client.arrived() === 100, 'every answer');
  t.equal(ids.filter((id) => client.responses.get(id)!.routes.length === 1).length, open, `the first ${open} searched`);
  t.same(ids.slice(open).map((id) => client.responses.get(id)!.routes.length), new Array(100 - open).fill(0), 'the rest answered empty');
  t.equal(server.routeRejections().get('too-many-open'), 100 - open, 'and counted as too many open');
});

t.test('a shard refuses requests past its queue bound instead of growing it', async (t) => {
  const { server, identity } = await serverWithChain(t, { workers: 1, shardTurnBudgetMs: -1, shardQueueMax: 10 });
  const client = await rawClient(server, identity.publicKey);
  t.teardown(() => client.channel.close());
  const ids = Array.from({ length: 30 }, () => sendRoutes(client, 1, 4));
  await until(() => client.arrived() === 30, 'every answer');
  t.equal(ids.filter((id) => client.responses.get(id)!.routes.length === 1).length, 10, 'ten searched');
  t.equal(server.routeRejections().get('search-queue-full'), 20, 'twenty refused as queue full');
});

t.test('an update sent on a shard-held connection reaches the graph, and a later route query sees it', async (t) => {
  const { server, identity } = await serverWithChain(t, { compactDelayMs: 1 });
  const at = [{ publicKey: identity.publicKey, address: `127.0.0.1:${server.clientPort}` }];
  const x = Identity.generate();
  const y = Identity.generate();
  const cx = new IndexClient({ identity: x, servers: at, requestTimeoutMs: 10_000 });
  const cy = new IndexClient({ identity: y, servers: at, requestTimeoutMs: 10_000 });
  t.teardown(() => [cx, cy].forEach((c) => c.close()));
  cx.start();
  cy.start();
  await Promise.all([cx.whenReady(), cy.whenReady()]);
  cx.update([{ kind: 'update', friend: y.publicKey, currency: 'USD', recvCapacity: 500n, rate: { mul: 0, add: 0 } }]);
  cy.update([{ kind: 'update', friend: x.publicKey, currency: 'USD', recvCapacity: 500n, rate: { mul: 0, add: 0 } }]);
  // Each client also sends its (empty) table when its session starts.
  await until(() => server.core.updatesAccepted === 4, 'the updates accepted');
  t.equal(server.core.graph.reporterCount, 5 + 2);
  t.equal(server.core.mutationsApplied, 2);
  for (;;) {
    const response = await cx.requestRoutes({ currency: 'USD', amount: 10n, source: x.publicKey, destination: y.publicKey });
    if (response.routes.length > 0) {
      t.same(response.routes[0].nodes, [x.publicKey, y.publicKey]);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

t.test('a malformed frame is counted and changes nothing; the connection keeps being served', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const client = await rawClient(server, identity.publicKey);
  t.teardown(() => client.channel.close());
  client.channel.send(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  const routes = encodeClientMessage({ kind: 'routes', request: routeRequest(key(1), key(4)) });
  client.channel.send(routes.subarray(0, routes.byteLength - 5)); // a route request cut short
  await until(() => (server.core.updateRejections.get('malformed') ?? 0) === 2, 'both counted');
  t.equal(server.core.updatesAccepted, 0);
  const id = sendRoutes(client, 1, 4);
  await until(() => client.responses.has(id), 'the answer');
  t.equal(client.responses.get(id)!.routes.length, 1);
  t.notOk(client.closed());
});

t.test('on a shard-held connection, an update signed for another node, a forged one and a replay are refused with their reasons and change nothing', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const me = Identity.generate();
  const other = Identity.generate();
  const client = await rawClient(server, identity.publicKey, me);
  t.teardown(() => client.channel.close());
  const sessionId = randomBytes(16);
  const update = (who: Identity, counter: bigint) => signMutationsUpdate(who, {
    mutations: [{ kind: 'update', friend: key(1), currency: 'USD', recvCapacity: 7n, rate: { mul: 0, add: 0 } }],
    timeHash: server.core.clock.latest, sessionEpoch: 1n, sessionId, counter, randNonce: randomBytes(16),
  });
  const reporters = server.core.graph.reporterCount;
  const rejected = (reason: UpdateRejection) => server.core.updateRejections.get(reason) ?? 0;

  client.channel.send(encodeClientMessage({ kind: 'update', update: update(other, 1n) }));
  const good = update(me, 1n);
  const forged = { ...good, signature: good.signature.slice() };
  forged.signature[0] ^= 1;
  client.channel.send(encodeClientMessage({ kind: 'update', update: forged }));
  await until(() => rejected('foreign-node') === 1 && rejected('bad-signature') === 1, 'both refused');
  t.equal(server.core.updatesAccepted, 0, 'neither accepted');
  t.equal(server.core.graph.reporterCount, reporters, 'the graph is unchanged');

  client.channel.send(encodeClientMessage({ kind: 'update', update: good }));
  await until(() => server.core.updatesAccepted === 1, 'the genuine update accepted');
  client.channel.send(encodeClientMessage({ kind: 'update', update: good }));
  await until(() => rejected('counter-replay') === 1, 'the replay refused');
  t.equal(server.core.updatesAccepted, 1, 'the replay changed nothing');
  t.equal(server.core.graph.reporterCount, reporters + 1);
  t.notOk(client.closed(), 'the connection is still served');
});

t.test('updates past the backlog bound are dropped on the shard and counted as overload', async (t) => {
  const { server, identity } = await serverWithChain(t, { workers: 1, shardBacklogMax: 0 });
  const at = [{ publicKey: identity.publicKey, address: `127.0.0.1:${server.clientPort}` }];
  const x = Identity.generate();
  const client = new IndexClient({ identity: x, servers: at });
  t.teardown(() => client.close());
  client.start();
  await client.whenReady();
  client.update([{ kind: 'update', friend: key(1), currency: 'USD', recvCapacity: 5n, rate: { mul: 0, add: 0 } }]);
  const deadline = Date.now() + 60_000;
  while (!/index_updates_rejected_total\{reason="overloaded"\} 2\n/.test(await server.registry.metrics())) {
    if (Date.now() > deadline) throw new Error('the drops were not counted');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.pass('the session-start table and the update both dropped and counted');
  t.equal(server.core.updatesAccepted, 0, 'nothing reached the graph');
  t.equal((await client.requestRoutes({ currency: 'USD', amount: 10n, source: key(1), destination: key(4) })).routes.length, 1, 'queries are still answered');
});

t.test('a key that connects again keeps only its newest connection, whichever shards hold them', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const who = Identity.generate();
  const first = await rawClient(server, identity.publicKey, who);
  const others: RawClient[] = [first];
  t.teardown(() => others.forEach((c) => c.channel.close()));
  const second = await rawClient(server, identity.publicKey, who);
  others.push(second);
  await until(() => first.closed(), 'the older connection to close');
  t.notOk(second.closed());
  const id = sendRoutes(second, 1, 4);
  await until(() => second.responses.has(id), 'the answer');
  await until(() => server.clientConnections === 1, 'one connection left');
});

t.test('ticks reach every client through its shard', async (t) => {
  const { server, identity } = await serverWithChain(t, { tickMs: 50 });
  const clients = await Promise.all(Array.from({ length: 4 }, () => rawClient(server, identity.publicKey)));
  t.teardown(() => clients.forEach((c) => c.channel.close()));
  await until(() => clients.every((c) => c.times() >= 3), 'time hashes');
  t.pass('each client got the hash on connecting and at later ticks');
});

t.test('close() with open connections ends them, stops every shard and returns', async (t) => {
  const identity = Identity.generate();
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers: 2, tickMs: 60_000 });
  chainGraph(server.core.graph);
  server.flushSnapshot();
  const clients = await Promise.all(Array.from({ length: 6 }, () => rawClient(server, identity.publicKey)));
  for (const c of clients) sendRoutes(c, 1, 4);
  await until(() => clients.every((c) => c.arrived() === 1), 'answers');
  await server.close();
  t.equal(server.liveShards, 0, 'no shard left running');
  await until(() => clients.every((c) => c.closed()), 'every client to see its connection end');
  await server.close();
  t.pass('a second close() is harmless');
});

t.test('a client port another program holds makes start() fail cleanly, with every shard stopped', async (t) => {
  const { createServer } = await import('node:net');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  await t.rejects(IndexServer.start({ identity: Identity.generate(), clientPort: port, serverPort: 0, workers: 2, tickMs: 60_000 }), /address in use/);
});

t.test('a shard that fails closes its connections and ends; the server serves on with the other shard', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const clients: RawClient[] = [];
  t.teardown(() => clients.forEach((c) => c.channel.close()));
  while (server.connectionsPerShard().some((n) => n === 0)) {
    if (clients.length >= 64) throw new Error('64 connections all landed on one shard');
    clients.push(await rawClient(server, identity.publicKey));
    await until(() => server.clientConnections === clients.length, 'the shard to count the connection');
  }
  const onFirst = server.connectionsPerShard()[0];
  // A fault inside shard 0 that no handler catches: a snapshot handle it cannot read.
  const shards = (server as unknown as { shards: { worker: import('node:worker_threads').Worker }[] }).shards;
  shards[0].worker.postMessage({ snapshot: { generation: 1e9, keys: null, keyCount: 1, reporting: null, currencies: null } });
  await until(() => server.liveShards === 1, 'shard 0 to end');
  await until(() => clients.filter((c) => c.closed()).length === onFirst, "shard 0's clients to see their connections end");
  // New connections reach the listener left.
  const late = await rawClient(server, identity.publicKey);
  clients.push(late);
  const id = sendRoutes(late, 1, 4);
  await until(() => late.responses.has(id), 'an answer from the other shard');
  t.equal(late.responses.get(id)!.routes.length, 1);
  const survivor = clients.find((c) => !c.closed())!;
  const again = sendRoutes(survivor, 1, 3);
  await until(() => survivor.responses.has(again), "the other shard's older client answered too");
});
