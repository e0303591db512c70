import t from 'tap';
import { calcFee, maxPayable, routeFee } from '../../src/common/rate.js';

t.test('fee is amount times mul over 2^32 plus add, floored', async (t) => {
  t.equal(calcFee({ mul: 0, add: 1 }, 10n), 1n);
  t.equal(calcFee({ mul: 2 ** 31, add: 0 }, 10n), 5n);
  t.equal(calcFee({ mul: 2 ** 31, add: 0 }, 11n), 5n);
});

t.test('route fee sums each forwarder on the destination amount', async (t) => {
  t.equal(routeFee([{ mul: 2 ** 31, add: 0 }, { mul: 0, add: 2 }], 10n), 7n);
});

t.test('max payable is the largest amount whose fees still fit the capacity', async (t) => {
  const rates = [{ mul: 2 ** 31, add: 1 }];
  const x = maxPayable(rates, 100n);
  t.ok(x + (routeFee(rates, x) ?? 0n) <= 100n);
  t.ok(x + 1n + (routeFee(rates, x + 1n) ?? 0n) > 100n);
  t.equal(maxPayable([{ mul: 0, add: 5 }], 3n), 0n);
});
