import t from 'tap';
import { bytesEqual } from '../../src/common/bytes.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { closed, collect, memoryPair, until } from './support.js';

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
