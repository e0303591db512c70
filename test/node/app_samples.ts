/** One value of every app request kind and every node-to-app message kind, with edge values. */
import type { AppRequest, AppRequestBody, ChannelStatus, Commit, FriendReport, NodeToApp, Receipt } from '../../src/node/app_codec.js';
import { AppErrorCode, FailureReason } from '../../src/node/app_codec.js';
import { I128_MIN, U128_MAX } from '../../src/common/bytes.js';

const fill = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff);
export const key = (seed: number): Uint8Array => fill(32, seed);
const hash = (seed: number): Uint8Array => fill(32, seed + 100);
const uid = (seed: number): Uint8Array => fill(16, seed + 200);
const sig = (seed: number): Uint8Array => fill(64, seed + 300);

export const commit: Commit = {
  responseHash: hash(1), srcPlainLock: hash(2), destHashedLock: hash(3), destPayment: 10n, totalDestPayment: U128_MAX,
  invoiceId: hash(4), currency: 'FST1', signature: sig(1),
};

export const receipt: Receipt = {
  responseHash: hash(5), invoiceId: hash(6), currency: 'ünï€', srcPlainLock: hash(7), destPlainLock: hash(8), isComplete: true,
  destPayment: 50n, totalDestPayment: 50n, signature: sig(2),
};

const relays = [{ publicKey: key(40), address: '127.0.0.1:9000' }, { publicKey: key(41), address: 'relay.example:443' }];

const consistent: ChannelStatus = {
  kind: 'consistent',
  balances: [
    { currency: 'FST1', balance: -5n, localPendingDebt: 12n, remotePendingDebt: 0n },
    { currency: 'FST2', balance: I128_MIN, localPendingDebt: U128_MAX, remotePendingDebt: 1n },
  ],
};
const inconsistent: ChannelStatus = {
  kind: 'inconsistent',
  localTerms: { resetToken: sig(3), inconsistencyCounter: 2n, balances: [{ currency: 'FST1', balance: 10n }] },
  remoteTerms: { resetToken: sig(4), inconsistencyCounter: 18446744073709551615n, balances: [] },
};

export const friend: FriendReport = {
  publicKey: key(50), name: 'bob', relays, enabled: true, online: false,
  currencyConfigs: [{ currency: 'FST1', rate: { mul: 0xffffffff, add: 1 }, remoteMaxDebt: 100n, isOpen: true }],
  channel: consistent, lastTokenHash: hash(9),
};
const friend2: FriendReport = { ...friend, publicKey: key(51), name: 'carol', relays: [], enabled: false, currencyConfigs: [], channel: inconsistent, lastTokenHash: null };

export const requestBodies: AppRequestBody[] = [
  { kind: 'addRelay', relay: { publicKey: key(1), address: '10.0.0.1:1', name: 'r1' } },
  { kind: 'removeRelay', publicKey: key(2) },
  { kind: 'addIndexServer', server: { publicKey: key(3), address: 'index:80', name: 'i' } },
  { kind: 'removeIndexServer', publicKey: key(4) },
  { kind: 'addFriend', publicKey: key(5), name: 'alice', relays },
  { kind: 'removeFriend', publicKey: key(6) },
  { kind: 'enableFriend', publicKey: key(7) },
  { kind: 'disableFriend', publicKey: key(8) },
  { kind: 'setFriendRelays', publicKey: key(9), relays: [] },
  { kind: 'setFriendName', publicKey: key(10), name: 'Émile' },
  { kind: 'openCurrency', publicKey: key(11), currency: 'FST1' },
  { kind: 'closeCurrency', publicKey: key(12), currency: 'X' },
  { kind: 'removeCurrency', publicKey: key(13), currency: '0123456789abcdef' },
  { kind: 'setMaxDebt', publicKey: key(14), currency: 'FST1', remoteMaxDebt: U128_MAX },
  { kind: 'setRate', publicKey: key(15), currency: 'FST1', rate: { mul: 0x80000000, add: 7 } },
  { kind: 'resetFriendChannel', publicKey: key(16), resetToken: sig(5) },
  { kind: 'addInvoice', invoiceId: hash(10), currency: 'FST1', totalDestPayment: 50n },
  { kind: 'cancelInvoice', invoiceId: hash(11) },
  { kind: 'commitInvoice', commit },
  { kind: 'createPayment', paymentId: uid(1), invoiceId: hash(12), currency: 'FST1', totalDestPayment: 8n, destPublicKey: key(17) },
  { kind: 'createTransaction', paymentId: uid(2), requestId: uid(3), route: [key(18), key(19), key(20)], destPayment: 8n, fees: 2n },
  { kind: 'requestClosePayment', paymentId: uid(4) },
  { kind: 'paymentStatus', paymentId: uid(5) },
  { kind: 'ackClosePayment', paymentId: uid(6), ackUid: uid(7) },
  {
    kind: 'requestRoutes', requestId: uid(8), currency: 'FST1', amount: 1000n, source: key(21), destination: key(22),
    exclude: { from: key(23), to: key(24) }, maxHops: 5, maxFee: 3n, maxRoutes: 2,
  },
  {
    kind: 'requestRoutes', requestId: uid(9), currency: 'FST2', amount: 0n, source: key(25), destination: key(26),
    exclude: null, maxHops: 0, maxFee: null, maxRoutes: 0,
  },
  { kind: 'friendLastToken', publicKey: key(27) },
];

export const requests: AppRequest[] = requestBodies.map((body, i) => ({ appRequestId: uid(50 + i), body }));

export const nodeMessages: NodeToApp[] = [
  { kind: 'permissions', permissions: { routes: true, buyer: false, seller: true, config: false } },
  {
    kind: 'report',
    report: {
      publicKey: key(60),
      relays: [{ publicKey: key(61), address: 'a:1', name: 'home' }],
      indexServers: [{ publicKey: key(62), address: 'b:2', name: 'idx' }, { publicKey: key(63), address: 'c:3', name: 'idx2' }],
      connectedIndex: key(62),
      friends: [friend, friend2],
    },
  },
  { kind: 'report', report: { publicKey: key(64), relays: [], indexServers: [], connectedIndex: null, friends: [] } },
  {
    kind: 'mutations',
    appRequestId: uid(70),
    mutations: [
      { kind: 'relayAdded', relay: { publicKey: key(1), address: 'x:1', name: 'r' } },
      { kind: 'relayRemoved', publicKey: key(2) },
      { kind: 'indexServerAdded', server: { publicKey: key(3), address: 'y:2', name: 's' } },
      { kind: 'indexServerRemoved', publicKey: key(4) },
      { kind: 'connectedIndexSet', publicKey: key(5) },
      { kind: 'connectedIndexSet', publicKey: null },
      { kind: 'friendAdded', friend: friend2 },
      { kind: 'friendRemoved', publicKey: key(6) },
      { kind: 'friendNameSet', publicKey: key(7), name: 'dave' },
      { kind: 'friendRelaysSet', publicKey: key(8), relays },
      { kind: 'friendStatusSet', publicKey: key(9), enabled: false },
      { kind: 'friendLivenessSet', publicKey: key(10), online: true },
      { kind: 'friendCurrencyConfigSet', publicKey: key(11), config: { currency: 'C', rate: { mul: 0, add: 0 }, remoteMaxDebt: 0n, isOpen: false } },
      { kind: 'friendCurrencyConfigRemoved', publicKey: key(12), currency: 'C' },
      { kind: 'friendChannelSet', publicKey: key(13), channel: consistent, lastTokenHash: hash(20) },
      { kind: 'friendChannelSet', publicKey: key(14), channel: inconsistent, lastTokenHash: null },
    ],
  },
  { kind: 'mutations', appRequestId: null, mutations: [] },
  { kind: 'result', appRequestId: uid(71), error: null },
  { kind: 'result', appRequestId: uid(72), error: { code: AppErrorCode.CurrencyActive, message: 'FST1 is active with this friend' } },
  { kind: 'transactionResult', paymentId: uid(73), requestId: uid(74), outcome: { kind: 'complete', commit } },
  { kind: 'transactionResult', paymentId: uid(75), requestId: uid(76), outcome: { kind: 'success' } },
  { kind: 'transactionResult', paymentId: uid(77), requestId: uid(78), outcome: { kind: 'failure', reason: FailureReason.Expired, message: 'no answer within 60 s', atThisNode: true } },
  { kind: 'transactionResult', paymentId: uid(91), requestId: uid(92), outcome: { kind: 'failure', reason: FailureReason.CurrencyClosed, message: '', atThisNode: false } },
  { kind: 'closePayment', paymentId: uid(79), status: { kind: 'notFound' } },
  { kind: 'closePayment', paymentId: uid(80), status: { kind: 'inProgress', commit: null } },
  { kind: 'closePayment', paymentId: uid(95), status: { kind: 'inProgress', commit } },
  { kind: 'closePayment', paymentId: uid(81), status: { kind: 'success', receipt, ackUid: uid(82) } },
  { kind: 'closePayment', paymentId: uid(83), status: { kind: 'canceled', ackUid: uid(84), failure: null } },
  {
    kind: 'closePayment', paymentId: uid(93),
    status: { kind: 'canceled', ackUid: uid(94), failure: { reason: FailureReason.SellerCanceled, message: 'the seller cancelled the invoice', atThisNode: false } },
  },
  {
    kind: 'routes',
    requestId: uid(85),
    outcome: {
      kind: 'found', complete: true, truncated: false,
      routes: [
        { nodes: [key(1), key(2)], capacity: 100n, amount: 60n, fee: 0n, forwarderRates: [] },
        { nodes: [key(1), key(3), key(4), key(2)], capacity: U128_MAX, amount: 40n, fee: 3n, forwarderRates: [{ mul: 1, add: 1 }, { mul: 0, add: 2 }] },
      ],
    },
  },
  { kind: 'routes', requestId: uid(86), outcome: { kind: 'failed', error: { code: AppErrorCode.NoIndexConnection, message: '' } } },
  {
    kind: 'friendLastToken', appRequestId: uid(87), publicKey: key(28),
    token: {
      prefixHash: hash(30), randNonce: uid(88), newToken: sig(6), signer: key(28), receiver: key(29),
      balances: consistent.kind === 'consistent' ? consistent.balances : [], inconsistencyCounter: 18446744073709551615n, moveTokenCounter: 0n,
    },
  },
  {
    kind: 'friendLastToken', appRequestId: uid(89), publicKey: key(30),
    token: { prefixHash: hash(31), randNonce: uid(90), newToken: sig(7), signer: key(30), receiver: key(31), balances: [], inconsistencyCounter: 0n, moveTokenCounter: 7n },
  },
];
