import t from 'tap';
import { openFriends, storedPair } from '../funder/stored_pair.js';
import { bytesEqual } from '../../src/common/bytes.js';
import { runPayments } from '../../src/funder/loopback.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { tokenSignatureValid } from '../../src/apps/verify.js';
import type { TokenFile } from '../../src/files/payment_files.js';
import type { SignedToken } from '../../src/node/app_codec.js';
import { friendLastToken } from '../../src/node/report.js';
import { SimNet, pay } from '../funder/sim.js';

/** What stctrl writes from the token the node hands out. */
function tokenFile(token: SignedToken): TokenFile {
  return {
    prefixHash: token.prefixHash, randNonce: token.randNonce, newToken: token.newToken,
    tokenInfo: {
      localPublicKey: token.signer, remotePublicKey: token.receiver,
      balances: token.balances.map((b) => ({ currency: b.currency, balance: b.balance, localPending: b.localPendingDebt, remotePending: b.remotePendingDebt })),
      inconsistencyCounter: token.inconsistencyCounter, moveTokenCounter: token.moveTokenCounter,
    },
  };
}

t.test('the friend\'s last signed move verifies with its key, and only as signed', async (t) => {
  const net = new SimNet('last-token');
  const a = net.add('a');
  const b = net.add('b');
  const friendOfA = (): Parameters<typeof friendLastToken>[0] => a.state.friends.get(idKey(b.pk))!;
  net.befriend(a, b, 'FST', 100n, 100n);
  const { commit } = pay(net, a, b, [a, b], 1, 30n, 0n);
  t.not(commit, null);
  b.app({ kind: 'commitInvoice', commit: commit! });
  net.run();

  const token = friendLastToken(friendOfA());
  t.not(token, null, 'a has accepted moves from b');
  t.ok(bytesEqual(token!.signer, b.pk), 'signed by the friend');
  t.ok(bytesEqual(token!.receiver, a.pk));
  t.ok(bytesEqual(token!.newToken, friendOfA().channel.lastIncomingToken), 'the token a chains its next move on');
  t.ok(tokenSignatureValid(tokenFile(token!)), 'the signature covers exactly these fields');
  const fst = token!.balances.find((x) => x.currency === 'FST');
  t.ok(fst !== undefined, 'the balances are the signer\'s view');
  t.equal(fst!.balance, 30n, 'b signed that a owes it the 30 it collected');

  const forged = tokenFile({ ...token!, balances: token!.balances.map((x) => ({ ...x, balance: x.balance + 1n })) });
  t.notOk(tokenSignatureValid(forged), 'a changed balance breaks the signature');
  t.notOk(tokenSignatureValid(tokenFile({ ...token!, moveTokenCounter: token!.moveTokenCounter + 1n })), 'so does a changed counter');

  // After a sends its own move the channel's balances move on; the token still shows what b signed.
  const before = token!;
  pay(net, a, b, [a, b], 2, 5n, 0n);
  const after = friendLastToken(friendOfA())!;
  t.ok(tokenSignatureValid(tokenFile(after)));
  t.ok(after.moveTokenCounter > before.moveTokenCounter, 'a later move replaces it');
});

t.test('a friend without moves yet has no token', async (t) => {
  const net = new SimNet('no-token');
  const a = net.add('a');
  const b = net.add('b');
  a.app({ kind: 'addFriend', publicKey: b.pk, name: 'b', relays: [] });
  t.equal(friendLastToken(a.state.friends.get(idKey(b.pk))!), null);
});

t.test('the last signed move survives a restart of the store', async (t) => {
  const { open } = storedPair(t, 'offset-last-token-');
  let { net, a, b } = await openFriends(open);
  const result = await runPayments({ buyer: a, seller: b, route: [a, b], currency: 'FST', amount: 3n, fees: 0n }, 4, 2);
  t.equal(result.succeeded, 4);
  await net.quiet();
  const token = friendLastToken(a.runtime.state.friends.get(idKey(b.pk))!);
  t.not(token, null);
  await net.close();
  ({ net, a, b } = await open());
  const restored = friendLastToken(a.runtime.state.friends.get(idKey(b.pk))!);
  t.same(restored, token, 'the same token after the restart');
  t.ok(tokenSignatureValid(tokenFile(restored!)));
  await net.close();
});
