import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { AppClient, AppRequestError } from '../../src/apps/app_client.js';
import { appErrorCodeName } from '../../src/apps/node_report.js';
import { applyMutations } from '../../src/node/report.js';
import { AppErrorCode } from '../../src/wire/generated/offset/app/app-error-code.js';
import type { FriendReport } from '../../src/node/app_codec.js';
import { ALL, ScriptedNode } from './scripted_node.js';

const friend = (name: string, n: number): FriendReport => ({
  publicKey: new Uint8Array(32).fill(n), name, relays: [], enabled: false, online: false,
  currencyConfigs: [], channel: { kind: 'consistent', balances: [] }, lastTokenHash: null,
});

async function connect(node: ScriptedNode, permissions = ALL, identity = Identity.generate()): Promise<AppClient> {
  node.trusted.set(Buffer.from(identity.publicKey).toString('hex'), permissions);
  return AppClient.connect({ identity, node: { publicKey: node.identity.publicKey, address: `127.0.0.1:${node.port}` } });
}

t.test('an app gets its permissions and the node report on connect, then follows mutations', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.report = { ...node.report, friends: [friend('bob', 1)] };
  node.script = (request, reply) => {
    if (request.body.kind === 'enableFriend') {
      reply({ kind: 'mutations', appRequestId: request.appRequestId, mutations: [{ kind: 'friendStatusSet', publicKey: request.body.publicKey, enabled: true }] });
    }
    reply({ kind: 'result', appRequestId: request.appRequestId, error: null });
  };
  const client = await connect(node, { routes: false, buyer: true, seller: false, config: true });
  t.teardown(() => client.close());
  t.same(client.permissions, { routes: false, buyer: true, seller: false, config: true });
  t.equal(client.report.friends[0].name, 'bob');
  t.equal(client.report.friends[0].enabled, false);
  await client.request({ kind: 'enableFriend', publicKey: new Uint8Array(32).fill(1) }, 10_000);
  t.equal(client.report.friends[0].enabled, true, 'the mutation that came with the request is applied by the time it resolves');
});

t.test('a refused request rejects with the node\'s stable code; an unanswered one times out', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.script = (request, reply) => {
    if (request.body.kind === 'removeFriend') {
      reply({ kind: 'result', appRequestId: request.appRequestId, error: { code: AppErrorCode.UnknownFriend, message: 'no such friend' } });
    }
  };
  const client = await connect(node);
  t.teardown(() => client.close());
  await t.rejects(client.request({ kind: 'removeFriend', publicKey: new Uint8Array(32) }, 10_000), {
    code: 'ERR_APP_UNKNOWN_FRIEND', message: /no such friend/,
  });
  try {
    await client.request({ kind: 'removeFriend', publicKey: new Uint8Array(32) }, 10_000);
  } catch (err) {
    t.ok(err instanceof AppRequestError);
    t.equal((err as AppRequestError).wireCode, AppErrorCode.UnknownFriend);
  }
  await t.rejects(client.request({ kind: 'disableFriend', publicKey: new Uint8Array(32) }, 50), { code: 'ERR_APP_TIMEOUT' });
});

t.test('answers that arrive before anyone waits for them are kept; a lost connection fails every waiter', async (t) => {
  const node = await new ScriptedNode().start();
  t.teardown(() => node.stop());
  node.script = (request, reply, self) => {
    if (request.body.kind === 'paymentStatus') {
      reply({ kind: 'closePayment', paymentId: request.body.paymentId, status: { kind: 'inProgress', commit: null } });
      reply({ kind: 'result', appRequestId: request.appRequestId, error: null });
    } else if (request.body.kind === 'requestClosePayment') {
      // Never answered: the node goes away instead.
      reply({ kind: 'result', appRequestId: request.appRequestId, error: null });
      setImmediate(() => self.channels.forEach((c) => c.close('node stopping')));
    }
  };
  const client = await connect(node);
  const paymentId = new Uint8Array(16).fill(7);
  await client.request({ kind: 'paymentStatus', paymentId }, 10_000);
  const status = await client.waitForAnswer((m): m is Extract<typeof m, { kind: 'closePayment' }> => m.kind === 'closePayment', 10_000, 'status');
  t.equal(status.status.kind, 'inProgress');
  const pending = client.waitForAnswer((m): m is Extract<typeof m, { kind: 'closePayment' }> => m.kind === 'closePayment', 60_000, 'close');
  await client.request({ kind: 'requestClosePayment', paymentId }, 10_000);
  await t.rejects(pending, { code: 'ERR_APP_DISCONNECTED' });
  await t.rejects(client.request({ kind: 'paymentStatus', paymentId }, 10_000), { code: 'ERR_APP_DISCONNECTED' });
});

t.test('connecting fails with a typed reason: untrusted app, wrong node key, nobody listening', async (t) => {
  const node = await new ScriptedNode().start();
  const address = `127.0.0.1:${node.port}`;
  await t.rejects(AppClient.connect({ identity: Identity.generate(), node: { publicKey: node.identity.publicKey, address } }), {
    code: 'ERR_APP_NOT_TRUSTED', message: /does not trust this app/,
  });
  const app = Identity.generate();
  node.trusted.set(Buffer.from(app.publicKey).toString('hex'), ALL);
  await t.rejects(AppClient.connect({ identity: app, node: { publicKey: Identity.generate().publicKey, address } }), {
    code: 'ERR_APP_WRONG_NODE',
  });
  node.stop();
  await t.rejects(AppClient.connect({ identity: app, node: { publicKey: node.identity.publicKey, address } }), {
    code: 'ERR_APP_NODE_UNREACHABLE', message: new RegExp(`cannot reach the node at ${address}`),
  });
});

t.test('report mutations apply in order and error codes have stable names', async (t) => {
  const base = { publicKey: new Uint8Array(32), relays: [], indexServers: [], connectedIndex: null, friends: [friend('a', 1)] };
  const key = new Uint8Array(32).fill(1);
  const after = applyMutations(base, [
    { kind: 'friendAdded', friend: friend('b', 2) },
    { kind: 'friendNameSet', publicKey: key, name: 'alice' },
    { kind: 'friendCurrencyConfigSet', publicKey: key, config: { currency: 'FST', rate: { mul: 0, add: 1 }, remoteMaxDebt: 10n, isOpen: false } },
    { kind: 'friendCurrencyConfigSet', publicKey: key, config: { currency: 'FST', rate: { mul: 0, add: 1 }, remoteMaxDebt: 20n, isOpen: true } },
    { kind: 'friendLivenessSet', publicKey: key, online: true },
    { kind: 'relayAdded', relay: { publicKey: key, address: 'r:1', name: 'r' } },
    { kind: 'friendRemoved', publicKey: new Uint8Array(32).fill(2) },
  ]);
  t.same(after.friends.map((f) => f.name), ['alice']);
  t.same(after.friends[0].currencyConfigs.map((c) => [c.remoteMaxDebt, c.isOpen]), [[20n, true]]);
  t.equal(after.friends[0].online, true);
  t.equal(after.relays.length, 1);
  t.equal(base.friends[0].name, 'a', 'the earlier report is not changed');
  t.equal(appErrorCodeName(AppErrorCode.PermissionDenied), 'ERR_APP_PERMISSION_DENIED');
  t.equal(appErrorCodeName(AppErrorCode.NoIndexConnection), 'ERR_APP_NO_INDEX_CONNECTION');
  t.equal(appErrorCodeName(999), 'ERR_APP_CODE_999');
});
