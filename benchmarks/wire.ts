/**
 * Wire-format costs: the verifier on a large node report, full app-protocol decodes, and the
 * bulk struct writer against flatc's per-byte one. Prints one JSON object per phase; the last
 * line is the summary. `--quick` shortens every phase.
 *
 *   npm run bench:wire [-- --quick]
 */
import * as flatbuffers from 'flatbuffers';
import os from 'node:os';
import { verifyBuffer } from '../src/wire/verify.js';
import { writePublicKey } from '../src/wire/decode.js';
import { PublicKey } from '../src/wire/generated/offset/common/public-key.js';
import {
  decodeAppRequest, decodeNodeToApp, encodeAppRequest, encodeNodeToApp, type FriendReport, type NodeToApp,
} from '../src/node/app_codec.js';

const quick = process.argv.includes('--quick');
const phaseMs = quick ? 400 : 2000;

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function rate(fn: () => void): { perS: number; cpuPerS: number } {
  for (let i = 0; i < 200; i++) fn(); // warm up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < phaseMs) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { perS: n / wallS, cpuPerS: n / ((cpu.user + cpu.system) / 1e6) };
}

const key = (seed: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (seed + i) & 0xff);

function friend(i: number): FriendReport {
  return {
    publicKey: key(i), name: `friend-${i}`, enabled: true, online: i % 2 === 0, lastTokenHash: key(i + 1),
    relays: [{ publicKey: key(i + 2), address: `relay-${i}.example:443` }],
    currencyConfigs: [{ currency: 'FST1', rate: { mul: 1, add: 1 }, remoteMaxDebt: 1000n, isOpen: true }],
    channel: { kind: 'consistent', balances: [{ currency: 'FST1', balance: -5n, localPendingDebt: 3n, remotePendingDebt: 0n }] },
  };
}

const friends = quick ? 100 : 200;
const report: NodeToApp = {
  kind: 'report',
  report: { publicKey: key(0), relays: [], indexServers: [], connectedIndex: null, friends: Array.from({ length: friends }, (_, i) => friend(i)) },
};
const reportBytes = encodeNodeToApp(report);
const request = encodeAppRequest({
  appRequestId: new Uint8Array(16),
  body: { kind: 'createTransaction', paymentId: new Uint8Array(16), requestId: new Uint8Array(16), route: [key(1), key(2), key(3), key(4)], destPayment: 10n, fees: 2n },
});

const verify = rate(() => {
  if (verifyBuffer(reportBytes, 'offset.app.NodeToApp') !== null) throw new Error('report must verify');
});
const verifyMbPerS = (verify.perS * reportBytes.length) / 1e6;
emit({ phase: `verify NodeToApp report, ${friends} friends, ${reportBytes.length} B`, per_s: Math.round(verify.perS), mb_per_s: Number(verifyMbPerS.toFixed(1)) });

const decodeReport = rate(() => {
  if (!decodeNodeToApp(reportBytes).ok) throw new Error('report must decode');
});
emit({ phase: 'verify + decode NodeToApp report to plain values', per_s: Math.round(decodeReport.perS) });

const decodeRequest = rate(() => {
  if (!decodeAppRequest(request).ok) throw new Error('request must decode');
});
emit({ phase: `verify + decode AppRequest createTransaction, ${request.length} B`, per_s: Math.round(decodeRequest.perS) });

const builder = new flatbuffers.Builder(1 << 16);
const bytes = key(7);
const array = [...bytes];
const bulk = rate(() => {
  builder.clear();
  for (let i = 0; i < 64; i++) writePublicKey(builder, bytes);
});
const perByte = rate(() => {
  builder.clear();
  for (let i = 0; i < 64; i++) PublicKey.createPublicKey(builder, array);
});
emit({ phase: 'write 64 public keys', bulk_per_s: Math.round(bulk.perS * 64), generated_per_s: Math.round(perByte.perS * 64) });

emit({
  verify_report_per_s: Math.round(verify.perS),
  verify_mb_per_s: Number(verifyMbPerS.toFixed(1)),
  verify_report_per_cpu_s: Math.round(verify.cpuPerS),
  decode_report_per_s: Math.round(decodeReport.perS),
  decode_request_per_s: Math.round(decodeRequest.perS),
  public_key_writes_per_s_bulk: Math.round(bulk.perS * 64),
  public_key_writes_per_s_generated: Math.round(perByte.perS * 64),
  report_bytes: reportBytes.length,
  quick,
  cores: os.availableParallelism(),
  load_average_1m: Number(os.loadavg()[0].toFixed(2)),
});
