import t from 'tap';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { loadIdentityFile, writeIdentityFile } from '../../src/files/identity_file.js';
import { readAppTicket, readFriendTicket, readServerTicket, writeAppTicket, writeFriendTicket, writeServerTicket } from '../../src/files/tickets.js';
import { FileKind, parseAddress } from '../../src/files/formats.js';
import { FileError } from '../../src/files/file_errors.js';

const dir = mkdtempSync(join(tmpdir(), 'offset-files-'));
let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);

t.test('an identity file round-trips, is private to its owner and is never overwritten', async (t) => {
  const path = fresh('id');
  const identity = Identity.generate();
  writeIdentityFile(path, identity);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(loadIdentityFile(path).publicKey, identity.publicKey);
  const before = readFileSync(path, 'utf8');
  t.throws(() => writeIdentityFile(path, Identity.generate()), { code: 'ERR_FILE_EXISTS' });
  t.equal(readFileSync(path, 'utf8'), before, 'existing identity unchanged');
});

t.test('tickets round-trip with their keys, addresses and permissions', async (t) => {
  const identity = Identity.generate();
  const relay = fresh('relay');
  writeServerTicket(relay, FileKind.RelayTicket, { publicKey: identity.publicKey, address: 'relay.example:4000' });
  t.same(readServerTicket(relay, FileKind.RelayTicket), { publicKey: identity.publicKey, address: 'relay.example:4000' });
  const app = fresh('app');
  writeAppTicket(app, identity.publicKey, { routes: true, buyer: false, seller: true, config: false });
  t.same(readAppTicket(app).permissions, { routes: true, buyer: false, seller: true, config: false });
  const friend = fresh('friend');
  writeFriendTicket(friend, { publicKey: identity.publicKey, relays: [{ publicKey: identity.publicKey, address: '[::1]:5' }] });
  t.equal(readFriendTicket(friend).relays[0].address, '[::1]:5');
});

t.test('bad files are refused with an error naming the file and the problem', async (t) => {
  const identityPath = fresh('id');
  writeIdentityFile(identityPath, Identity.generate());
  const cases: Array<{ name: string; text: string | null; code: string; problem: RegExp }> = [
    { name: 'missing', text: null, code: 'ERR_FILE_NOT_FOUND', problem: /no such file/ },
    { name: 'not json', text: '{"kind": "identity", ', code: 'ERR_FILE_CORRUPT', problem: /not valid JSON/ },
    { name: 'truncated', text: readFileSync(identityPath, 'utf8').slice(0, 30), code: 'ERR_FILE_CORRUPT', problem: /not valid JSON/ },
    { name: 'not an object', text: '[1,2]', code: 'ERR_FILE_CORRUPT', problem: /not an offset file/ },
    { name: 'wrong kind', text: '{"kind":"relay-ticket","version":1,"publicKey":"","address":"a:1"}', code: 'ERR_FILE_WRONG_KIND', problem: /is a relay ticket, expected an identity file/ },
    { name: 'future version', text: '{"kind":"identity","version":7,"privateKey":""}', code: 'ERR_FILE_INVALID', problem: /unsupported identity version 7/ },
    { name: 'short key', text: '{"kind":"identity","version":1,"privateKey":"AAAA"}', code: 'ERR_FILE_INVALID', problem: /field privateKey: must be 32 bytes/ },
    { name: 'bad base64', text: `{"kind":"identity","version":1,"privateKey":"${'+'.repeat(43)}"}`, code: 'ERR_FILE_INVALID', problem: /field privateKey/ },
    { name: 'extra field', text: `{"kind":"identity","version":1,"privateKey":"${'A'.repeat(43)}","x":1}`, code: 'ERR_FILE_INVALID', problem: /x/ },
  ];
  for (const testCase of cases) {
    const path = fresh(testCase.name.replaceAll(' ', '-'));
    if (testCase.text !== null) writeFileSync(path, testCase.text);
    try {
      loadIdentityFile(path);
      t.fail(`${testCase.name}: accepted`);
    } catch (err) {
      t.ok(err instanceof FileError, `${testCase.name}: FileError`);
      t.match(err, { code: testCase.code, path }, testCase.name);
      t.match((err as Error).message, testCase.problem, testCase.name);
      t.ok((err as Error).message.startsWith(path), `${testCase.name}: message names the file`);
    }
  }
});

t.test('addresses must be host:port with a valid port and bounded length', async (t) => {
  t.same(parseAddress('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  t.same(parseAddress('[::1]:443'), { host: '::1', port: 443 });
  t.equal(parseAddress('host:0'), null);
  t.equal(parseAddress('host:65536'), null);
  t.equal(parseAddress('host'), null);
  t.equal(parseAddress(`${'a'.repeat(260)}:1`), null);
  t.equal(parseAddress('a b:1'), null);
});
