import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { NodeDb, initNodeDb } from '../../src/node/node_db.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';
import { RocksStore } from '../../src/funder/store/rocks.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'offset-nodedb-'));

t.test('a database opens only for the identity it was made for', async (t) => {
  const path = join(tmp(), 'db');
  const me = Identity.generate();
  await initNodeDb(path, me.publicKey);
  const db = await NodeDb.open(path, me.publicKey);
  t.same(db.indexServers(), []);
  await db.close();
  await t.rejects(NodeDb.open(path, Identity.generate().publicKey), { code: 'ERR_NODE_DB_IDENTITY_MISMATCH' });
});

t.test('a database is never overwritten and a missing one is named', async (t) => {
  const path = join(tmp(), 'db');
  const me = Identity.generate();
  await initNodeDb(path, me.publicKey);
  await t.rejects(initNodeDb(path, me.publicKey), { code: 'ERR_NODE_DB_EXISTS' });
  await t.rejects(NodeDb.open(join(tmp(), 'absent'), me.publicKey), { code: 'ERR_NODE_DB_MISSING' });
});

t.test('a second process cannot open a database in use', async (t) => {
  const path = join(tmp(), 'db');
  const me = Identity.generate();
  await initNodeDb(path, me.publicKey);
  const db = await NodeDb.open(path, me.publicKey);
  await t.rejects(NodeDb.open(path, me.publicKey), { code: 'ERR_NODE_DB_LOCKED' });
  await db.close();
});

t.test('index servers and relay names survive a reopen', async (t) => {
  const path = join(tmp(), 'db');
  const me = Identity.generate();
  await initNodeDb(path, me.publicKey);
  const db = await NodeDb.open(path, me.publicKey);
  const server = { publicKey: Identity.generate().publicKey, address: '127.0.0.1:4000', name: 'i1' };
  await db.saveIndexServers([server]);
  await db.saveRelayNames(new Map([['k', 'relay one']]));
  await db.close();
  const again = await NodeDb.open(path, me.publicKey);
  t.same(again.indexServers(), [server]);
  t.same([...again.relayNames()], [['k', 'relay one']]);
  await again.close();
});

t.test('old relays and the end of their grace period survive a reopen', async (t) => {
  const path = join(tmp(), 'db');
  const me = Identity.generate();
  await initNodeDb(path, me.publicKey);
  const db = await NodeDb.open(path, me.publicKey);
  t.same(db.retiredRelays(), [], 'none in a new database');
  const retired = [{ relay: { publicKey: Identity.generate().publicKey, address: '127.0.0.1:4100' }, untilMs: 1_700_000_000_000 }];
  await db.saveRetiredRelays(retired);
  await db.close();
  const again = await NodeDb.open(path, me.publicKey);
  t.same(again.retiredRelays(), retired);
  await again.close();
});

t.test('an unreadable settings record is reported as a corrupt database naming the record', async (t) => {
  const cases: [string, string, () => (db: NodeDb) => unknown][] = [
    ['meta/index-servers', '{not json', () => (db) => db.indexServers()],
    ['meta/index-servers', '[{"publicKey":"short","address":"a","name":"n"}]', () => (db) => db.indexServers()],
    ['meta/relay-names', '{"a":1}', () => (db) => db.relayNames()],
    ['meta/retired-relays', '[{"publicKey":"AAAA","address":"x"}]', () => (db) => db.retiredRelays()],
  ];
  for (const [key, value, reader] of cases) {
    const path = join(tmp(), 'db');
    const me = Identity.generate();
    await initNodeDb(path, me.publicKey);
    const store = await RocksStore.open(join(path, 'meta'));
    await store.write([{ type: 'put', key, value }]);
    await store.close();
    const db = await NodeDb.open(path, me.publicKey);
    t.throws(() => reader()(db), { code: 'ERR_NODE_DB_CORRUPT', message: new RegExp(key) }, `${key} = ${value}`);
    await db.close();
  }
});

t.test('stmgr init-node-db creates a database and refuses to overwrite it', async (t) => {
  const dir = tmp();
  const idfile = join(dir, 'node.ident');
  const me = Identity.generate();
  writeIdentityFile(idfile, me);
  const out = join(dir, 'db');
  const first = await runProgramToEnd('stmgr', ['init-node-db', '--idfile', idfile, '--output', out]);
  t.equal(first.code, 0, first.stderr);
  const db = await NodeDb.open(out, me.publicKey);
  await db.close();
  const second = await runProgramToEnd('stmgr', ['init-node-db', '--idfile', idfile, '--output', out]);
  t.equal(second.code, 1);
  t.match(second.stderr, /^stmgr: error: .*already exists/);
  writeFileSync(join(dir, 'bad.ident'), 'not json');
  const bad = await runProgramToEnd('stmgr', ['init-node-db', '--idfile', join(dir, 'bad.ident'), '--output', join(dir, 'db2')]);
  t.equal(bad.code, 1);
});
