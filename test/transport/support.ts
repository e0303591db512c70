import { Identity } from '../../src/crypto/identity.js';
import { SecureChannel, type ChannelOptions } from '../../src/transport/channel.js';
import type { Purpose } from '../../src/transport/constants.js';
import { TransportError } from '../../src/transport/errors.js';
import { memoryPipePair, type FramePipe } from '../../src/transport/pipe.js';

export interface Pair {
  initiator: SecureChannel;
  responder: SecureChannel;
  initiatorIdentity: Identity;
  responderIdentity: Identity;
}

/** A channel pair over in-memory pipes; `wrap` may interpose on the initiator's pipe. */
export async function memoryPair(
  options: { initiator?: ChannelOptions; responder?: ChannelOptions; purpose?: Purpose; wrap?: (pipe: FramePipe) => FramePipe; wrapResponder?: (pipe: FramePipe) => FramePipe } = {},
): Promise<Pair> {
  const initiatorIdentity = Identity.generate();
  const responderIdentity = Identity.generate();
  const [a, b] = memoryPipePair();
  const [initiator, responder] = await Promise.all([
    SecureChannel.initiate(options.wrap ? options.wrap(a) : a, {
      identity: initiatorIdentity,
      expectedRemoteKey: responderIdentity.publicKey,
      purpose: options.purpose ?? 'node-to-node',
      options: options.initiator,
    }),
    SecureChannel.respond(options.wrapResponder ? options.wrapResponder(b) : b, { identity: responderIdentity, purpose: options.purpose ?? 'node-to-node', options: options.responder }),
  ]);
  return { initiator, responder, initiatorIdentity, responderIdentity };
}

/** Resolves with the reason the channel closed. */
export function closed(channel: SecureChannel): Promise<TransportError> {
  return new Promise((resolve) => channel.onClose(resolve));
}

/** Collects every frame a channel delivers, as strings. */
export function collect(channel: SecureChannel): string[] {
  const frames: string[] = [];
  channel.onFrame((frame) => frames.push(Buffer.from(frame).toString('utf8')));
  return frames;
}

/** Resolves once `predicate` holds, polling each turn (no timing assumptions; the tap timeout bounds it). */
/** Polls `predicate` until it holds; fails (rather than hanging the suite) after `waitMs`. */
export async function until(predicate: () => boolean, waitMs = 60_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A pipe wrapper whose outgoing messages pass through `transform` (return null to drop, an array to send several). */
export function interpose(pipe: FramePipe, transform: (message: Uint8Array, index: number) => Uint8Array | Uint8Array[] | null): FramePipe {
  let index = 0;
  return {
    send: (message) => {
      const out = transform(message, index++);
      if (out === null) return;
      for (const item of Array.isArray(out) ? out : [out]) pipe.send(item);
    },
    close: (reason) => pipe.close(reason),
    bufferedBytes: () => pipe.bufferedBytes(),
    onMessage: (handler) => pipe.onMessage(handler),
    onClose: (handler) => pipe.onClose(handler),
    onDrain: (handler) => pipe.onDrain?.(handler),
  };
}

/** A pipe wrapper that holds outgoing messages while `held` is true and sends them on release(). */
export function gate(pipe: FramePipe): { pipe: FramePipe; hold: () => void; release: () => void } {
  let held = false;
  const queue: Uint8Array[] = [];
  return {
    pipe: interpose(pipe, (message) => {
      if (!held) return message;
      queue.push(message);
      return null;
    }),
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const message of queue.splice(0)) pipe.send(message);
    },
  };
}
