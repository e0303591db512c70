import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { IndexClient } from '../../src/index/client.js';
import { IndexServer, type TrustedPeer } from '../../src/index/server.js';
import type { IndexMutation } from '../../src/index/types.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

const TICK_MS = 40;

async function until(what: string, check: () => boolean | Promise<boolean>, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function link(friend: Identity, capacity = 1000n): IndexMutation {
  return { kind: 'update', friend: friend.publicKey, currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 1 } };
}

t.test('federation: A-B-C chain share updates, one-way trusted D learns nothing, a restarted server rejoins', async (t) => {
  const ids = { a: Identity.generate(), b: Identity.generate(), c: Identity.generate(), d: Identity.generate() };
  const servers: Record<string, IndexServer> = {};
  const start = async (name: keyof typeof ids, port = 0) =>
    (servers[name] = await IndexServer.start({ identity: ids[name], clientPort: 0, serverPort: port, workers: 1, tickMs: TICK_MS, backoffTicks: 2, compactDelayMs: 1 }));
  for (const name of ['a', 'b', 'c', 'd'] as const) await start(name);
  const ticket = (name: keyof typeof ids): TrustedPeer => ({ publicKey: ids[name].publicKey, address: `127.0.0.1:${servers[name].serverPort}` });
  servers.a.setTrusted([ticket('b'), ticket('d')]);
  servers.b.setTrusted([ticket('a'), ticket('c')]);
  servers.c.setTrusted([ticket('b')]);
  servers.d.setTrusted([]);
  t.teardown(async () => {
    for (const s of Object.values(servers)) await s.close();
  });
  await until('links A-B and B-C', () => servers.a.peerCount === 1 && servers.b.peerCount === 2 && servers.c.peerCount === 1);
  t.equal(servers.d.peerCount, 0, 'D has no link: trust is one way');

  // Nodes: n1 on A, n2 and n3 on C; credit lines n1 <-> n2 <-> n3.
  const n1 = Identity.generate();
  const n2 = Identity.generate();
  const n3 = Identity.generate();
  const client = (who: Identity, server: IndexServer, serverId: Identity) => {
    const c = new IndexClient({ identity: who, servers: [{ publicKey: serverId.publicKey, address: `127.0.0.1:${server.clientPort}` }], backoffMs: 100, refreshMs: 500, requestTimeoutMs: 30_000 });
    c.start();
    t.teardown(() => c.close());
    return c;
  };
  // Let a few ticks pass so each server's time hashes include its peers' (proof chains need it).
  await new Promise((resolve) => setTimeout(resolve, TICK_MS * 4));
  const c1 = client(n1, servers.a, ids.a);
  const c2 = client(n2, servers.c, ids.c);
  const c3 = client(n3, servers.c, ids.c);
  await Promise.all([c1.whenReady(), c2.whenReady(), c3.whenReady()]);
  c1.update([link(n2)]);
  c2.update([link(n1), link(n3)]);
  c3.update([link(n2)]);

  const routeAt = async (c: IndexClient, from: Identity, to: Identity) => {
    const response = await c.requestRoutes({ currency: 'USD', amount: 10n, source: from.publicKey, destination: to.publicKey });
    return response.routes;
  };
  await until('a route n1 -> n3 at A', async () => (await routeAt(c1, n1, n3)).length === 1);
  const routes = await routeAt(c1, n1, n3);
  t.same(routes[0].nodes.map((k) => Buffer.from(k).toString('hex')), [n1, n2, n3].map((n) => Buffer.from(n.publicKey).toString('hex')));
  t.equal(routes[0].fee, 1n, 'n2 forwards and charges its flat fee');
  await until('a route n3 -> n1 at C', async () => (await routeAt(c3, n3, n1)).length === 1);
  t.equal(servers.b.core.graph.reporterCount, 3, 'B, in the middle, holds all three nodes');
  t.equal(servers.d.core.graph.reporterCount, 0, 'D learned nothing');
  const dupes = servers.a.core.updateRejections.get('counter-replay') ?? 0;
  t.equal(dupes, 0, 'no update came back to A (no loops)');

  // Restart C on its federation port (same identity), so B's ticket for it still holds; its
  // nodes reconnect and the chain rejoins.
  const cServerPort = servers.c.serverPort;
  await servers.c.close();
  await start('c', cServerPort);
  t.equal(servers.c.serverPort, cServerPort, 'C is back on its port at once');
  servers.c.setTrusted([ticket('b')]);
  await until('C relinked to B', () => servers.c.peerCount === 1 && servers.b.peerCount === 2);
  const c4 = client(n3, servers.c, ids.c);
  await c4.whenReady();
  c4.update([link(n2)]);
  const c5 = client(n2, servers.c, ids.c);
  await c5.whenReady();
  c5.update([link(n1), link(n3)]);
  c1.refreshAll();
  await until('a route n3 -> n1 at the restarted C', async () => (await routeAt(c4, n3, n1)).length === 1);
  t.pass('the restarted server answers routes through the federation again');
});

t.test('a change of the trusted directory is picked up without a restart', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeServerTicket } = await import('../../src/files/tickets.js');
  const { FileKind } = await import('../../src/files/formats.js');
  const dirA = mkdtempSync(join(tmpdir(), 'index-trusted-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'index-trusted-b-'));
  const idA = Identity.generate();
  const idB = Identity.generate();
  const a = await IndexServer.start({ identity: idA, clientPort: 0, serverPort: 0, workers: 1, tickMs: TICK_MS, backoffTicks: 1, trustedDir: dirA });
  const b = await IndexServer.start({ identity: idB, clientPort: 0, serverPort: 0, workers: 1, tickMs: TICK_MS, backoffTicks: 1, trustedDir: dirB });
  t.teardown(async () => {
    await a.close();
    await b.close();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  });
  writeServerTicket(join(dirB, 'a.json'), FileKind.IndexTicket, { publicKey: idA.publicKey, address: `127.0.0.1:${a.serverPort}` });
  await new Promise((resolve) => setTimeout(resolve, TICK_MS * 5));
  t.equal(a.peerCount + b.peerCount, 0, 'one-sided trust: no link');
  writeServerTicket(join(dirA, 'b.json'), FileKind.IndexTicket, { publicKey: idB.publicKey, address: `127.0.0.1:${b.serverPort}` });
  await until('the link after A trusts B', () => a.peerCount === 1 && b.peerCount === 1);
  rmSync(join(dirA, 'b.json'));
  await until('the link drops once A no longer trusts B', () => a.peerCount === 0 && b.peerCount === 0);
  t.pass('trust follows the directory');
});
