import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import {
  decodeSearchBatchResponse,
  decodeServerMessage,
  encodeClientMessage,
  encodeSearchBatch,
  type SearchRequestMsg,
  type SearchResponseMsg,
} from '../../src/index/codec.js';
import { WriteGraph } from '../../src/index/graph.js';
import { SearchExecutor } from '../../src/index/search-executor.js';
import { SearchPool, SearchPoolError } from '../../src/index/search-pool.js';
import { IndexServer } from '../../src/index/server.js';
import type { ResponseRoutes } from '../../src/index/types.js';
import { connectSecure, type SecureChannel } from '../../src/transport/transport.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url).href;

const key = (i: number) => {
  const k = new Uint8Array(32);
  k[0] = i;
  k[7] = 9;
  return k;
};

/** A chain 1 - 2 - 3 - 4 with credit both ways; node 5 reports only towards 4, so it has no edge. */
function chainGraph(): WriteGraph {
  const graph = new WriteGraph();
  const report = (a: number, b: number) => graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: 100n, rate: { mul: 0, add: 1 } }], 0);
  for (const [a, b] of [
    [1, 2],
    [2, 3],
    [3, 4],
  ]) {
    report(a, b);
    report(b, a);
  }
  report(5, 4);
  return graph;
}

function request(graph: WriteGraph, from: number, to: number, requestId = randomBytes(16)): SearchRequestMsg {
  return {
    requestId,
    currency: 'USD',
    amount: 10n,
    source: graph.keys.lookup(key(from))!,
    destination: graph.keys.lookup(key(to))!,
    excludeFrom: -1,
    excludeTo: -1,
    maxHops: 31,
    maxFee: null,
    maxRoutes: 1,
    workMax: 100_000,
    deadlineUs: 1_000_000,
  };
}

function routesOf(response: SearchResponseMsg): ResponseRoutes {
  const message = decodeServerMessage(response.clientFrame);
  if (!message.ok || message.value.kind !== 'routes') throw new Error('not a routes frame');
  return message.value.response;
}

t.test('requests submitted in one turn go out in fewer batches than requests, and each is answered with its own id and route', async (t) => {
  const graph = chainGraph();
  const pool = new SearchPool(2);
  t.teardown(() => pool.close());
  pool.publish(graph.compact().handle);
  const destinations = Array.from({ length: 60 }, (_, i) => [2, 3, 4, 5][i % 4]);
  const requests = destinations.map((to) => request(graph, 1, to));
  const answers = await Promise.all(requests.map((r) => pool.search(r)));
  t.ok(pool.stats.batches < requests.length, `${requests.length} requests went out in ${pool.stats.batches} batches`);
  t.equal(pool.stats.requests, requests.length);
  for (let i = 0; i < requests.length; i++) {
    const response = routesOf(answers[i]);
    t.same(response.requestId, requests[i].requestId, `answer ${i} carries its own request id`);
    const to = destinations[i];
    if (to === 5) {
      t.equal(response.routes.length, 0, 'node 5 has no send edge: no route');
    } else {
      t.equal(response.routes.length, 1);
      t.same(response.routes[0].nodes.at(-1), key(to), `answer ${i} ends at its own destination`);
      t.equal(response.routes[0].nodes.length, to, 'the chain route 1 .. to');
    }
  }
});

t.test('a request the worker cannot read is answered as failed, and the rest of its batch normally', async (t) => {
  const graph = chainGraph();
  const executor = new SearchExecutor();
  executor.install(graph.compact().handle);
  const good = request(graph, 1, 4);
  const bad = { ...request(graph, 1, 3), currency: 'not a currency name' };
  const decoded = decodeSearchBatchResponse(executor.runBatch(encodeSearchBatch({ generation: executor.generation, requests: [good, bad, good] }))!);
  if (!decoded.ok) throw decoded.error;
  t.same(
    decoded.value.map((r) => r.failed),
    [false, true, false],
  );
  t.equal(routesOf(decoded.value[0]).routes.length, 1);
  t.equal(routesOf(decoded.value[2]).routes.length, 1);
  t.equal(decoded.value[1].clientFrame.byteLength, 0);
});

t.test('an executor without the snapshot a batch needs asks for it instead of answering from an older one', async (t) => {
  const graph = chainGraph();
  const executor = new SearchExecutor();
  executor.install(graph.compact().handle);
  t.equal(executor.runBatch(encodeSearchBatch({ generation: executor.generation + 1, requests: [request(graph, 1, 2)] })), null);
});

t.test('a batch whose worker throws answers every one of its requests with an error', async (t) => {
  const graph = chainGraph();
  const pool = new SearchPool(1, { workerFile: fixture('throwing-search-worker') });
  t.teardown(() => pool.close());
  pool.publish(graph.compact().handle);
  const answers: (SearchResponseMsg | SearchPoolError)[] = [];
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 12; i++) {
      t.ok(
        pool.submit(request(graph, 1, 4), (answer) => {
          answers.push(answer);
          if (answers.length === 12) resolve();
        }),
      );
    }
  });
  t.equal(answers.length, 12, 'every request answered once');
  t.ok(
    answers.every((a) => a instanceof SearchPoolError && a.code === 'ERR_INDEX_SEARCH_FAILED'),
    'each answer is an error',
  );
  t.ok(pool.stats.failedBatches >= 1);
  t.equal(pool.stats.failedRequests, 12);
});

t.test('a batch whose worker thread dies answers every one of its requests with an error', async (t) => {
  const graph = chainGraph();
  const pool = new SearchPool(1, { workerFile: fixture('exiting-search-worker') });
  t.teardown(() => pool.close());
  pool.publish(graph.compact().handle);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => pool.search(request(graph, 1, 4))));
  t.equal(results.length, 5);
  for (const r of results) {
    t.equal(r.status, 'rejected');
    if (r.status === 'rejected') t.equal((r.reason as SearchPoolError).code, 'ERR_INDEX_SEARCH_FAILED');
  }
});

t.test('the pool refuses requests beyond its queue bound instead of growing', async (t) => {
  const graph = chainGraph();
  const pool = new SearchPool(1, { queueMax: 3 });
  t.teardown(() => pool.close());
  pool.publish(graph.compact().handle);
  const accepted: Promise<SearchResponseMsg>[] = [];
  let refused = 0;
  for (let i = 0; i < 5; i++) {
    const p = pool.search(request(graph, 1, 2));
    p.catch(() => {});
    // Requests wait in the pool until the end of the turn, so the fourth and fifth are over the bound.
    if (i < 3) accepted.push(p);
    else await p.then(() => t.fail('should be refused'), (err: SearchPoolError) => (refused += err.code === 'ERR_INDEX_SEARCH_QUEUE_FULL' ? 1 : 0));
  }
  t.equal(refused, 2);
  t.equal((await Promise.all(accepted)).length, 3);
});

// ------------------------------------------------------------------ through the server

interface RawClient {
  channel: SecureChannel;
  responses: Map<string, ResponseRoutes>;
  arrived: () => number;
}

async function rawClient(server: IndexServer, identity: Identity, serverKey: Uint8Array): Promise<RawClient> {
  const channel = await connectSecure(`ws://127.0.0.1:${server.clientPort}/`, { identity, expectedRemoteKey: serverKey, purpose: 'index-client' });
  const responses = new Map<string, ResponseRoutes>();
  let count = 0;
  channel.onFrame((frame) => {
    const message = decodeServerMessage(frame);
    if (message.ok && message.value.kind === 'routes') {
      count++;
      responses.set(Buffer.from(message.value.response.requestId).toString('hex'), message.value.response);
    }
  });
  return { channel, responses, arrived: () => count };
}

async function until(check: () => boolean, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function sendRoutes(client: RawClient, from: number, to: number, currency = 'USD'): string {
  const requestId = randomBytes(16);
  client.channel.send(
    encodeClientMessage({
      kind: 'routes',
      request: { requestId, currency, amount: 10n, source: key(from), destination: key(to), exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1 },
    }),
  );
  return Buffer.from(requestId).toString('hex');
}

async function serverWithChain(t: typeof import('tap').default, options: Partial<Parameters<typeof IndexServer.start>[0]> = {}) {
  const identity = Identity.generate();
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers: 2, tickMs: 60_000, ...options });
  t.teardown(() => server.close());
  // The reports of chainGraph(), in the server's own graph.
  for (const [a, b] of [
    [1, 2],
    [2, 3],
    [3, 4],
    [2, 1],
    [3, 2],
    [4, 3],
    [5, 4],
  ]) {
    server.core.graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: 100n, rate: { mul: 0, add: 1 } }], 0);
  }
  server.flushSnapshot();
  return { server, identity };
}

t.test('the server answers pipelined requests of one turn each with its own id: routes, absent nodes and unknown currencies mixed', async (t) => {
  const { server, identity } = await serverWithChain(t);
  const client = await rawClient(server, Identity.generate(), identity.publicKey);
  t.teardown(() => client.channel.close());
  const expected = new Map<string, number>();
  // All sent in one turn: they reach the server in one sealed message.
  for (let i = 0; i < 40; i++) {
    const kind = i % 5;
    if (kind === 3) expected.set(sendRoutes(client, 1, 99), -1); // absent node: refused before any search
    else if (kind === 4) expected.set(sendRoutes(client, 1, 4, 'EUR'), -2); // unknown currency
    else expected.set(sendRoutes(client, 1, 2 + kind), 2 + kind);
  }
  await until(() => client.arrived() === 40);
  t.equal(client.responses.size, 40, 'forty distinct request ids answered');
  for (const [id, to] of expected) {
    const response = client.responses.get(id);
    if (response === undefined) {
      t.fail(`no answer for ${id}`);
      continue;
    }
    if (to < 0) {
      t.equal(response.routes.length, 0, 'a refused request is answered with no routes');
      t.equal(response.complete, false);
    } else {
      t.equal(response.routes.length, 1);
      t.same(response.routes[0].nodes.at(-1), key(to), 'the route ends at this request destination');
      t.equal(response.complete, true);
    }
  }
});

t.test('when the search worker fails, the server answers every request of the batch with an empty response', async (t) => {
  const { server, identity } = await serverWithChain(t, { workers: 1, searchPool: { workerFile: fixture('throwing-search-worker') } });
  const client = await rawClient(server, Identity.generate(), identity.publicKey);
  t.teardown(() => client.channel.close());
  const ids = Array.from({ length: 10 }, () => sendRoutes(client, 1, 4));
  await until(() => client.arrived() === 10);
  for (const id of ids) {
    const response = client.responses.get(id);
    t.ok(response !== undefined, 'answered');
    t.equal(response?.routes.length, 0);
    t.equal(response?.complete, false);
  }
  t.equal(server.searchFailures, 10, 'each failed search counted');
});
