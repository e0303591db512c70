import t from 'tap';
import fc from 'fast-check';
import { ClientWindow, CreditLedger, SendWindow } from '../../src/relay/flow.js';

t.test('a sender that stays within its window is never cut off, and one byte more is', async (t) => {
  const w = new SendWindow(1000);
  t.ok(w.consume(600));
  t.ok(w.consume(400));
  t.notOk(w.consume(1));
});

t.test('credit is returned only for bytes that left the relay, batched', async (t) => {
  const ledger = new CreditLedger(100);
  ledger.forwarded(80);
  t.equal(ledger.take(0, false), 0, 'below the batch size');
  ledger.forwarded(80);
  t.equal(ledger.take(100, false), 0, 'most bytes still buffered');
  t.equal(ledger.take(0, false), 160);
  ledger.forwarded(30);
  t.equal(ledger.take(10, true), 20, 'a flush returns whatever has drained');
  t.equal(ledger.owed, 10);
});

t.test('an honest client and the relay agree: the relay never holds more than one window', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.record({ size: fc.integer({ min: 1, max: 300 }), drain: fc.integer({ min: 0, max: 2000 }) }), { maxLength: 300 }),
    (steps) => {
      const windowBytes = 1000;
      const client = new ClientWindow(windowBytes);
      const relay = new SendWindow(windowBytes);
      const ledger = new CreditLedger(250);
      let buffered = 0;
      for (const s of steps) {
        if (client.canSend(s.size)) {
          client.spend(s.size);
          if (!relay.consume(s.size)) return false;
          ledger.forwarded(s.size);
          buffered += s.size;
        }
        buffered = Math.max(0, buffered - s.drain);
        const credit = ledger.take(buffered, s.drain > 1000);
        relay.grant(credit);
        client.credit(credit);
        if (buffered > windowBytes || client.available !== relay.remaining) return false;
      }
      // Once everything drained, a flush restores the full window.
      const credit = ledger.take(0, true);
      relay.grant(credit);
      client.credit(credit);
      return client.available === windowBytes;
    },
  ), { numRuns: 300 });
  t.pass();
});
