import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import {
  CrossBatchWriter, CrossKind, Reason, decodeClientMessage, decodeCrossBatch, decodeRelayMessage, decodeTunnelFrame,
  decodeWorkerMessage, encodeClientMessage, encodeRelayMessage, encodeTunnelClose, encodeTunnelCredit, encodeTunnelData,
  encodeWorkerMessage, type CrossItem, type TunnelMsg,
} from '../../src/relay/codec.js';
import { fuzzDecoder } from './harness.js';

const key = (): Uint8Array => Identity.generate().publicKey;

fuzzDecoder(t, {
  name: 'relay client message',
  decode: decodeClientMessage,
  encode: encodeClientMessage,
  samples: [
    encodeClientMessage({ kind: 'listen' }), encodeClientMessage({ kind: 'connect', target: key() }),
    encodeClientMessage({ kind: 'accept', caller: key() }), encodeClientMessage({ kind: 'reject', caller: key() }),
    encodeClientMessage({ kind: 'keepalive' }),
  ],
});

fuzzDecoder(t, {
  name: 'relay message',
  decode: decodeRelayMessage,
  encode: encodeRelayMessage,
  samples: [
    encodeRelayMessage({ kind: 'incoming', caller: key() }), encodeRelayMessage({ kind: 'connected', peer: key(), windowBytes: 1 << 22 }),
    encodeRelayMessage({ kind: 'failed', reason: Reason.Timeout }), encodeRelayMessage({ kind: 'draining', graceMs: 5000 }),
    encodeRelayMessage({ kind: 'keepalive' }),
  ],
});

function encodeTunnel(msg: TunnelMsg): Uint8Array {
  if (msg.kind === 'data') return encodeTunnelData(msg.payload);
  if (msg.kind === 'credit') return encodeTunnelCredit(msg.bytes);
  return encodeTunnelClose(msg.reason);
}

fuzzDecoder(t, {
  name: 'relay tunnel frame',
  decode: decodeTunnelFrame,
  encode: encodeTunnel,
  samples: [
    encodeTunnelData(new Uint8Array(0)), encodeTunnelData(new Uint8Array(100).fill(7)), encodeTunnelCredit(65536),
    encodeTunnelClose(Reason.PeerClosed),
  ],
});

fuzzDecoder(t, {
  name: 'relay worker message',
  decode: decodeWorkerMessage,
  encode: encodeWorkerMessage,
  samples: [
    encodeWorkerMessage({ kind: 'conn-init', conn: { worker: 1, id: 7 }, key: key(), init: { kind: 'accept', caller: key() } }),
    encodeWorkerMessage({ kind: 'splice', conn: { worker: 0, id: 1 }, peer: { worker: 1, id: 2 }, peerKey: key() }),
    encodeWorkerMessage({ kind: 'stats', worker: 1, json: '{"framesForwarded":3}' }),
    encodeWorkerMessage({ kind: 'end-conn', conn: { worker: 0, id: 9 }, reason: Reason.Replaced }),
    encodeWorkerMessage({ kind: 'drain', graceMs: 100 }),
  ],
});

function encodeBatch(items: CrossItem[]): Uint8Array {
  const writer = new CrossBatchWriter(64);
  for (const item of items) writer.add(item);
  return new Uint8Array(writer.take());
}

fuzzDecoder(t, {
  name: 'relay cross-worker batch',
  decode: decodeCrossBatch,
  encode: encodeBatch,
  samples: [
    encodeBatch([{ dst: 3, kind: CrossKind.Data, frame: encodeTunnelData(new Uint8Array(40)), credit: 0, reason: Reason.None }]),
    encodeBatch([
      { dst: 1, kind: CrossKind.Credit, frame: null, credit: 4096, reason: Reason.None },
      { dst: 2, kind: CrossKind.Close, frame: null, credit: 0, reason: Reason.PeerClosed },
    ]),
  ],
});
