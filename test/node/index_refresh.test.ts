import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { IndexClient } from '../../src/index/client.js';
import { NODE_TIMEOUT_TICKS } from '../../src/index/constants.js';
import { IndexServer } from '../../src/index/server.js';
import type { IndexMutation } from '../../src/index/types.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

async function until(what: string, check: () => boolean | Promise<boolean>, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function applied(server: IndexServer): Promise<number> {
  const metric = await server.registry.getSingleMetric('index_mutations_applied_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

t.test('with a short index tick the node refreshes all its entries before the server would expire it', async (t) => {
  // A 5 ms tick: the server drops a silent node after 60 ticks, long before the client's
  // wall-clock refresh (20 s) would fire. Only counting the server's ticks keeps it.
  const serverId = Identity.generate();
  const server = await IndexServer.start({ identity: serverId, clientPort: 0, serverPort: 0, workers: 1, tickMs: 5 });
  t.teardown(() => server.close());
  server.setTrusted([]);
  const node = Identity.generate();
  const client = new IndexClient({ identity: node, servers: [{ publicKey: serverId.publicKey, address: `127.0.0.1:${server.clientPort}` }], backoffMs: 100 });
  client.start();
  t.teardown(() => client.close());
  await client.whenReady();
  // More entries than fit one update, so a refresh is several signed updates.
  const entries: IndexMutation[] = Array.from({ length: 300 }, () => ({
    kind: 'update', friend: Identity.generate().publicKey, currency: 'FST', recvCapacity: 100n, rate: { mul: 0, add: 1 },
  }));
  client.update(entries);
  await until('the entries applied', async () => (await applied(server)) >= entries.length);
  // A busy node sends a change all the time; that must not stand in for refreshing the rest.
  let changes = 0;
  const busy = setInterval(() => {
    changes++;
    client.update([{ ...entries[0], recvCapacity: BigInt(100 + changes) } as IndexMutation]);
  }, 5);
  t.teardown(() => clearInterval(busy));
  const firstTick = server.core.tick;
  await until(`${5 * NODE_TIMEOUT_TICKS} server ticks`, () => server.core.tick >= firstTick + 5 * NODE_TIMEOUT_TICKS);
  clearInterval(busy);
  t.equal(server.core.graph.reporterCount, 1, 'the node is still reporting after five TTLs');
  t.ok(await applied(server) - changes >= 3 * entries.length, 'each refresh resent the whole table, not one entry');
});
