import t from 'tap';
import { silentLogger } from '../../src/common/log.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { closed, collect, memoryPair, until } from './support.js';

const logger = silentLogger;

t.test('send() reports back-pressure above the high-water mark and onDrain fires once it clears', async (t) => {
  const { initiator: a, responder: b } = await memoryPair({ initiator: { logger, highWaterBytes: 4096 }, responder: { logger } });
  const atB = collect(b);
  let drains = 0;
  a.onDrain(() => drains++);
  const frame = new Uint8Array(1024);
  const results: boolean[] = [];
  for (let i = 0; i < 6; i++) results.push(a.send(frame));
  t.same(results, [true, true, true, false, false, false], 'false once 4 KiB are queued');
  t.ok(a.bufferedBytes() >= 4096);
  await until(() => drains === 1);
  t.equal(a.bufferedBytes(), 0);
  await until(() => atB.length === 6);
  a.close();
});

t.test('close() sends every queued frame before the goodbye', async (t) => {
  const { initiator: a, responder: b } = await memoryPair({ initiator: { logger }, responder: { logger } });
  const atB = collect(b);
  a.send(Buffer.from('one'));
  a.send(Buffer.from('two'));
  a.close('finished');
  t.notOk(a.send(Buffer.from('late')), 'a closed channel refuses frames');
  const reason = await closed(b);
  t.equal(reason.code, TransportErrorCode.PeerClosed);
  t.same(atB, ['one', 'two']);
  t.equal(b.counters.framesReceived, 2);
});

t.test('detach() hands back the pipe at a frame boundary without closing it', async (t) => {
  const { initiator: a, responder: b } = await memoryPair({ initiator: { logger }, responder: { logger } });
  let aClosed = false;
  let bClosed = false;
  a.onClose(() => (aClosed = true));
  b.onClose(() => (bClosed = true));
  const raw: string[] = [];
  b.onFrame((frame) => {
    t.equal(Buffer.from(frame).toString(), 'switch');
    const pipe = b.detach();
    pipe.onMessage((message) => raw.push(Buffer.from(message).toString()));
  });
  a.send(Buffer.from('switch'));
  const pipe = a.detach(); // flushes 'switch' first
  pipe.send(Buffer.from('plain 1'));
  pipe.send(Buffer.from('plain 2'));
  await until(() => raw.length === 2);
  t.same(raw, ['plain 1', 'plain 2'], 'later messages pass through untouched');
  t.notOk(aClosed || bClosed, 'neither channel reported a close');
  t.notOk(a.isOpen || b.isOpen);
  pipe.close('done');
});
