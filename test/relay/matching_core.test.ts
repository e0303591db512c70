import t from 'tap';
import { MatchingCore, type CoreEffect } from '../../src/relay/matching_core.js';
import { Reason, type ConnAddr } from '../../src/relay/codec.js';
import { randomBytes } from '../../src/crypto/primitives.js';

const limits = { connectTimeoutMs: 5000, pendingPerListenerMax: 4, pendingTotalMax: 8 };
const conn = (id: number, worker = 0): ConnAddr => ({ worker, id });
const key = (): Uint8Array => randomBytes(32);

t.test('a connect to a listening key notifies the listener, and accept splices the two', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  t.same(core.step({ type: 'listen', conn: conn(1), key: b }, 0), []);
  t.same(core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0), [{ type: 'notify', conn: conn(1), caller: a }]);
  const effects = core.step({ type: 'accept', conn: conn(3, 1), key: b, caller: a }, 10);
  t.same(effects, [{ type: 'splice', caller: conn(2), callerKey: a, callee: conn(3, 1), calleeKey: b }]);
  t.equal(core.stats().pendingConnects, 0);
  t.equal(core.stats().splices, 1);
});

t.test('a new listen from the same key replaces the old listener and hears waiting callers', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  core.step({ type: 'listen', conn: conn(1), key: b }, 0);
  core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0);
  const effects = core.step({ type: 'listen', conn: conn(5, 1), key: b }, 1);
  t.same(effects, [
    { type: 'end', conn: conn(1), reason: Reason.Replaced },
    { type: 'notify', conn: conn(5, 1), caller: a },
  ]);
  t.same(core.listenerOf(b), conn(5, 1));
  // The replaced connection going away later must not remove the new listener.
  core.step({ type: 'gone', conn: conn(1) }, 2);
  t.same(core.listenerOf(b), conn(5, 1));
});

t.test('a connect to an absent key fails with NoListener at its deadline, one that was heard with Timeout', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b, c] = [key(), key(), key()];
  core.step({ type: 'connect', conn: conn(1), key: a, target: b }, 0);
  core.step({ type: 'listen', conn: conn(2), key: c }, 0);
  core.step({ type: 'connect', conn: conn(3), key: a, target: c }, 0);
  t.same(core.step({ type: 'tick' }, 4999), []);
  const effects = core.step({ type: 'tick' }, 5000);
  t.same(effects, [
    { type: 'end', conn: conn(1), reason: Reason.NoListener },
    { type: 'end', conn: conn(3), reason: Reason.Timeout },
  ]);
  t.equal(core.stats().timedOut, 2);
});

t.test('a listener that appears before the deadline is told about a waiting connect', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  core.step({ type: 'connect', conn: conn(1), key: a, target: b }, 0);
  t.same(core.step({ type: 'listen', conn: conn(2), key: b }, 100), [{ type: 'notify', conn: conn(2), caller: a }]);
});

t.test('reject from the listener fails the caller; reject from anyone else changes nothing', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  core.step({ type: 'listen', conn: conn(1), key: b }, 0);
  core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0);
  t.same(core.step({ type: 'reject', conn: conn(9), caller: a }, 1), []);
  t.equal(core.stats().ignoredRejects, 1);
  t.same(core.step({ type: 'reject', conn: conn(1), caller: a }, 1), [{ type: 'end', conn: conn(2), reason: Reason.Rejected }]);
  t.same(core.step({ type: 'accept', conn: conn(3), key: b, caller: a }, 2), [{ type: 'end', conn: conn(3), reason: Reason.NoPending }]);
});

t.test('accept from a key other than the callee does not splice', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b, mallory] = [key(), key(), key()];
  core.step({ type: 'listen', conn: conn(1), key: b }, 0);
  core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0);
  t.same(core.step({ type: 'accept', conn: conn(3), key: mallory, caller: a }, 1), [{ type: 'end', conn: conn(3), reason: Reason.NoPending }]);
  t.equal(core.stats().pendingConnects, 1);
});

t.test('pending connects are capped per listener and in total', async (t) => {
  const core = new MatchingCore(limits);
  const b = key();
  core.step({ type: 'listen', conn: conn(1), key: b }, 0);
  for (let i = 0; i < 4; i++) core.step({ type: 'connect', conn: conn(10 + i), key: key(), target: b }, 0);
  t.same(core.step({ type: 'connect', conn: conn(20), key: key(), target: b }, 0), [{ type: 'end', conn: conn(20), reason: Reason.PendingLimit }]);
  const c = key();
  for (let i = 0; i < 4; i++) core.step({ type: 'connect', conn: conn(30 + i), key: key(), target: c }, 0);
  t.same(core.step({ type: 'connect', conn: conn(40), key: key(), target: key() }, 0), [{ type: 'end', conn: conn(40), reason: Reason.PendingLimit }]);
  t.equal(core.stats().pendingConnects, 8);
});

t.test('a repeated connect from the same caller replaces the older one', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  core.step({ type: 'connect', conn: conn(1), key: a, target: b }, 0);
  t.same(core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0), [{ type: 'end', conn: conn(1), reason: Reason.Replaced }]);
  core.step({ type: 'gone', conn: conn(1) }, 1);
  t.equal(core.stats().pendingConnects, 1);
});

t.test('a caller that goes away leaves no pending connect behind', async (t) => {
  const core = new MatchingCore(limits);
  const [a, b] = [key(), key()];
  core.step({ type: 'listen', conn: conn(1), key: b }, 0);
  core.step({ type: 'connect', conn: conn(2), key: a, target: b }, 0);
  core.step({ type: 'gone', conn: conn(2) }, 1);
  t.equal(core.stats().pendingConnects, 0);
  t.same(core.step({ type: 'accept', conn: conn(3), key: b, caller: a }, 2), [{ type: 'end', conn: conn(3), reason: Reason.NoPending }]);
});

t.test('random operation sequences keep the indexes consistent and bounded', async (t) => {
  const fc = await import('fast-check');
  const keys = Array.from({ length: 4 }, key);
  const op = fc.record({
    type: fc.constantFrom('listen', 'connect', 'accept', 'reject', 'gone', 'tick'),
    conn: fc.integer({ min: 0, max: 12 }),
    key: fc.integer({ min: 0, max: 3 }),
    other: fc.integer({ min: 0, max: 3 }),
    dt: fc.integer({ min: 0, max: 3000 }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const core = new MatchingCore(limits);
      let now = 0;
      const effects: CoreEffect[] = [];
      for (const o of ops) {
        now += o.dt;
        const c = conn(o.conn);
        const k = keys[o.key];
        const other = keys[o.other];
        switch (o.type) {
          case 'listen': effects.push(...core.step({ type: 'listen', conn: c, key: k }, now)); break;
          case 'connect': effects.push(...core.step({ type: 'connect', conn: c, key: k, target: other }, now)); break;
          case 'accept': effects.push(...core.step({ type: 'accept', conn: c, key: k, caller: other }, now)); break;
          case 'reject': effects.push(...core.step({ type: 'reject', conn: c, caller: other }, now)); break;
          case 'gone': effects.push(...core.step({ type: 'gone', conn: c }, now)); break;
          default: effects.push(...core.step({ type: 'tick' }, now));
        }
        const s = core.stats();
        if (s.pendingConnects > limits.pendingTotalMax || s.listeners > keys.length) return false;
      }
      core.step({ type: 'tick' }, now + limits.connectTimeoutMs);
      return core.stats().pendingConnects === 0;
    }),
    { numRuns: 300 },
  );
  t.pass('indexes stayed consistent');
});
