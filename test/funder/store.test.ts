import t from 'tap';
import { openFriends, storedPair } from './stored_pair.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { type Loopback, runPayments } from '../../src/funder/loopback.js';
import { FunderRuntime } from '../../src/funder/runtime.js';
import { idKey } from '../../src/funder/mutual_credit.js';

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);

function summary(net: Loopback): string {
  const out: string[] = [];
  for (const node of net.nodes.values()) {
    const s = node.runtime.state;
    for (const f of s.friends.values()) {
      for (const [c, m] of f.channel.mutualCredits) {
        out.push(`${node.name}/${f.name}/${c}:${m.balance}:${m.localPending}:${m.remotePending}:${m.local.size}:${m.remote.size}:${f.channel.moveTokenCounter}:${f.channel.direction}`);
      }
      out.push(`${node.name}/${f.name}:cfg=${JSON.stringify([...f.configs].map(([k, v]) => [k, String(v.remoteMaxDebt), v.isOpen, v.rate]))}`);
    }
    out.push(`${node.name}:payments=${s.payments.size}:invoices=${s.invoices.size}:up=${s.upstream.size}:deadlines=${s.deadlines.size}`);
  }
  return out.sort().join('\n');
}

t.test('a restarted node rebuilds exactly the state it had, from per-entity records', async (t) => {
  const { open } = storedPair(t, 'funder-store-');
  let { net, a, b } = await openFriends(open);
  const result = await runPayments({ buyer: a, seller: b, route: [a, b], currency: 'FST', amount: 3n, fees: 0n }, 20, 8);
  t.equal(result.succeeded, 20);
  // Leave one payment half-way: responded, not yet committed (no app hands the commit over).
  a.listeners.length = 0;
  b.command({ kind: 'addInvoice', invoiceId: new Uint8Array(32).fill(9), currency: 'FST', totalDestPayment: 5n });
  a.command({ kind: 'createPayment', paymentId: new Uint8Array(16).fill(9), invoiceId: new Uint8Array(32).fill(9), currency: 'FST', totalDestPayment: 5n, destPublicKey: b.pk });
  a.command({ kind: 'createTransaction', paymentId: new Uint8Array(16).fill(9), requestId: new Uint8Array(16).fill(8), route: [a.pk, b.pk], destPayment: 5n, fees: 0n });
  await net.quiet();
  const before = summary(net);
  t.match(before, /a\/b\/FST:-60:5:0:1:0/);
  await net.close();
  ({ net, a, b } = await open());
  t.equal(summary(net), before, 'identical after restart');
  net.connectAll();
  await net.quiet();
  const commit = a.runtime.state.payments.get(idKey(new Uint8Array(16).fill(9)))!.commit!;
  b.command({ kind: 'commitInvoice', commit });
  await net.quiet();
  t.equal(a.runtime.state.friends.get(idKey(b.pk))!.channel.mutualCredits.get('FST')!.balance, -65n);
  t.equal(a.faults + b.faults, 0);
  await net.close();
});

t.test('a store is never opened with another identity', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'funder-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sink = { sendFriend: () => {}, toApp: () => {} };
  const first = await FunderRuntime.open(dir, Identity.fromSeed(seed(1)), sink);
  await first.close();
  await t.rejects(FunderRuntime.open(dir, Identity.fromSeed(seed(2)), sink), { code: 'ERR_FUNDER_WRONG_IDENTITY' });
});
