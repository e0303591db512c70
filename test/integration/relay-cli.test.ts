import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';
import { runProgramToEnd, startProgram } from '../../src/apps/launcher.js';
import { RelayListener, openTunnel, type RelayAddress } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import { collect, deferred } from '../relay/helpers.js';

function setup(config: unknown): { dir: string; idfile: string; configFile: string; identity: Identity } {
  const dir = mkdtempSync(join(tmpdir(), 'strelay-'));
  const identity = Identity.generate();
  const idfile = join(dir, 'relay.ident');
  writeIdentityFile(idfile, identity);
  const configFile = join(dir, 'relay.json');
  writeFileSync(configFile, JSON.stringify(config));
  return { dir, idfile, configFile, identity };
}

t.test('strelay serves metrics and status, then drains on SIGTERM and exits 0', { timeout: 90_000 }, async (t) => {
  const { idfile, configFile, identity } = setup({ timeouts: { drainGraceMs: 800 } });
  const relay = startProgram('strelay', ['--idfile', idfile, '--laddr', '127.0.0.1:0', '--workers', '2', '--metrics-addr', '127.0.0.1:0', '--config', configFile]);
  t.teardown(() => relay.stop('SIGKILL'));
  const port = await relay.port('clients', 60_000);
  const metricsPort = await relay.port('metrics');
  const address: RelayAddress = { url: `ws://127.0.0.1:${port}/`, publicKey: identity.publicKey };

  const bob = Identity.generate();
  const got = deferred<RelayTunnel>();
  const listener = await RelayListener.open(address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
  const a = await openTunnel(address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 20_000 });
  const b = await got.promise;
  const atB = collect(b);
  const aClosed = collect(a).closed;
  a.send(new Uint8Array([1, 2, 3]));
  await atB.waitFor(1);

  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.match(metrics, /strelay_tunnels 1/, 'one tunnel is reported');
  t.match(metrics, /strelay_connections\{state="listener"\} 1/, 'connections by state');
  t.match(metrics, /strelay_forwarded_frames_total [1-9]/, 'frames forwarded');
  t.match(metrics, /strelay_rss_bytes [1-9]/, 'RSS');
  const status = (await (await fetch(`http://127.0.0.1:${metricsPort}/status`)).json()) as { status: string; workers: unknown[] };
  t.equal(status.status, 'running');
  t.equal(status.workers.length, 2, 'per-worker load is reported');

  const exited = relay.stop('SIGTERM', 30_000);
  t.match(await listener.closed, /draining/, 'the listener is told the relay is draining');
  t.ok(await aClosed, 'the tunnel is closed after the grace period');
  const result = await exited;
  t.equal(result.code, 0, 'exit code 0');
  t.ok(relay.logLines.some((l) => l.event === 'stopped'), 'logged that it stopped');
});

t.test('strelay reports a config error in one clear line and exits 1', { timeout: 60_000 }, async (t) => {
  const { idfile, configFile } = setup({ limits: { connectionsMax: -1 } });
  const result = await runProgramToEnd('strelay', ['--idfile', idfile, '--laddr', '127.0.0.1:0', '--config', configFile]);
  t.equal(result.code, 1);
  const lines = result.stderr.trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /^strelay: error: invalid relay config: limits\.connectionsMax/);
});
