import t from 'tap';
import { openFriends, storedPair } from '../funder/stored_pair.js';
import type { AppMessage } from '../../src/funder/api.js';
import type { Commit } from '../../src/funder/types.js';

const id = (n: number, length: number): Uint8Array => new Uint8Array(length).fill(n);

/** The next app message `match` accepts, from `node`'s app. */
function next(node: { listeners: ((m: AppMessage) => void)[] }, match: (m: AppMessage) => boolean): Promise<AppMessage> {
  return new Promise((resolve) => {
    const listener = (m: AppMessage): void => {
      if (!match(m)) return;
      node.listeners.splice(node.listeners.indexOf(listener), 1);
      resolve(m);
    };
    node.listeners.push(listener);
  });
}

t.test('a buyer restarted before it handed over the commit gets the commit again from its payment status', async (t) => {
  const { open } = storedPair(t, 'offset-commit-');
  let { net, a, b } = await openFriends(open);
  const paymentId = id(7, 16);
  const invoiceId = id(8, 32);
  b.command({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 30n });
  a.command({ kind: 'createPayment', paymentId, invoiceId, currency: 'FST', totalDestPayment: 30n, destPublicKey: b.pk });
  const result = next(a, (m) => m.kind === 'transactionResult');
  a.command({ kind: 'createTransaction', paymentId, requestId: id(9, 16), route: [a.pk, b.pk], destPayment: 30n, fees: 0n });
  const answer = await result;
  const commit: Commit | null = answer.kind === 'transactionResult' && answer.outcome.kind === 'complete' ? answer.outcome.commit : null;
  t.not(commit, null, 'the seller answered and the buyer got the commit');
  await net.quiet();

  // The app lost the commit, and the buyer's node restarts.
  await net.close();
  ({ net, a, b } = await open());
  net.connectAll();
  const status = next(a, (m) => m.kind === 'paymentStatus');
  a.command({ kind: 'paymentStatus', paymentId });
  const shown = await status;
  t.same(shown.kind === 'paymentStatus' && shown.status, { kind: 'inProgress', commit }, 'the same commit, kept durably');

  // With it the seller collects, and the buyer closes the payment with a receipt.
  b.command({ kind: 'commitInvoice', commit: commit! });
  const closed = next(a, (m) => m.kind === 'paymentStatus');
  a.command({ kind: 'requestClosePayment', paymentId });
  const final = await closed;
  t.equal(final.kind === 'paymentStatus' && final.status.kind, 'success');
  await net.quiet();
  await net.close();
});
