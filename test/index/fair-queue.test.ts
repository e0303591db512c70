import t from 'tap';
import { FairQueue } from '../../src/index/fair-queue.js';

/** Where an honest item arriving behind a flood is served: FIFO (the old shard queue) against round robin. */
t.test('an honest request queued behind a flooder of 32 is served second, not 33rd', async (t) => {
  const flooder = { name: 'flooder' };
  const honest = { name: 'honest' };
  const fifo: string[] = [];
  const queue = new FairQueue<object, string>();
  for (let i = 0; i < 32; i++) {
    fifo.push(`flood${i}`);
    queue.push(flooder, `flood${i}`);
  }
  fifo.push('honest');
  queue.push(honest, 'honest');
  const served: string[] = [];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) served.push(next.item);
  t.comment(`the honest request is served at position ${fifo.indexOf('honest') + 1} of 33 first-in-first-out, at position ${served.indexOf('honest') + 1} round robin`);
  t.equal(served.indexOf('honest'), 1);
  t.same(served.filter((s) => s !== 'honest'), fifo.filter((s) => s !== 'honest'), "the flooder's own requests keep their order");
  t.equal(queue.size, 0);
});

t.test('round robin: each owner in turn, one item each, owners with more go to the back', async (t) => {
  const a = {};
  const b = {};
  const c = {};
  const queue = new FairQueue<object, string>();
  for (const item of ['a1', 'a2', 'a3']) queue.push(a, item);
  queue.push(b, 'b1');
  for (const item of ['c1', 'c2']) queue.push(c, item);
  const order: string[] = [];
  order.push(queue.shift()!.item);
  queue.push(b, 'b2'); // b empties and comes back after the others
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) order.push(next.item);
  t.same(order, ['a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3']);
});

t.test("a dropped owner's items are returned and never served; the sizes follow", async (t) => {
  const a = {};
  const b = {};
  const queue = new FairQueue<object, number>();
  for (let i = 0; i < 5; i++) queue.push(a, i);
  queue.push(b, 100);
  t.equal(queue.sizeOf(a), 5);
  t.equal(queue.size, 6);
  t.same(queue.drop(a), [0, 1, 2, 3, 4]);
  t.equal(queue.size, 1);
  t.same(queue.shift(), { owner: b, item: 100 });
  t.equal(queue.shift(), undefined);
  queue.push(a, 7);
  t.same(queue.shift(), { owner: a, item: 7 }, 'a dropped owner queues again');
});
