import t from 'tap';
import { toBase64Url } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { SimNet, pay } from '../funder/sim.js';
import { applyMutations, buildReport, diffReports } from '../../src/node/report.js';
import type { NodeReport } from '../../src/node/app_codec.js';
import type { FunderState } from '../../src/funder/state.js';

function canonical(r: NodeReport): string {
  const sorted = {
    ...r,
    relays: [...r.relays].sort((x, y) => toBase64Url(x.publicKey).localeCompare(toBase64Url(y.publicKey))),
    indexServers: [...r.indexServers].sort((x, y) => toBase64Url(x.publicKey).localeCompare(toBase64Url(y.publicKey))),
    friends: [...r.friends].sort((x, y) => toBase64Url(x.publicKey).localeCompare(toBase64Url(y.publicKey)))
      .map((f) => ({ ...f, currencyConfigs: [...f.currencyConfigs].sort((a, b) => a.currency.localeCompare(b.currency)) })),
  };
  return JSON.stringify(sorted, (_k, v: unknown) => (typeof v === 'bigint' ? `n${v}` : v instanceof Uint8Array ? toBase64Url(v) : v));
}

const report = (state: FunderState, servers: { publicKey: Uint8Array; address: string; name: string }[] = [], connected: Uint8Array | null = null): NodeReport =>
  buildReport({ state, relayNames: new Map(), indexServers: servers, connectedIndex: connected });

t.test('mutations turn the previous report into the next one, step after step', async (t) => {
  const net = new SimNet('report');
  const a = net.add('a');
  const b = net.add('b');
  const c = net.add('c');
  let prev = report(a.state);
  let held = prev;
  const step = (what: string, next: NodeReport): void => {
    const mutations = diffReports(prev, next);
    held = applyMutations(held, mutations);
    t.equal(canonical(held), canonical(next), what);
    prev = next;
  };
  a.app({ kind: 'setRelays', relays: [{ publicKey: Identity.generate().publicKey, address: '127.0.0.1:1' }] });
  step('relay added', report(a.state));
  net.befriend(a, b, 'FST', 100n, 100n);
  step('friend added and linked', report(a.state));
  net.befriend(b, c, 'FST', 100n, 100n);
  pay(net, a, c, [a, b, c], 1, 10n, 1n);
  step('a payment in flight', report(a.state));
  a.app({ kind: 'setFriendName', publicKey: b.pk, name: 'bee' });
  a.app({ kind: 'setRate', publicKey: b.pk, currency: 'FST', rate: { mul: 5, add: 1 } });
  step('name and rate', report(a.state));
  const server = { publicKey: Identity.generate().publicKey, address: '127.0.0.1:2', name: 'i' };
  step('index server added and connected', report(a.state, [server], server.publicKey));
  a.handle({ kind: 'friendOffline', friend: b.pk });
  a.app({ kind: 'disableFriend', publicKey: b.pk });
  step('friend offline and disabled', report(a.state, [server], null));
  a.app({ kind: 'removeFriend', publicKey: b.pk });
  step('friend removed (or refused while payments are open)', report(a.state, [], null));
  t.same(diffReports(prev, prev), [], 'no change, no mutation');
});

t.test('the diff sees one byte or one unit of change anywhere in a friend, and nothing in a rebuilt equal report', async (t) => {
  const net = new SimNet('report-eq');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  const base = report(a.state);
  t.same(diffReports(base, report(a.state)), [], 'a report rebuilt from the same state is the same');
  const friend = base.friends[0];
  const channel = friend.channel;
  t.equal(channel.kind, 'consistent');
  if (channel.kind !== 'consistent') return;
  const edited = (f: typeof friend): NodeReport => ({ ...base, friends: [f] });
  const pending = { ...channel, balances: channel.balances.map((x) => ({ ...x, remotePendingDebt: x.remotePendingDebt + 1n })) };
  t.same(diffReports(base, edited({ ...friend, channel: pending })).map((m) => m.kind), ['friendChannelSet'], 'one unit of pending debt');
  const hash = friend.lastTokenHash === null ? null : Uint8Array.from(friend.lastTokenHash);
  if (hash !== null) hash[hash.length - 1] ^= 1;
  t.same(diffReports(base, edited({ ...friend, lastTokenHash: hash ?? new Uint8Array(32) })).map((m) => m.kind), ['friendChannelSet'], 'one bit of the last token hash');
  const relayKey = Uint8Array.from(friend.relays[0]?.publicKey ?? new Uint8Array(32));
  relayKey[0] ^= 1;
  const relays = [{ publicKey: relayKey, address: friend.relays[0]?.address ?? '127.0.0.1:9' }];
  t.same(diffReports(base, edited({ ...friend, relays })).map((m) => m.kind), ['friendRelaysSet'], 'one bit of a relay key');
  const config = { ...friend.currencyConfigs[0], rate: { ...friend.currencyConfigs[0].rate, add: friend.currencyConfigs[0].rate.add + 1 } };
  t.same(diffReports(base, edited({ ...friend, currencyConfigs: [config] })).map((m) => m.kind), ['friendCurrencyConfigSet'], 'the rate');
});
