import { bytesEqual, compareBytes, toBase64Url } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { hash } from '../crypto/primitives.js';
import { SecureChannel, type ChannelOptions } from '../transport/channel.js';
import type { FramePipe } from '../transport/pipe.js';

/**
 * Friend links. Nodes never connect directly: both reach a relay, which splices them, and the
 * two run an end-to-end secure channel (purpose 'node-to-node', the friend's key pinned) inside
 * the tunnel, so a relay sees only ciphertext.
 *
 * Per friend the side with the lower H(key) waits on its own relays and the other side dials the
 * relays the friend announced, one at a time, round robin, with jittered exponential backoff
 * after failures. A link that ends is redialled at once (jittered); when the friend's relays
 * change and the live link goes through a relay no longer listed, the link is dropped and the
 * dialer follows to the new relays. If a second link to the same friend completes, the newest
 * wins: an old one may be half-dead without either side knowing yet.
 */

export interface RelayRef {
  readonly publicKey: Uint8Array;
  /** host:port */
  readonly address: string;
}

/** What the channeler needs from the relay client; the real one is in relay_network.ts. */
export interface RelayNetwork {
  listen(hooks: ListenHooks): ListenControl;
  connect(relay: RelayRef, target: Uint8Array, timeoutMs: number): Promise<FramePipe>;
}

export interface ListenHooks {
  decide(caller: Uint8Array): boolean;
  onTunnel(pipe: FramePipe, caller: Uint8Array): void;
}

export interface ListenControl {
  setRelays(relays: readonly RelayRef[]): void;
  stop(): void;
}

export interface FriendLinkConfig {
  readonly publicKey: Uint8Array;
  readonly relays: readonly RelayRef[];
}

export interface ChannelerHooks {
  onFrame(friend: Uint8Array, frame: Uint8Array): void;
  onOnline(friend: Uint8Array): void;
  onOffline(friend: Uint8Array): void;
}

export interface ChannelerBackoff {
  baseMs: number;
  maxMs: number;
}

export interface ChannelerOptions {
  identity: Identity;
  network: RelayNetwork;
  hooks: ChannelerHooks;
  logger?: Logger;
  backoff?: Partial<ChannelerBackoff>;
  /** Deadline for one dial (relay splice plus end-to-end handshake). Default 15 s. */
  dialTimeoutMs?: number;
  /** Incoming end-to-end handshakes in progress at once. Default 8. */
  handshakesConcurrentMax?: number;
  channelOptions?: ChannelOptions;
  random?: () => number;
}

interface FriendLink {
  readonly publicKey: Uint8Array;
  readonly id: string;
  readonly dials: boolean;
  relays: RelayRef[];
  channel: SecureChannel | null;
  /** Relay key of the live link (dialled links only). */
  via: string | null;
  dialing: boolean;
  timer: NodeJS.Timeout | null;
  attempt: number;
  next: number;
  /** Bumped when the friend is removed or its relays change: late dial results are dropped. */
  generation: number;
  removed: boolean;
}

const relayId = (r: RelayRef): string => `${toBase64Url(r.publicKey)}@${r.address}`;

export class Channeler {
  private readonly friends = new Map<string, FriendLink>();
  private readonly listener: ListenControl;
  private readonly log: Logger;
  private readonly backoff: ChannelerBackoff;
  private readonly ownHash: Uint8Array;
  private handshaking = 0;
  private stopped = false;
  readonly counters = { dialsStarted: 0, dialsFailed: 0, linksUp: 0, linksDown: 0, incomingRefused: 0, replacedLinks: 0 };

  constructor(private readonly o: ChannelerOptions) {
    this.log = o.logger ?? silentLogger;
    this.backoff = { baseMs: 500, maxMs: 30_000, ...o.backoff };
    this.ownHash = hash(o.identity.publicKey);
    this.listener = o.network.listen({
      decide: (caller) => this.acceptsCaller(caller),
      onTunnel: (pipe, caller) => this.incoming(pipe, caller),
    });
  }

  /** True when this node dials `friend`, false when it waits for the friend's call. */
  dialsTo(friend: Uint8Array): boolean {
    return compareBytes(this.ownHash, hash(friend)) > 0;
  }

  setOwnRelays(relays: readonly RelayRef[]): void {
    if (!this.stopped) this.listener.setRelays(relays);
  }

  /** The complete set of friends to keep linked (enabled friends); others are dropped. */
  setFriends(friends: readonly FriendLinkConfig[]): void {
    if (this.stopped) return;
    const wanted = new Map(friends.map((f) => [toBase64Url(f.publicKey), f]));
    for (const [id, link] of this.friends) {
      if (!wanted.has(id)) this.remove(link);
    }
    for (const [id, config] of wanted) {
      const link = this.friends.get(id);
      if (link === undefined) this.add(id, config);
      else this.updateRelays(link, config.relays);
    }
  }

  isOnline(friend: Uint8Array): boolean {
    return this.friends.get(toBase64Url(friend))?.channel?.isOpen ?? false;
  }

  onlineCount(): number {
    let n = 0;
    for (const link of this.friends.values()) if (link.channel !== null) n++;
    return n;
  }

  /** Queues a frame to a linked friend; false when the friend is not linked (the frame is dropped). */
  send(friend: Uint8Array, frame: Uint8Array): boolean {
    const channel = this.friends.get(toBase64Url(friend))?.channel;
    if (channel === null || channel === undefined) return false;
    channel.send(frame);
    return true;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.listener.stop();
    for (const link of [...this.friends.values()]) this.remove(link);
  }

  private add(id: string, config: FriendLinkConfig): void {
    const link: FriendLink = {
      publicKey: new Uint8Array(config.publicKey), id, dials: this.dialsTo(config.publicKey), relays: [...config.relays],
      channel: null, via: null, dialing: false, timer: null, attempt: 0, next: 0, generation: 0, removed: false,
    };
    this.friends.set(id, link);
    if (link.dials) void this.dial(link);
  }

  private remove(link: FriendLink): void {
    link.removed = true;
    link.generation++;
    this.friends.delete(link.id);
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = null;
    const channel = link.channel;
    if (channel !== null) {
      this.detach(link);
      channel.close('friend removed');
    }
  }

  private updateRelays(link: FriendLink, relays: readonly RelayRef[]): void {
    const before = link.relays.map(relayId).join(',');
    const after = relays.map(relayId).join(',');
    if (before === after) return;
    link.relays = [...relays];
    link.next = 0;
    if (!link.dials) return;
    link.generation++;
    const ids = new Set(relays.map(relayId));
    if (link.channel !== null && link.via !== null && !ids.has(link.via)) {
      this.log.info({ friend: link.id }, 'friend moved relays; following');
      const channel = link.channel;
      this.detach(link);
      channel.close('friend moved to other relays');
    }
    if (link.channel === null) {
      if (link.timer !== null) clearTimeout(link.timer);
      link.timer = null;
      link.attempt = 0;
      link.dialing = false;
      void this.dial(link);
    }
  }

  private acceptsCaller(caller: Uint8Array): boolean {
    const link = this.friends.get(toBase64Url(caller));
    const ok = link !== undefined && !link.dials && this.handshaking < (this.o.handshakesConcurrentMax ?? 8);
    if (!ok) this.counters.incomingRefused++;
    return ok;
  }

  private incoming(pipe: FramePipe, caller: Uint8Array): void {
    if (this.stopped || !this.acceptsCaller(caller)) {
      pipe.close('not expected');
      return;
    }
    this.handshaking++;
    SecureChannel.respond(pipe, {
      identity: this.o.identity,
      purpose: 'node-to-node',
      // The relay says who called; the handshake must prove it is that friend.
      authorize: (key) => bytesEqual(key, caller) && this.friends.has(toBase64Url(key)),
      options: { logger: this.log, ...this.o.channelOptions },
    }).then(
      (channel) => {
        this.handshaking--;
        const link = this.friends.get(toBase64Url(channel.remoteKey));
        if (link === undefined || this.stopped) {
          channel.close('friend no longer wanted');
          return;
        }
        this.attach(link, channel, null);
      },
      (err: unknown) => {
        this.handshaking--;
        this.log.info({ friend: toBase64Url(caller), err: errorMessage(err) }, 'incoming friend handshake failed');
      },
    );
  }

  private async dial(link: FriendLink): Promise<void> {
    if (this.stopped || link.removed || link.dialing || link.channel !== null || link.timer !== null) return;
    if (link.relays.length === 0) return; // dialled as soon as the friend announces a relay
    link.dialing = true;
    const generation = link.generation;
    const relay = link.relays[link.next % link.relays.length];
    link.next = (link.next + 1) % link.relays.length;
    this.counters.dialsStarted++;
    const timeoutMs = this.o.dialTimeoutMs ?? 15_000;
    try {
      const pipe = await this.o.network.connect(relay, link.publicKey, timeoutMs);
      let channel: SecureChannel;
      try {
        channel = await SecureChannel.initiate(pipe, {
          identity: this.o.identity,
          expectedRemoteKey: link.publicKey,
          purpose: 'node-to-node',
          options: { handshakeTimeoutMs: timeoutMs, logger: this.log, ...this.o.channelOptions },
        });
      } catch (err) {
        pipe.close('handshake failed');
        throw err;
      }
      if (generation !== link.generation || link.removed || this.stopped) {
        channel.close('friend changed while dialling');
        link.dialing = false;
        if (!link.removed) void this.dial(link);
        return;
      }
      link.dialing = false;
      link.attempt = 0;
      this.attach(link, channel, relayId(relay));
    } catch (err) {
      link.dialing = false;
      this.counters.dialsFailed++;
      this.log.debug({ friend: link.id, relay: relay.address, err: errorMessage(err) }, 'dial failed');
      if (generation !== link.generation) {
        if (!link.removed) void this.dial(link);
        return;
      }
      this.scheduleDial(link, this.delayMs(link.attempt++));
    }
  }

  private delayMs(attempt: number): number {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(attempt, 20));
    return Math.round(ceiling * (0.5 + (this.o.random ?? Math.random)() / 2));
  }

  private scheduleDial(link: FriendLink, delayMs: number): void {
    if (this.stopped || link.removed || link.timer !== null) return;
    link.timer = setTimeout(() => {
      link.timer = null;
      void this.dial(link);
    }, delayMs);
  }

  private attach(link: FriendLink, channel: SecureChannel, via: string | null): void {
    if (link.channel !== null) {
      // The newest link wins; the funder resends over it what the old one may have lost.
      this.counters.replacedLinks++;
      const old = link.channel;
      this.detach(link);
      old.close('replaced by a newer link');
    }
    link.channel = channel;
    link.via = via;
    this.counters.linksUp++;
    channel.onFrame((frame) => {
      if (link.channel === channel) this.o.hooks.onFrame(link.publicKey, frame);
    });
    channel.onClose((reason) => {
      if (link.channel !== channel) return;
      this.log.info({ friend: link.id, reason: reason.message }, 'friend link closed');
      this.detach(link);
      if (link.dials && !link.removed) this.scheduleDial(link, this.delayMs(0));
    });
    this.log.info({ friend: link.id, via }, 'friend link up');
    this.o.hooks.onOnline(link.publicKey);
  }

  private detach(link: FriendLink): void {
    if (link.channel === null) return;
    link.channel = null;
    link.via = null;
    this.counters.linksDown++;
    this.o.hooks.onOffline(link.publicKey);
  }
}
