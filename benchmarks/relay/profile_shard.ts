/**
 * tsx benchmarks/relay/profile_shard.ts [payloadBytes] [seconds]
 *
 * Where a relay shard spends its time: runs strelay with one worker under --cpu-prof, drives
 * 4 tunnels of `payloadBytes` frames (default 100) for `seconds` (default 5) with the benchmark's
 * load generators, stops it, and prints the functions with the most self time in the shard
 * thread's profile (one JSON line each, then a summary line).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunningProgram } from '../../src/apps/launcher.js';
import { Identity } from '../../src/crypto/identity.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';
import { Generator } from './harness.js';

const payloadBytes = Number(process.argv[2] ?? 100);
const seconds = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'relay-profile-'));
const identity = Identity.generate();
const idfile = join(dir, 'relay.ident');
writeIdentityFile(idfile, identity);
const configFile = join(dir, 'relay.json');
writeFileSync(configFile, JSON.stringify({ timeouts: { drainGraceMs: 0 } }));
const strelay = fileURLToPath(new URL('../../src/apps/strelay.ts', import.meta.url));
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--import=tsx', strelay, '--idfile', idfile, '--laddr', '127.0.0.1:0', '--workers', '1', '--config', configFile], {
  stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OFFSET_LOG_LEVEL: 'info' },
});
const relay = new RunningProgram('strelay', child);
const port = await relay.port('clients', 60_000);
const address = { url: `ws://127.0.0.1:${port}/`, publicKey: Buffer.from(identity.publicKey).toString('base64') };
const seeds = Array.from({ length: 4 }, () => Identity.generate());
const receiver = new Generator('receiver');
receiver.send({ role: 'receiver', mode: 'relay', relay: address, seeds: seeds.map((s) => Buffer.from(s.seed).toString('base64')) });
await receiver.wait((m) => m.ready === true);
const sender = new Generator('sender');
sender.send({ role: 'sender', mode: 'relay', relay: address, targets: seeds.map((s) => Buffer.from(s.publicKey).toString('base64')), payloadBytes });
await sender.wait((m) => m.ready === true);
await receiver.wait((m) => m.tunnel === 4);
sender.send({ cmd: 'go' });
await receiver.mark();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const mark = await receiver.mark();
sender.send({ cmd: 'stop' });
sender.exit();
receiver.exit();
await relay.stop('SIGTERM', 20_000);

// Every thread writes a profile (main, loader, shard); the shard's is the one with the most
// samples outside "(idle)".
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; }
interface Profile { nodes: Node[]; samples: number[] }
const busy = (p: Profile): number => {
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  return p.samples.filter((id) => !idle.has(id)).length;
};
const candidates = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => {
  const path = join(dir, f);
  return { path, profile: JSON.parse(readFileSync(path, 'utf8')) as Profile };
});
candidates.sort((a, b) => busy(b.profile) - busy(a.profile));
const shardProfile = candidates[0].path;
const profile = candidates[0].profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
for (const id of profile.samples) {
  const f = byId.get(id)!.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + 1);
}
const total = profile.samples.length;
const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
for (const [fn, n] of top) process.stdout.write(`${JSON.stringify({ function: fn, self_percent: Math.round((n / total) * 1000) / 10 })}\n`);
process.stdout.write(`${JSON.stringify({ profile: shardProfile, payload_bytes: payloadBytes, frames_per_s: Math.round((mark.frames / mark.wallMs) * 1000), samples: total })}\n`);
