import t from 'tap';
import { pino } from 'pino';
import type { Logger } from '../../src/common/log.js';
import { bytesEqual } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { SecureChannel } from '../../src/transport/channel.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { memoryPipePair } from '../../src/transport/pipe.js';
import { closed, collect, interpose, memoryPair, until } from './support.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

t.test('a channel over an in-memory pipe authenticates both keys and carries frames both ways in order', async (t) => {
  const { initiator, responder, initiatorIdentity, responderIdentity } = await memoryPair();
  t.ok(bytesEqual(responder.remoteKey, initiatorIdentity.publicKey), 'responder learns the initiator key');
  t.ok(bytesEqual(initiator.remoteKey, responderIdentity.publicKey), 'initiator sees the pinned key');
  const atResponder = collect(responder);
  const atInitiator = collect(initiator);
  for (let i = 0; i < 100; i++) initiator.send(Buffer.from(`i${i}`));
  responder.send(Buffer.from('r0'));
  await until(() => atResponder.length === 100 && atInitiator.length === 1);
  t.same(atResponder, Array.from({ length: 100 }, (_, i) => `i${i}`));
  t.same(atInitiator, ['r0']);
  t.ok(initiator.counters.messagesSent < 100, 'frames of one turn share sealed messages');
  initiator.close('done');
  const reason = await closed(responder);
  t.equal(reason.code, TransportErrorCode.PeerClosed);
  t.match(reason.message, /done/);
});

/** Starts both sides over in-memory pipes, counting the messages the initiator puts on its pipe. */
function countedPair(): { initiate: Promise<SecureChannel>; respond: Promise<SecureChannel>; sent: () => number } {
  const initiatorIdentity = Identity.generate();
  const responderIdentity = Identity.generate();
  const [a, b] = memoryPipePair();
  let sent = 0;
  const counted = interpose(a, (message) => {
    sent += 1;
    return message;
  });
  return {
    initiate: SecureChannel.initiate(counted, { identity: initiatorIdentity, expectedRemoteKey: responderIdentity.publicKey, purpose: 'relay' }),
    respond: SecureChannel.respond(b, { identity: responderIdentity, purpose: 'relay' }),
    sent: () => sent,
  };
}

t.test("an initiator's first frames carry its key confirmation: one sealed message, and the responder opens the channel on it", async (t) => {
  const pair = countedPair();
  const initiator = await pair.initiate;
  initiator.send(Buffer.from('hello'));
  initiator.send(Buffer.from('world'));
  const responder = await pair.respond;
  const received = collect(responder);
  await until(() => received.length === 2);
  t.same(received, ['hello', 'world']);
  t.equal(initiator.counters.messagesSent, 1, 'confirmation and frames share one sealed message');
  t.equal(pair.sent(), 2, 'the handshake message, then that sealed message');
  initiator.close();
});

t.test('an initiator that sends nothing still confirms its key, with an empty sealed message', async (t) => {
  const pair = countedPair();
  const initiator = await pair.initiate;
  const responder = await pair.respond;
  t.ok(responder.isOpen);
  t.equal(initiator.counters.messagesSent, 1);
  t.equal(pair.sent(), 2);
  initiator.close();
});

t.test('an initiator that closes at once confirms its key and says goodbye in one message', async (t) => {
  const pair = countedPair();
  const initiator = await pair.initiate;
  initiator.close('done already');
  const responder = await pair.respond;
  const reason = await closed(responder);
  t.equal(reason.code, TransportErrorCode.PeerClosed);
  t.match(reason.message, /done already/);
  t.equal(initiator.counters.messagesSent, 1);
  t.equal(pair.sent(), 2);
});

t.test('frames that arrive with the goodbye before a frame handler is set are delivered when it is set', async (t) => {
  const pair = countedPair();
  const initiator = await pair.initiate;
  initiator.send(Buffer.from('a'));
  initiator.send(Buffer.from('b'));
  initiator.close('that was all');
  const responder = await pair.respond;
  await closed(responder); // the goodbye has been read: the channel is closed already
  t.notOk(responder.isOpen);
  t.same(collect(responder), ['a', 'b'], 'delivered at once, in order');
  t.equal(responder.counters.framesReceived, 2);
});

t.test('frames held for a missing frame handler are dropped when the channel fails', async (t) => {
  const { initiator, responder } = await memoryPair();
  initiator.send(Buffer.from('held'));
  await until(() => responder.counters.framesReceived === 1);
  responder.pipe.close('cut'); // ends without a goodbye
  const reason = await closed(responder);
  t.equal(reason.code, TransportErrorCode.ConnectionLost);
  t.same(collect(responder), [], 'nothing is delivered after a failure');
  initiator.close();
});

/** A pino logger at `level` whose lines land in `lines`, parsed. */
function capturingLogger(level: string): { logger: Logger; lines: { level: number; msg: string; code?: string }[] } {
  const lines: { level: number; msg: string; code?: string }[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

t.test('an ordinary goodbye is logged at debug, not at info; a failure is logged at warn', async (t) => {
  const info = capturingLogger('info');
  const pair = await memoryPair({ responder: { logger: info.logger } });
  pair.initiator.close('bye');
  await closed(pair.responder);
  t.same(info.lines, [], 'nothing at info for a normal close');

  const debug = capturingLogger('debug');
  const second = await memoryPair({ responder: { logger: debug.logger } });
  second.initiator.close('bye');
  await closed(second.responder);
  t.equal(debug.lines.length, 1);
  t.equal(debug.lines[0].code, TransportErrorCode.PeerClosed);
  t.match(debug.lines[0].msg, /peer closed: bye/);

  const warn = capturingLogger('info');
  const third = await memoryPair({ responder: { logger: warn.logger }, wrap: (pipe) => interpose(pipe, (message, index) => {
    if (index < 2) return message; // the handshake and the key confirmation pass
    const copy = new Uint8Array(message);
    copy[copy.length - 3] ^= 1;
    return copy;
  }) });
  third.initiator.send(Buffer.from('x'));
  const reason = await closed(third.responder);
  t.equal(reason.code, TransportErrorCode.DecryptFailed);
  t.equal(warn.lines.length, 1);
  t.equal(warn.lines[0].code, TransportErrorCode.DecryptFailed);
  t.equal(warn.lines[0].level, 40, 'at warn');
});
