import { Purpose as WirePurpose } from '../wire/generated/offset/transport/purpose.js';

/** The transport protocol version this build speaks; bumped on any incompatible wire change. */
export const TRANSPORT_VERSION = 1;

/** What a link is for. Bound into the handshake, so a link made for one cannot serve another. */
export const Purposes = ['relay', 'index-client', 'index-federation', 'node-to-node', 'app'] as const;
export type Purpose = (typeof Purposes)[number];

const toWire: Record<Purpose, WirePurpose> = {
  relay: WirePurpose.Relay,
  'index-client': WirePurpose.IndexClient,
  'index-federation': WirePurpose.IndexFederation,
  'node-to-node': WirePurpose.NodeToNode,
  app: WirePurpose.App,
};

export function purposeToWire(purpose: Purpose): WirePurpose {
  return toWire[purpose];
}

/** Null for a value this build does not know (a newer peer, or garbage). */
export function purposeFromWire(value: number): Purpose | null {
  for (const purpose of Purposes) if (toWire[purpose] === value) return purpose;
  return null;
}

/** Display name for a wire purpose value, including unknown ones, for error messages. */
export function purposeName(value: number): string {
  return purposeFromWire(value) ?? `unknown purpose ${value}`;
}

export const KEY_BYTES = 32;
export const AEAD_TAG_BYTES = 16;
/** Largest application frame by default (the original's intended, never enforced, limit). */
export const FRAME_BYTES_MAX_DEFAULT = 1 << 20;
/** Bytes a sealed message adds around its frames: envelope, batch table, padding, AEAD tag. */
export const SEALED_OVERHEAD_BYTES_MAX = 1024;
/** Handshake messages are a few hundred bytes; anything larger is refused before parsing. */
export const HANDSHAKE_MESSAGE_BYTES_MAX = 1024;
/** Padding is at most this many bytes per sealed message (the original's unbounded padding bug). */
export const PADDING_BYTES_MAX = 255;
/** Frames in one batch; bounds the per-message work a peer can cause. */
export const BATCH_FRAMES_MAX = 65_536;
/** Longest close or reject reason carried on the wire. */
export const REASON_BYTES_MAX = 256;
