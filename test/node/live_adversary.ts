import { silentLogger } from '../../src/common/log.js';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import type { AppCommand, AppMessage, FunderEvent, PeerFault } from '../../src/funder/api.js';
import { decodeFriendMessage, encodeFriendMessage } from '../../src/funder/codec.js';
import { handleEvent, type CoreEnv } from '../../src/funder/handler.js';
import { idKey, stageDeadline } from '../../src/funder/mutual_credit.js';
import { newFunderState, type Friend, type FunderState } from '../../src/funder/state.js';
import { beginMove, finishMove, tryAddOp } from '../../src/funder/token_channel.js';
import type { CurrencyOp, FriendMessage, MoveToken, PublicKey, RelayAddress } from '../../src/funder/types.js';
import { Channeler } from '../../src/node/channeler.js';
import { relayNetwork } from '../../src/node/relay_network.js';

/**
 * A malicious friend on the real network: the project's payment core in memory and the node's
 * own channeler, reaching real stnode processes through a real relay. Like the simulated
 * adversary (test/funder/adversary.ts) it behaves honestly until the test tells it to withhold
 * what it would send a friend (and so keep the token), replay an old message, or forge a move
 * with any operations and time stamp the shared rules allow.
 */
export class LiveAdversary {
  readonly identity = Identity.generate();
  readonly state: FunderState;
  readonly inbox: AppMessage[] = [];
  readonly faults: PeerFault[] = [];
  private readonly env: CoreEnv;
  private readonly channeler: Channeler;
  private readonly withholding = new Set<string>();
  private readonly sent = new Map<string, FriendMessage[]>();
  private readonly timer: NodeJS.Timeout;
  private counter = 0;

  constructor(readonly relays: RelayAddress[]) {
    this.state = newFunderState(this.identity.publicKey);
    this.env = { signer: this.identity, random: randomBytes };
    this.channeler = new Channeler({
      identity: this.identity,
      network: relayNetwork(this.identity, silentLogger, { baseMs: 100, maxMs: 1_000 }),
      backoff: { baseMs: 100, maxMs: 1_000 },
      hooks: {
        onFrame: (friend, frame) => {
          const decoded = decodeFriendMessage(frame);
          if (decoded.ok) this.handle({ kind: 'friendMessage', friend, message: decoded.value });
        },
        onOnline: (friend) => this.handle({ kind: 'friendOnline', friend }),
        onOffline: (friend) => this.handle({ kind: 'friendOffline', friend }),
      },
    });
    this.channeler.setOwnRelays(relays);
    this.timer = setInterval(() => this.handle({ kind: 'tick' }), 1_000);
    this.app({ kind: 'setRelays', relays });
  }

  get publicKey(): PublicKey {
    return this.identity.publicKey;
  }

  handle(event: FunderEvent): void {
    const out = handleEvent(this.state, this.env, event, Date.now());
    this.faults.push(...out.faults);
    for (const effect of out.effects) {
      if (effect.kind === 'toApp') this.inbox.push(effect.message);
      else this.send(effect.friend, effect.message);
    }
    this.channeler.setFriends([...this.state.friends.values()].filter((f) => f.enabled).map((f) => ({ publicKey: f.publicKey, relays: f.relays })));
  }

  /** Runs an app command on its own core; the ack's error code, or null. */
  app(command: AppCommand): string | null {
    const id = String(++this.counter);
    this.handle({ kind: 'app', appId: 'self', owner: 'self', appRequestId: id, command });
    const ack = this.inbox.find((m) => m.kind === 'ack' && m.appRequestId === id);
    return ack?.kind === 'ack' ? ack.error?.code ?? null : 'no ack';
  }

  friend(key: PublicKey): Friend | undefined {
    return this.state.friends.get(idKey(key));
  }

  /** Nothing more reaches `key`, and the token, once here, stays here (the core thinks it offline). */
  withhold(key: PublicKey): void {
    this.withholding.add(idKey(key));
    const friend = this.friend(key);
    if (friend !== undefined) friend.online = false;
  }

  /** Sends an earlier message again (1 = the last one), optionally asking for the token back. */
  replay(key: PublicKey, back = 1, tokenWanted?: boolean): boolean {
    const log = this.sent.get(idKey(key)) ?? [];
    let message = log[log.length - back];
    if (message === undefined) return false;
    if (tokenWanted !== undefined && message.kind === 'moveTokenRequest') message = { ...message, tokenWanted };
    return this.channeler.send(key, encodeFriendMessage(message));
  }

  /** Signs and sends a move with exactly `ops`, stamped `timeMs`; the move, or why it cannot. */
  forge(key: PublicKey, ops: readonly CurrencyOp[], timeMs = Date.now()): MoveToken | string {
    const friend = this.friend(key);
    if (friend === undefined) return 'no such friend';
    const draft = beginMove(friend.channel, null, timeMs);
    if (draft === null) return 'no token';
    for (const { currency, op } of ops) {
      const err = tryAddOp(draft, currency, op);
      if (err !== null) return err;
    }
    const move = finishMove(draft, null, this.identity, randomBytes(16));
    this.channeler.send(key, encodeFriendMessage({ kind: 'moveTokenRequest', moveToken: move, tokenWanted: false }));
    return move;
  }

  /** Requests it sent `key`, with the time their stage runs out. */
  pendingTo(key: PublicKey, currency: string): { requestId: Uint8Array; dueMs: number; answered: boolean }[] {
    const mc = this.friend(key)?.channel.mutualCredits.get(currency);
    return mc === undefined ? [] : [...mc.local.values()].map((tx) => ({ requestId: tx.request.requestId, dueMs: stageDeadline(tx), answered: tx.stage.kind === 'response' }));
  }

  stop(): void {
    clearInterval(this.timer);
    this.channeler.stop();
  }

  private send(key: PublicKey, message: FriendMessage): void {
    const k = idKey(key);
    if (this.withholding.has(k)) return;
    const log = this.sent.get(k) ?? [];
    log.push(message);
    this.sent.set(k, log);
    this.channeler.send(key, encodeFriendMessage(message));
  }
}

/** Waits until `cond` holds, polling; fails after `timeoutMs`. */
export async function eventually(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
