import t from 'tap';
import { RelayListenSet } from '../../src/node/relay_listen_set.js';

const relay = (n: number, address = `relay${n}:443`) => ({ publicKey: new Uint8Array(32).fill(n), address });
const names = (list: readonly { address: string }[]): string[] => list.map((r) => r.address);

t.test('a relay the node moved away from stays in the listening set for the grace period only', async (t) => {
  const set = new RelayListenSet(60_000, 16);
  t.same(names(set.update([relay(1)], 0)), ['relay1:443'], 'the configured relays at first');
  t.same(names(set.update([relay(2)], 1_000)), ['relay2:443', 'relay1:443'], 'after a migration both: friends may not have heard yet');
  t.same(names(set.update([relay(2)], 30_000)), ['relay2:443', 'relay1:443'], 'still within the grace period');
  t.equal(set.retiredCount, 1);
  t.same(names(set.update([relay(2)], 61_000)), ['relay2:443'], 'gone once the grace period is over');
  t.equal(set.retiredCount, 0);
});

t.test('a relay added back is a configured relay again, and its grace period restarts when it leaves', async (t) => {
  const set = new RelayListenSet(60_000, 16);
  set.update([relay(1)], 0);
  set.update([relay(2)], 0);
  t.same(names(set.update([relay(2), relay(1)], 10_000)), ['relay2:443', 'relay1:443']);
  t.equal(set.retiredCount, 0);
  set.update([relay(2)], 50_000);
  t.same(names(set.update([relay(2)], 100_000)), ['relay2:443', 'relay1:443'], 'counted from when it left the second time');
  t.same(names(set.update([relay(2)], 110_000)), ['relay2:443']);
});

t.test('a relay that changes address keeps its old address for the grace period too', async (t) => {
  const set = new RelayListenSet(60_000, 16);
  set.update([relay(1, 'old:1')], 0);
  t.same(names(set.update([relay(1, 'new:1')], 1)), ['new:1', 'old:1']);
});

t.test('the number of old relays kept is bounded; the oldest go first', async (t) => {
  const set = new RelayListenSet(60_000, 2);
  for (let i = 1; i <= 5; i++) set.update([relay(i)], i);
  t.same(names(set.update([relay(5)], 10)), ['relay5:443', 'relay3:443', 'relay4:443']);
  t.same(names(new RelayListenSet(0, 16).update([relay(9)], 0)), ['relay9:443']);
  const none = new RelayListenSet(0, 16);
  none.update([relay(1)], 0);
  t.same(names(none.update([relay(2)], 0)), ['relay2:443'], 'no grace period: old relays are dropped at once');
});

t.test('the same list comes back while nothing changed, so the node skips relinking', async (t) => {
  const set = new RelayListenSet(60_000, 16);
  const first = [relay(1)];
  set.update(first, 0);
  const second = [relay(2)];
  const during = set.update(second, 1_000);
  t.equal(set.update(second, 2_000), during, 'same configured list, no grace period ended: same array');
  const after = set.update(second, 61_000);
  t.not(after, during, 'a grace period ending is a change');
  t.same(names(after), ['relay2:443']);
  t.equal(set.update(second, 62_000), after);
});

t.test('old relays saved before a restart are listened on until their grace period ends', async (t) => {
  const before = new RelayListenSet(60_000, 16);
  before.update([relay(1)], 0);
  const revision = before.revision;
  before.update([relay(2)], 1_000);
  t.not(before.revision, revision, 'retiring a relay is a change to save');
  const saved = before.retiredRelays();
  t.same(saved.map((r) => [r.relay.address, r.untilMs]), [['relay1:443', 61_000]]);

  const after = new RelayListenSet(60_000, 16, saved);
  t.same(names(after.update([relay(2)], 5_000)), ['relay2:443', 'relay1:443'], 'the restarted node still listens on the old relay');
  t.same(names(after.update([relay(2)], 61_000)), ['relay2:443'], 'until the grace period that began before the restart ends');
  t.same(after.retiredRelays(), []);
});

t.test('restored old relays are bounded and give way to relays configured again', async (t) => {
  const saved = [1, 2, 3].map((n) => ({ relay: relay(n), untilMs: 10_000 }));
  t.same(names(new RelayListenSet(60_000, 2, saved).update([relay(9)], 0)), ['relay9:443', 'relay2:443', 'relay3:443'], 'the newest two are kept');
  t.same(names(new RelayListenSet(60_000, 16, saved).update([relay(2)], 0)), ['relay2:443', 'relay1:443', 'relay3:443'], 'a configured relay is not an old one');
});
