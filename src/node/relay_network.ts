import type { Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { RelayListenPool, openTunnel, type RelayAddress } from '../relay/client.js';
import type { ListenControl, ListenHooks, RelayNetwork, RelayRef } from './channeler.js';

/** The channeler's view of the relay client: listen pools and tunnels to friends. */

const toAddress = (relay: RelayRef): RelayAddress => ({ url: `ws://${relay.address}/`, publicKey: relay.publicKey });

export function relayNetwork(identity: Identity, logger: Logger, backoff?: { baseMs?: number; maxMs?: number; stableMs?: number }): RelayNetwork {
  return {
    listen(hooks: ListenHooks): ListenControl {
      const pool = new RelayListenPool({
        identity,
        logger,
        backoff,
        decide: (caller) => (hooks.decide(caller) ? 'accept' : 'reject'),
        onTunnel: (tunnel, caller) => hooks.onTunnel(tunnel, caller),
      });
      return {
        setRelays: (relays) => pool.setRelays(relays.map(toAddress)),
        stop: () => pool.stop(),
      };
    },
    connect(relay, target, timeoutMs) {
      return openTunnel(toAddress(relay), target, { identity, logger, timeoutMs });
    },
  };
}
