import t from 'tap';
import { decodeEnvelope } from '../../src/transport/codec.js';
import type { FramePipe } from '../../src/transport/pipe.js';
import { collect, gate, interpose, memoryPair, until } from './support.js';
import { silentLogger } from '../../src/common/log.js';

const logger = silentLogger;

function phaseOf(message: Uint8Array): number {
  const decoded = decodeEnvelope(message, 1 << 24);
  return decoded.ok && decoded.value.kind === 'sealed' ? decoded.value.phase : -1;
}

t.test('after a rekey both directions use new keys and frames sealed under the old key still open', async (t) => {
  const phasesAtoB: number[] = [];
  let bGate: ReturnType<typeof gate> | null = null;
  const { initiator: a, responder: b } = await memoryPair({
    wrapResponder: (pipe: FramePipe) => {
      bGate = gate(pipe);
      return bGate.pipe;
    },
    initiator: { logger },
    responder: { logger },
    wrap: (pipe: FramePipe) =>
      interpose(pipe, (message) => {
        phasesAtoB.push(phaseOf(message));
        return message;
      }),
  });
  const atB = collect(b);
  const atA = collect(a);

  // A asks for a rekey, and keeps sending under the old key until B's reply reaches it; B's
  // messages are held so the reply stays in flight.
  const bOut = bGate as unknown as ReturnType<typeof gate>;
  bOut.hold();
  a.rekey();
  a.send(Buffer.from('a1'));
  await until(() => b.sessionStats().sendPhase === 1); // B answered and switched its sending key
  t.equal(a.sessionStats().sendPhase, 0, 'A has not seen the reply yet');
  a.send(Buffer.from('a2')); // sealed under phase 0 while B already sends under phase 1
  b.send(Buffer.from('b1'));
  await until(() => atB.length === 2);
  t.equal(a.sessionStats().sendPhase, 0, 'a2 went out under the old key');
  bOut.release();
  await until(() => atA.length === 1);
  t.same(atB, ['a1', 'a2'], 'frames sealed under the old key opened after B switched');
  t.equal(a.sessionStats().sendPhase, 1, 'A switched on the reply');
  a.send(Buffer.from('a3'));
  await until(() => atB.length === 3);
  t.same(atB, ['a1', 'a2', 'a3']);
  t.same(atA, ['b1']);
  const statsA = a.sessionStats();
  const statsB = b.sessionStats();
  t.same([statsA.sendPhase, statsA.receivePhase, statsA.rekeys], [1, 1, 1], 'A sends and receives under the new keys');
  t.same([statsB.sendPhase, statsB.receivePhase, statsB.rekeys], [1, 1, 1], 'B sends and receives under the new keys');
  t.ok(phasesAtoB.includes(0) && phasesAtoB[phasesAtoB.length - 1] === 1, 'A moved from phase 0 to phase 1 on the wire');
  a.close();
});

t.test('when both sides start a rekey at once they settle on one new key pair', async (t) => {
  const { initiator: a, responder: b } = await memoryPair({ initiator: { logger }, responder: { logger } });
  const atA = collect(a);
  const atB = collect(b);
  a.rekey();
  b.rekey();
  a.send(Buffer.from('x'));
  b.send(Buffer.from('y'));
  await until(() => a.sessionStats().rekeys === 1 && b.sessionStats().rekeys === 1);
  a.send(Buffer.from('x2'));
  b.send(Buffer.from('y2'));
  await until(() => atA.length === 2 && atB.length === 2);
  t.same(atB, ['x', 'x2']);
  t.same(atA, ['y', 'y2']);
  t.same([a.sessionStats().sendPhase, b.sessionStats().sendPhase], [1, 1]);
  t.same([a.sessionStats().receivePhase, b.sessionStats().receivePhase], [1, 1]);
  a.close();
});

t.test('the rekey timer rekeys repeatedly while frames keep flowing, without losing any', async (t) => {
  const options = { logger, rekeyIntervalMs: 20 };
  const { initiator: a, responder: b } = await memoryPair({ initiator: options, responder: options });
  const atB = collect(b);
  let sent = 0;
  while (a.sessionStats().rekeys < 3 || b.sessionStats().rekeys < 3) {
    a.send(Buffer.from(`f${sent++}`));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await until(() => atB.length === sent);
  t.same(atB, Array.from({ length: sent }, (_, i) => `f${i}`));
  t.ok(a.isOpen && b.isOpen);
  a.close();
});
