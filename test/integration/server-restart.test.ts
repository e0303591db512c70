import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgramToEnd, startProgram, type RunningProgram } from '../../src/apps/launcher.js';
import { Identity } from '../../src/crypto/identity.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';
import { FileKind } from '../../src/files/formats.js';
import { writeServerTicket } from '../../src/files/tickets.js';
import { RelayListener, openTunnel } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import { connectSecure, type Purpose } from '../../src/transport/transport.js';
import { deferred } from '../relay/helpers.js';
import { prepareNode } from '../node/app_helper.js';

/**
 * A server stopped while it had connections (by SIGTERM, or killed) comes back on the same ports
 * at once. The servers' own side of each TCP connection closes, so its ports hold TIME_WAIT
 * sockets after the stop; the restarted server must bind over them. The first run takes
 * OS-chosen ports, as the tests and `--laddr HOST:0` users do.
 */

/** Generous: a restarted program that cannot bind exits at once (the launcher reports that). */
const START_MS = 90_000;

interface ServerUnderTest {
  /** Starts the program on these ports (0: OS-chosen) and returns them as announced. */
  start(ports: Record<string, number>): Promise<{ program: RunningProgram; ports: Record<string, number> }>;
  /** Opens real connections to every endpoint; resolves once each is established end to end. */
  connect(ports: Record<string, number>): Promise<void>;
}

async function announcedPorts(program: RunningProgram, endpoints: readonly string[]): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const endpoint of endpoints) ports[endpoint] = await program.port(endpoint, START_MS);
  return ports;
}

async function channelTo(port: number, identity: Identity, serverKey: Uint8Array, purpose: Purpose): Promise<void> {
  const channel = await connectSecure(`ws://127.0.0.1:${port}/`, { identity, expectedRemoteKey: serverKey, purpose, connectTimeoutMs: 30_000 });
  // Left open: the server's stop is what ends it.
  channel.onClose(() => {});
}

async function restartsOnItsPorts(t: Test, server: ServerUnderTest): Promise<void> {
  let { program, ports } = await server.start({});
  t.teardown(() => program.stop('SIGKILL'));
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    await server.connect(ports);
    await program.stop(signal, 60_000);
    const again = await server.start(ports);
    t.same(again.ports, ports, `after ${signal} the server listens on the same ports again`);
    program = again.program;
    ports = again.ports;
  }
  await server.connect(ports);
  t.pass('the restarted server serves connections');
  const result = await program.stop('SIGTERM', 60_000);
  t.equal(result.code, 0, 'and stops cleanly');
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `offset-restart-${prefix}-`));
}

t.test('strelay restarts on its port at once after SIGTERM and after SIGKILL', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('relay');
  const identity = Identity.generate();
  const idfile = join(dir, 'relay.ident');
  writeIdentityFile(idfile, identity);
  const configFile = join(dir, 'relay.json');
  writeFileSync(configFile, JSON.stringify({ timeouts: { drainGraceMs: 200 } }));
  await restartsOnItsPorts(t, {
    async start(ports) {
      const program = startProgram('strelay', ['--idfile', idfile, '--laddr', `127.0.0.1:${ports.clients ?? 0}`, '--workers', '2', '--config', configFile]);
      return { program, ports: await announcedPorts(program, ['clients']) };
    },
    async connect(ports) {
      const address = { url: `ws://127.0.0.1:${ports.clients}/`, publicKey: identity.publicKey };
      const bob = Identity.generate();
      const got = deferred<RelayTunnel>();
      // A listener, and a tunnel to it (both halves are connections to the relay).
      await RelayListener.open(address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
      await openTunnel(address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 30_000 });
      await got.promise;
    },
  });
});

t.test('stindex restarts on its client and server ports at once after SIGTERM and after SIGKILL', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('index');
  const identity = Identity.generate();
  const idfile = join(dir, 'index.ident');
  writeIdentityFile(idfile, identity);
  const trusted = join(dir, 'trusted');
  mkdirSync(trusted);
  // A trusted peer whose own server address refuses connections: only its inbound link is used.
  const peer = Identity.generate();
  writeServerTicket(join(trusted, 'peer.ticket'), FileKind.IndexTicket, { publicKey: peer.publicKey, address: '127.0.0.1:1' });
  await restartsOnItsPorts(t, {
    async start(ports) {
      const program = startProgram('stindex', [
        '--idfile', idfile, '--lclient', `127.0.0.1:${ports.clients ?? 0}`, '--lserver', `127.0.0.1:${ports.servers ?? 0}`,
        '--trusted', trusted, '--workers', '1',
      ]);
      return { program, ports: await announcedPorts(program, ['clients', 'servers']) };
    },
    async connect(ports) {
      await channelTo(ports.clients, Identity.generate(), identity.publicKey, 'index-client');
      await channelTo(ports.clients, Identity.generate(), identity.publicKey, 'index-client');
      await channelTo(ports.servers, peer, identity.publicKey, 'index-federation');
    },
  });
});

t.test('stnode restarts on its app port at once after SIGTERM and after SIGKILL', { timeout: 300_000 }, async (t) => {
  const { identity, idfile, db, trusted, app } = await prepareNode('node');
  await restartsOnItsPorts(t, {
    async start(ports) {
      const program = startProgram('stnode', ['--idfile', idfile, '--laddr', `127.0.0.1:${ports.apps ?? 0}`, '--database', db, '--trusted', trusted]);
      return { program, ports: await announcedPorts(program, ['apps']) };
    },
    async connect(ports) {
      await channelTo(ports.apps, app, identity.publicKey, 'app');
      await channelTo(ports.apps, app, identity.publicKey, 'app');
    },
  });
});

t.test('strelay and stindex refuse a port another server holds instead of sharing it', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('in-use');
  const idfile = join(dir, 'server.ident');
  writeIdentityFile(idfile, Identity.generate());
  const trusted = join(dir, 'trusted');
  mkdirSync(trusted);
  const relay = startProgram('strelay', ['--idfile', idfile, '--laddr', '127.0.0.1:0', '--workers', '2']);
  t.teardown(() => relay.stop('SIGKILL'));
  const index = startProgram('stindex', ['--idfile', idfile, '--lclient', '127.0.0.1:0', '--lserver', '127.0.0.1:0', '--trusted', trusted, '--workers', '1']);
  t.teardown(() => index.stop('SIGKILL'));
  const relayPort = await relay.port('clients', START_MS);
  const indexPort = await index.port('clients', START_MS);
  // A program that wrongly shares the port keeps running: runProgramToEnd then fails on its deadline.
  const secondRelay = await runProgramToEnd('strelay', ['--idfile', idfile, '--laddr', `127.0.0.1:${indexPort}`, '--workers', '2'], {}, START_MS);
  t.equal(secondRelay.code, 1, 'a relay on the index server\'s port exits 1');
  t.match(secondRelay.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  const secondIndex = await runProgramToEnd('stindex', [
    '--idfile', idfile, '--lclient', `127.0.0.1:${relayPort}`, '--lserver', '127.0.0.1:0', '--trusted', trusted, '--workers', '1',
  ], {}, START_MS);
  t.equal(secondIndex.code, 1, 'an index server on the relay\'s port exits 1');
  t.match(secondIndex.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  const thirdRelay = await runProgramToEnd('strelay', ['--idfile', idfile, '--laddr', `127.0.0.1:${relayPort}`, '--workers', '1'], {}, START_MS);
  t.equal(thirdRelay.code, 1, 'a second relay on the relay\'s port exits 1');
  t.match(thirdRelay.stderr, /cannot listen on 127\.0\.0\.1:\d+: address in use/);
  t.equal((await relay.stop('SIGTERM', 60_000)).code, 0, 'the first relay was not disturbed');
  t.equal((await index.stop('SIGTERM', 60_000)).code, 0, 'nor the first index server');
});
