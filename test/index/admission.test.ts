import t from 'tap';
import { Admission, addressGroup } from '../../src/index/admission.js';
import { DEFAULT_INDEX_LIMITS, resolveIndexLimits } from '../../src/index/limits.js';
import { RestartBudget } from '../../src/index/restart-budget.js';
import { TokenBucket } from '../../src/index/token-bucket.js';

t.test('addresses are grouped: IPv4 by address, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', async (t) => {
  t.equal(addressGroup('127.0.0.2'), '127.0.0.2');
  t.equal(addressGroup('::ffff:127.0.0.2'), '127.0.0.2');
  t.equal(addressGroup('0000:0000:0000:0000:0000:ffff:7f00:0002'), '127.0.0.2', 'the full hex form uWS prints');
  t.equal(addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), addressGroup('2001:0db8:0001:0002::1'), 'one /64 is one group');
  t.not(addressGroup('2001:db8:1:2::1'), addressGroup('2001:db8:1:3::1'), 'the next /64 is another');
});

function admission(over: Parameters<typeof resolveIndexLimits>[0] = {}, shards = 2) {
  const limits = resolveIndexLimits(over);
  const buffers = Admission.create(shards);
  return { limits, rows: Array.from({ length: shards }, (_, row) => new Admission(buffers, row, limits)), main: new Admission(buffers, -1, limits) };
}

t.test('one address is refused at its connection and handshake shares, before any global budget, and another address still gets in', async (t) => {
  const { rows, main } = admission();
  const [a, b] = rows;
  const attacker = a.bucketOf('127.0.0.2');
  const honest = a.bucketOf('127.0.0.1');
  let admitted = 0;
  const refused = new Map<string, number>();
  // The attacker opens slow handshakes as fast as it can, over both shards.
  for (let i = 0; i < 10_000; i++) {
    const shard = i % 2 === 0 ? a : b;
    const refusal = shard.admit(attacker, 0, i);
    if (refusal === null) admitted++;
    else refused.set(refusal, (refused.get(refusal) ?? 0) + 1);
  }
  t.comment(`attacker: ${admitted} handshakes in progress (of ${DEFAULT_INDEX_LIMITS.handshakesMax} global), refused ${JSON.stringify([...refused])}`);
  t.equal(admitted, DEFAULT_INDEX_LIMITS.handshakesPerAddressMax, 'it holds its handshake share and no more');
  t.equal(main.handshakes, admitted);
  t.equal(refused.get('address-handshakes'), 10_000 - admitted, 'every other attempt refused on its own share');
  t.equal(a.admit(honest, 0, 10_000), null, 'an honest address is let in');

  // Handshakes done, the attacker can open connections up to its connection share.
  for (let i = 0; i < admitted; i++) a.handshakeEnded(attacker);
  let open = admitted;
  for (let i = 0; i < 100_000 && open < DEFAULT_INDEX_LIMITS.connectionsPerAddressMax + 10; i++) {
    const refusal = a.admit(attacker, 0, 20_000 + i * 10);
    if (refusal === null) {
      open++;
      a.handshakeEnded(attacker);
    } else if (refusal === 'address-connections') break;
  }
  t.equal(main.connectionsOf(attacker), DEFAULT_INDEX_LIMITS.connectionsPerAddressMax, 'connections stop at the per-address share');
  t.equal(a.admit(attacker, 0, 1e9), 'address-connections');
  t.equal(b.admit(honest, 0, 1e9), null, 'honest still admitted');
});

t.test('the accept rate is per address first: a churning address uses up its own rate, not the global one', async (t) => {
  const { rows } = admission({ acceptsPerAddressPerSecond: 10, acceptsPerSecond: 100 }, 1);
  const [a] = rows;
  const attacker = a.bucketOf('127.0.0.9');
  let admitted = 0;
  for (let i = 0; i < 1000; i++) {
    if (a.admit(attacker, 0, 0) === null) {
      admitted++;
      a.handshakeEnded(attacker);
      a.closed(attacker);
    }
  }
  t.equal(admitted, 10, 'a burst of one second of its own rate');
  t.equal(a.admit(attacker, 0, 0), 'address-accept-rate');
  let honest = 0;
  for (let i = 0; i < 50; i++) if (a.admit(a.bucketOf(`10.0.0.${i}`), 0, 0) === null) honest++;
  t.equal(honest, 50, 'fifty other addresses get in at the same moment');
  t.equal(a.admit(attacker, 0, 1000), null, 'a second later the attacker has tokens again');
});

t.test('a penalised address is refused for the cooldown, and a dead shard row frees what it held', async (t) => {
  const { rows, main } = admission({ penaltyCooldownMs: 1000 });
  const [a, b] = rows;
  const bucket = a.bucketOf('127.0.0.3');
  t.equal(a.admit(bucket, 5000, 0), null);
  b.penalise(bucket, 5000);
  t.equal(a.admit(bucket, 5500, 1), 'penalised', 'refused on every shard');
  t.equal(a.admit(bucket, 6001, 2), null, 'let in after the cooldown');
  t.equal(main.connectionsOf(bucket), 2);
  t.equal(a.searchStarted(bucket), true);
  main.resetRow(0);
  t.equal(main.connectionsOf(bucket), 0);
  t.equal(main.handshakes, 0);
  t.equal(main.searchesOf(bucket), 0);
});

t.test('searches waiting per address are bounded over all shards', async (t) => {
  const { rows, main } = admission({ searchesPerAddressMax: 5 });
  const bucket = rows[0].bucketOf('127.0.0.4');
  let started = 0;
  for (let i = 0; i < 20; i++) if (rows[i % 2].searchStarted(bucket)) started++;
  t.equal(started, 5);
  rows[1].searchEnded(bucket);
  t.equal(rows[0].searchStarted(bucket), true, 'a slot that ends is free again');
  t.equal(main.searchesOf(bucket), 5);
});

t.test('a token bucket gives its burst, then its rate', async (t) => {
  const bucket = new TokenBucket(10, 20, 0);
  let taken = 0;
  while (bucket.take(0)) taken++;
  t.equal(taken, 20);
  t.notOk(bucket.take(50));
  t.ok(bucket.take(100));
});

t.test('shard restarts back off, doubling, and stop past the minute budget until the minute has passed', async (t) => {
  const budget = new RestartBudget(3, 100);
  t.equal(budget.next(0), 100);
  t.equal(budget.next(200), 200);
  t.equal(budget.next(500), 400);
  t.equal(budget.next(1000), null, 'the fourth restart in a minute is refused');
  t.equal(budget.next(61_000), 100, 'a minute later the budget is back');
});

t.test('limits: defaults fill what is not given, and a limit that is not positive is refused', async (t) => {
  t.equal(resolveIndexLimits({ badSignaturesMax: 5 }).badSignaturesMax, 5);
  t.equal(resolveIndexLimits({}).connectionsPerAddressMax, DEFAULT_INDEX_LIMITS.connectionsPerAddressMax);
  t.throws(() => resolveIndexLimits({ reportsPerNodeMax: 0 }));
});

t.test('search time is charged to its address: once spent, the address waits for its refill while another still searches', async (t) => {
  const { rows } = admission({ searchMsPerSecondPerAddress: 100 }, 1);
  const [a] = rows;
  const attacker = a.bucketOf('127.0.0.12');
  const honest = a.bucketOf('127.0.0.1');
  let searched = 0;
  while (a.searchTimeLeft(attacker, 0)) {
    a.searchSpent(attacker, 7);
    searched++;
  }
  t.equal(searched, 15, "100 ms of 7 ms searches: the 15th overdraws and ends the address's budget");
  t.ok(a.searchTimeLeft(honest, 0), 'another address has its own budget');
  t.notOk(a.searchTimeLeft(attacker, 40), 'after 40 ms the overdraft is not paid back yet');
  t.ok(a.searchTimeLeft(attacker, 100), 'after 100 ms it is');
});
