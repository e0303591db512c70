import { toBase64Url } from '../../src/common/bytes.js';
import { memoryPipePair } from '../../src/transport/pipe.js';
import type { FramePipe } from '../../src/transport/pipe.js';
import type { ListenControl, ListenHooks, RelayNetwork, RelayRef } from '../../src/node/channeler.js';

/**
 * In-process relays for unit tests of the channeler: a relay splices a caller to a listener
 * with in-memory pipes. A relay can be taken down, which ends its tunnels like a crashed relay.
 */
export class MemoryRelays {
  private readonly listeners = new Map<string, Map<string, ListenHooks>>();
  private readonly tunnels = new Map<string, Set<FramePipe>>();
  private readonly down = new Set<string>();

  network(own: Uint8Array): RelayNetwork {
    const me = toBase64Url(own);
    return {
      listen: (hooks): ListenControl => {
        let current = new Set<string>();
        return {
          setRelays: (relays: readonly RelayRef[]) => {
            for (const id of current) this.listeners.get(id)?.delete(me);
            current = new Set(relays.map((r) => toBase64Url(r.publicKey)));
            for (const id of current) {
              if (!this.listeners.has(id)) this.listeners.set(id, new Map());
              this.listeners.get(id)!.set(me, hooks);
            }
          },
          stop: () => {
            for (const id of current) this.listeners.get(id)?.delete(me);
            current = new Set();
          },
        };
      },
      connect: async (relay, target) => {
        await new Promise((resolve) => setImmediate(resolve));
        const rid = toBase64Url(relay.publicKey);
        if (this.down.has(rid)) throw new Error('relay unreachable');
        const hooks = this.listeners.get(rid)?.get(toBase64Url(target));
        if (hooks === undefined) throw new Error('no listener');
        if (!hooks.decide(own)) throw new Error('rejected');
        const [a, b] = memoryPipePair();
        if (!this.tunnels.has(rid)) this.tunnels.set(rid, new Set());
        this.tunnels.get(rid)!.add(a).add(b);
        hooks.onTunnel(b, own);
        return a;
      },
    };
  }

  takeDown(relay: RelayRef): void {
    const rid = toBase64Url(relay.publicKey);
    this.down.add(rid);
    this.listeners.delete(rid);
    for (const pipe of this.tunnels.get(rid) ?? []) pipe.close('relay went away');
    this.tunnels.delete(rid);
  }
}
