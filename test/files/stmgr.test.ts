import t from 'tap';
import { runProgramToEnd } from '../../src/apps/launcher.js';
import { mkdtempSync, readFileSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentityFile } from '../../src/files/identity_file.js';
import { readAppTicket, readServerTicket } from '../../src/files/tickets.js';
import { FileKind } from '../../src/files/formats.js';

const dir = mkdtempSync(join(tmpdir(), 'offset-stmgr-'));

async function stmgr(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const result = await runProgramToEnd('stmgr', args);
  return { status: result.code, stdout: result.stdout, stderr: result.stderr };
}

t.test('stmgr makes an identity and every kind of ticket from it', async (t) => {
  const ident = join(dir, 'node.ident');
  t.equal((await stmgr('gen-ident', '--output', ident)).status, 0);
  t.equal(statSync(ident).mode & 0o777, 0o600);
  const key = loadIdentityFile(ident).publicKey;
  for (const [command, kind] of [['relay-ticket', FileKind.RelayTicket], ['index-ticket', FileKind.IndexTicket], ['node-ticket', FileKind.NodeTicket]] as const) {
    const out = join(dir, `${command}.json`);
    t.equal((await stmgr(command, '--idfile', ident, '--address', '127.0.0.1:7000', '--output', out)).status, 0, command);
    t.same(readServerTicket(out, kind), { publicKey: key, address: '127.0.0.1:7000' }, command);
  }
  const app = join(dir, 'app.ticket');
  t.equal((await stmgr('app-ticket', '-i', ident, '-o', app, '--pbuyer', '--pconfig')).status, 0);
  t.same(readAppTicket(app), { publicKey: key, permissions: { routes: false, buyer: true, seller: false, config: true } });
});

t.test('stmgr refuses to overwrite and reports failures in one line with a non-zero exit', async (t) => {
  const ident = join(dir, 'existing.ident');
  t.equal((await stmgr('gen-ident', '-o', ident)).status, 0);
  const before = readFileSync(ident, 'utf8');
  const again = await stmgr('gen-ident', '-o', ident);
  t.equal(again.status, 1);
  t.match(again.stderr, /^stmgr: error: .*existing\.ident: already exists; refusing to overwrite\n$/);
  t.equal(readFileSync(ident, 'utf8'), before);

  const corrupt = join(dir, 'corrupt.ident');
  writeFileSync(corrupt, '{"kind":"identity","version":1,"privateKey":"AA"}');
  const bad = await stmgr('relay-ticket', '-i', corrupt, '-a', '127.0.0.1:1', '-o', join(dir, 'never.ticket'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /corrupt\.ident: field privateKey: must be 32 bytes/);
  t.notOk(existsSync(join(dir, 'never.ticket')), 'no output written on failure');

  const badAddress = await stmgr('node-ticket', '-i', ident, '-a', 'nohost', '-o', join(dir, 'never2.ticket'));
  t.equal(badAddress.status, 1);
  t.match(badAddress.stderr, /invalid address "nohost"/);

  t.equal((await stmgr('gen-ident')).status, 2, 'missing required option is a usage error');
  t.equal((await stmgr('--help')).status, 0);
});
