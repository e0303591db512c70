import { Identity } from '../../src/crypto/identity.js';
import { silentLogger } from '../../src/common/log.js';
import { parseRelayConfig } from '../../src/relay/config.js';
import { RelayServer } from '../../src/relay/server.js';
import type { RelayAddress } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';

process.env.OFFSET_LOG_LEVEL ??= 'silent';

export interface TestRelay {
  server: RelayServer;
  address: RelayAddress;
  identity: Identity;
}

/** A relay on 127.0.0.1 with an OS-chosen port; `config` overrides defaults. */
export async function startRelay(config: Record<string, unknown> = {}): Promise<TestRelay> {
  const identity = Identity.generate();
  const server = await RelayServer.start({
    identity, host: '127.0.0.1', port: 0, logger: silentLogger, config: parseRelayConfig({ workers: 1, ...config }),
  });
  return { server, identity, address: { url: `ws://127.0.0.1:${server.port}/`, publicKey: identity.publicKey } };
}

/** Collects every message a tunnel receives, and resolves once `count` arrived. */
export function collect(tunnel: RelayTunnel): { messages: Uint8Array[]; waitFor(count: number): Promise<Uint8Array[]>; closed: Promise<string> } {
  const messages: Uint8Array[] = [];
  let waiter: { count: number; resolve: (m: Uint8Array[]) => void } | null = null;
  const closed = new Promise<string>((resolve) => tunnel.onClose((reason) => resolve(reason)));
  tunnel.onMessage((message) => {
    messages.push(new Uint8Array(message));
    if (waiter !== null && messages.length >= waiter.count) {
      const w = waiter;
      waiter = null;
      w.resolve(messages);
    }
  });
  return {
    messages,
    closed,
    waitFor(count: number) {
      if (messages.length >= count) return Promise.resolve(messages);
      return new Promise((resolve) => {
        waiter = { count, resolve };
      });
    },
  };
}

export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
