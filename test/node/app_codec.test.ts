import t from 'tap';
import * as flatbuffers from 'flatbuffers';
import {
  decodeAppRequest, decodeNodeToApp, encodeAppRequest, encodeNodeToApp, requiredPermission, AppErrorCode, type AppRequestKind,
} from '../../src/node/app_codec.js';
import { nodeMessages, requestBodies, requests, key } from './app_samples.js';
import * as A from '../../src/wire/generated/offset/app.js';
import { writePublicKey, writeUid, writeU128 } from '../../src/wire/decode.js';

t.test('every app request kind round-trips', async (t) => {
  const kinds = new Set<AppRequestKind>();
  for (const request of requests) {
    const decoded = decodeAppRequest(encodeAppRequest(request));
    t.same(decoded, { ok: true, value: request }, request.body.kind);
    kinds.add(request.body.kind);
  }
  t.equal(kinds.size, 26, 'all 26 request kinds covered');
});

t.test('every node-to-app message kind round-trips', async (t) => {
  for (const message of nodeMessages) {
    t.same(decodeNodeToApp(encodeNodeToApp(message)), { ok: true, value: message }, message.kind);
  }
});

t.test('requests map to the permission they need', async (t) => {
  const byKind = Object.fromEntries(requestBodies.map((b) => [b.kind, requiredPermission(b.kind)]));
  t.equal(byKind.requestRoutes, 'routes');
  t.equal(byKind.addInvoice, 'seller');
  t.equal(byKind.commitInvoice, 'seller');
  t.equal(byKind.createTransaction, 'buyer');
  t.equal(byKind.paymentStatus, 'buyer');
  t.equal(byKind.addFriend, 'config');
  t.equal(byKind.resetFriendChannel, 'config');
  t.equal(byKind.friendLastToken, 'config', 'a friend\'s signed token is shown only to apps that may configure the node');
});

/** Builds an AppRequest around a body built by `body` (for values our encoder refuses to write). */
function rawRequest(type: A.AppRequestBody, body: (b: flatbuffers.Builder) => flatbuffers.Offset): Uint8Array {
  const b = new flatbuffers.Builder(64);
  const offset = body(b);
  A.AppRequest.startAppRequest(b);
  A.AppRequest.addAppRequestId(b, writeUid(b, new Uint8Array(16)));
  A.AppRequest.addBodyType(b, type);
  A.AppRequest.addBody(b, offset);
  b.finish(A.AppRequest.endAppRequest(b));
  return b.asUint8Array().slice();
}

function currencyRequest(raw: string | Uint8Array): Uint8Array {
  return rawRequest(A.AppRequestBody.OpenFriendCurrency, (b) => {
    const c = b.createString(raw);
    A.OpenFriendCurrency.startOpenFriendCurrency(b);
    A.OpenFriendCurrency.addPublicKey(b, writePublicKey(b, key(1)));
    A.OpenFriendCurrency.addCurrency(b, c);
    return A.OpenFriendCurrency.endOpenFriendCurrency(b);
  });
}

t.test('semantic checks reject with the offending field named', async (t) => {
  const body = 'offset.app.AppRequest.body';
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['empty currency', currencyRequest(''), `${body}.currency`, /fewer than 1/],
    ['long currency', currencyRequest('x'.repeat(17)), `${body}.currency`, /more than 16/],
    ['invalid UTF-8', currencyRequest(Uint8Array.of(0xff)), `${body}.currency`, /not valid UTF-8/],
    ['control character', currencyRequest('a\u0000'), `${body}.currency`, /control character/],
    ['one-key route', rawRequest(A.AppRequestBody.CreateTransaction, (b) => {
      b.startVector(32, 1, 1);
      writePublicKey(b, key(1));
      const route = b.endVector();
      A.CreateTransaction.startCreateTransaction(b);
      A.CreateTransaction.addPaymentId(b, writeUid(b, new Uint8Array(16)));
      A.CreateTransaction.addRequestId(b, writeUid(b, new Uint8Array(16)));
      A.CreateTransaction.addRoute(b, route);
      A.CreateTransaction.addDestPayment(b, writeU128(b, 1n));
      A.CreateTransaction.addFees(b, writeU128(b, 1n));
      return A.CreateTransaction.endCreateTransaction(b);
    }), `${body}.route`, /1 keys, fewer than 2/],
    ['fees overflowing u128', rawRequest(A.AppRequestBody.CreateTransaction, (b) => {
      b.startVector(32, 2, 1);
      writePublicKey(b, key(1));
      writePublicKey(b, key(2));
      const route = b.endVector();
      A.CreateTransaction.startCreateTransaction(b);
      A.CreateTransaction.addPaymentId(b, writeUid(b, new Uint8Array(16)));
      A.CreateTransaction.addRequestId(b, writeUid(b, new Uint8Array(16)));
      A.CreateTransaction.addRoute(b, route);
      A.CreateTransaction.addDestPayment(b, writeU128(b, (1n << 128n) - 1n));
      A.CreateTransaction.addFees(b, writeU128(b, 1n));
      return A.CreateTransaction.endCreateTransaction(b);
    }), `${body}.fees`, /overflows u128/],
    ['17 relays', rawRequest(A.AppRequestBody.SetFriendRelays, (b) => {
      const relays: flatbuffers.Offset[] = [];
      for (let i = 0; i < 17; i++) {
        const address = b.createString('a:1');
        A.RelayAddress.startRelayAddress(b);
        A.RelayAddress.addPublicKey(b, writePublicKey(b, key(i)));
        A.RelayAddress.addAddress(b, address);
        relays.push(A.RelayAddress.endRelayAddress(b));
      }
      const vector = A.SetFriendRelays.createRelaysVector(b, relays);
      A.SetFriendRelays.startSetFriendRelays(b);
      A.SetFriendRelays.addPublicKey(b, writePublicKey(b, key(1)));
      A.SetFriendRelays.addRelays(b, vector);
      return A.SetFriendRelays.endSetFriendRelays(b);
    }), `${body}.relays`, /17 entries, more than 16/],
  ];
  for (const [name, bytes, path, problem] of cases) {
    const r = decodeAppRequest(bytes);
    t.equal(r.ok, false, name);
    if (!r.ok) {
      t.equal(r.error.code, 'ERR_WIRE_MALFORMED', name);
      t.equal(r.error.path, path, name);
      t.match(r.error.problem, problem, name);
    }
  }
});

t.test('unknown enum values from the wire are rejected, not passed on', async (t) => {
  const bytes = encodeNodeToApp({ kind: 'result', appRequestId: new Uint8Array(16), error: { code: AppErrorCode.BadAck, message: 'm' } });
  const bb = new flatbuffers.ByteBuffer(bytes);
  const root = A.NodeToApp.getRootAsNodeToApp(bb);
  const result = root.body(new A.RequestResult()) as A.RequestResult;
  const error = result.error() as A.AppError;
  const codePos = error.bb_pos + bb.__offset(error.bb_pos, 4);
  bytes[codePos] = 99;
  bytes[codePos + 1] = 0;
  t.match(decodeNodeToApp(bytes), { ok: false, error: { path: 'offset.app.NodeToApp.body.error.code', problem: 'unknown error code 99' } });
});

t.test('malformed buffers fail verification with a WireError', async (t) => {
  const bytes = encodeAppRequest(requests[4]);
  t.match(decodeAppRequest(bytes.subarray(0, bytes.length - 9)), { ok: false, error: { code: 'ERR_WIRE_MALFORMED' } });
  t.match(decodeAppRequest(new Uint8Array(4)), { ok: false, error: { code: 'ERR_WIRE_MALFORMED' } });
  t.match(decodeNodeToApp(bytes), { ok: false }, 'a request is not a node message');
});
