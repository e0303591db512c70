/**
 * One life of a three-node network (a-b-c, a pays c through b) for the crash test. Resumes from
 * the stores in `dir`, drives payments 1..count, and SIGKILLs itself right after global durable
 * write number `crashAt` (0: never), before that write's messages leave. Without a crash it
 * settles, then prints the channels of every node as one JSON line.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Loopback, befriend, runPayments, type LoopbackNode } from '../../src/funder/loopback.js';

const [dir, crashAtText, countText] = process.argv.slice(2);
const crashAt = Number(crashAtText);
const count = Number(countText);
let writes = 0;

const seed = (name: string): Uint8Array => new Uint8Array(createHash('sha256').update(`crash-test/${name}`).digest());
const net = new Loopback();
const options = {
  afterDurable: () => {
    if (++writes === crashAt) process.kill(process.pid, 'SIGKILL');
  },
};
const a = await net.add('a', seed('a'), join(dir, 'a'), options);
const b = await net.add('b', seed('b'), join(dir, 'b'), options);
const c = await net.add('c', seed('c'), join(dir, 'c'), options);
befriend(a, b, 'FST', 10n ** 12n);
befriend(b, c, 'FST', 10n ** 12n);
b.command({ kind: 'setRate', publicKey: a.pk, currency: 'FST', rate: { mul: 0, add: 1 } });
net.connectAll();
await net.ready('FST');
const ticker = setInterval(() => {
  for (const node of [a, b, c]) node.submit({ kind: 'tick' });
}, 1000);

const result = await runPayments({ buyer: a, seller: c, route: [a, b, c], currency: 'FST', amount: 10n, fees: 1n }, count, 64);

const frozen = (): bigint => {
  let sum = 0n;
  for (const node of [a, b, c]) {
    for (const friend of node.runtime.state.friends.values()) {
      for (const m of friend.channel.mutualCredits.values()) sum += m.localPending + m.remotePending;
      sum += BigInt(friend.backwards.length + friend.requests.length + friend.userRequests.length);
    }
  }
  return sum;
};
for (let i = 0; i < 500 && frozen() > 0n; i++) await new Promise((r) => setTimeout(r, 20));
clearInterval(ticker);
await net.quiet();

const channels = [];
for (const node of [a, b, c] as LoopbackNode[]) {
  for (const friend of node.runtime.state.friends.values()) {
    for (const [currency, m] of friend.channel.mutualCredits) {
      channels.push({
        node: node.name, friend: friend.name, currency, balance: String(m.balance), localPending: String(m.localPending),
        remotePending: String(m.remotePending), counter: String(friend.channel.moveTokenCounter), inconsistent: friend.inconsistency !== null,
      });
    }
  }
}
const faults = a.faults + b.faults + c.faults;
await net.close();
process.stdout.write(`${JSON.stringify({ ...result, latenciesMs: undefined, channels, faults, frozen: String(frozen()) })}\n`);
