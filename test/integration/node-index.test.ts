import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { IndexServer } from '../../src/index/server.js';
import { AppErrorCode } from '../../src/node/app_codec.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir } from '../node/app_helper.js';

t.test('nodes report their capacities to an index server and apps get routes through their node', async (t) => {
  const relay = await startRelay(tempDir('relay'));
  t.teardown(() => relay.program.stop());
  const indexId = Identity.generate();
  const index = await IndexServer.start({ identity: indexId, clientPort: 0, serverPort: 0, workers: 1, tickMs: 1000 });
  t.teardown(() => index.close());
  index.setTrusted([]);
  const a = await prepareNode('ia');
  const b = await prepareNode('ib');
  await Promise.all([startNode(a), startNode(b)]);
  t.teardown(() => a.program?.stop());
  t.teardown(() => b.program?.stop());
  const appA = await TestApp.connect(a.port, a.identity.publicKey, a.app);
  const appB = await TestApp.connect(b.port, b.identity.publicKey, b.app);
  const routesQuery = {
    kind: 'requestRoutes' as const, currency: 'FST', amount: 40n, source: a.identity.publicKey, destination: b.identity.publicKey,
    exclude: null, maxHops: 0, maxFee: null, maxRoutes: 0,
  };
  const refused = await appA.request({ ...routesQuery, requestId: randomBytes(16) });
  t.equal(refused?.code, AppErrorCode.NoIndexConnection, 'without an index server a route request fails with a typed error');

  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  const server = { publicKey: indexId.publicKey, address: `127.0.0.1:${index.clientPort}`, name: 'index' };
  for (const app of [appA, appB]) {
    await app.must({ kind: 'addRelay', relay: { ...relays[0], name: 'r' } });
    await app.must({ kind: 'addIndexServer', server });
  }
  const dup = await appA.request({ kind: 'addIndexServer', server });
  t.equal(dup?.code, AppErrorCode.IndexServerExists);
  await appA.until((r) => r !== null && r.connectedIndex !== null && r.connectedIndex.every((v, i) => v === indexId.publicKey[i]));
  t.pass('the report names the index server the node is connected to');
  await befriend({ app: appA, key: a.identity.publicKey, relays }, { app: appB, key: b.identity.publicKey, relays }, 'FST', 100n);

  let found = false;
  for (let i = 0; i < 300 && !found; i++) {
    const requestId = randomBytes(16);
    const error = await appA.request({ ...routesQuery, requestId });
    if (error === null) {
      const answer = await appA.wait((m) => m.kind === 'routes' && m.requestId.every((v, j) => v === requestId[j]));
      found = answer.kind === 'routes' && answer.outcome.kind === 'found' && answer.outcome.routes.length > 0;
    }
    if (!found) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(found, 'a route from a to b is found once both nodes reported their capacities');
  appA.close();
  appB.close();
});
