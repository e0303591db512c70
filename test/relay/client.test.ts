import t from 'tap';
import { backoffDelayMs } from '../../src/relay/client.js';

t.test('reconnect delays grow exponentially, are capped, and are jittered into the upper half', async (t) => {
  const o = { baseMs: 100, maxMs: 5000, stableMs: 1000 };
  t.equal(backoffDelayMs(0, o, () => 1), 100);
  t.equal(backoffDelayMs(0, o, () => 0), 50);
  t.equal(backoffDelayMs(3, o, () => 1), 800);
  t.equal(backoffDelayMs(20, o, () => 1), 5000, 'capped');
  t.equal(backoffDelayMs(1000, o, () => 0), 2500, 'huge attempt counts do not overflow');
});
