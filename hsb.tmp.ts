import { Identity } from './src/crypto/identity.js';
import { connectSecure, listenSecure } from './src/transport/index.js';
import { silentLogger } from './src/common/log.js';
import { performance } from 'node:perf_hooks';
const a = Identity.generate(), b = Identity.generate();
const l = await listenSecure({ port: 0, identity: b, purpose: 'relay', onChannel: () => {}, options: { logger: silentLogger }, limits: { handshakesConcurrentMax: 4096 } });
const url = `ws://127.0.0.1:${l.port}/`;
// warm up
for (let i = 0; i < 50; i++) (await connectSecure(url, { identity: a, expectedRemoteKey: b.publicKey, purpose: 'relay', options: { logger: silentLogger } })).close();
let done = 0, failed = 0;
const t0 = performance.now(); const c0 = process.cpuUsage();
await Promise.all(Array.from({ length: 32 }, async () => {
  while (performance.now() - t0 < 4000) {
    try { const ch = await connectSecure(url, { identity: a, expectedRemoteKey: b.publicKey, purpose: 'relay', options: { logger: silentLogger } }); done++; ch.close(); } catch (e) { failed++; }
  }
}));
const c = process.cpuUsage(c0);
console.log('same-process handshakes/s', Math.round(done / ((performance.now() - t0) / 1000)), 'per cpu s', Math.round(done / ((c.user + c.system) / 1e6)), failed);
l.close();
