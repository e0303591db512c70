/**
 * Every signature this system makes is over `DOMAIN_PREFIX ‖ label ‖ 0x00 ‖ message`,
 * with one label per message kind. A signature made for one purpose therefore never verifies
 * for another, even though one identity key signs handshakes, move tokens, index updates,
 * payment responses and receipts. Labels are never reused or renamed once shipped.
 */
export const DOMAIN_PREFIX = 'offset-ts/v1/';

export const SigningDomain = {
  /** Move token: commits to the previous token, operations, balances and counters. */
  MoveToken: 'funder.move-token',
  /** Reset terms offered after a channel inconsistency. */
  ResetTerms: 'funder.reset-terms',
  /** The seller's response to a payment request (also the receipt signature). */
  FundsResponse: 'funder.funds-response',
  /** The buyer's commitment handed to the seller out of band. */
  Commit: 'funder.commit',
  /** A node's mutations update sent to an index server. */
  MutationsUpdate: 'index.mutations-update',
  /** Handshake binding of an Ed25519 identity to a Noise session. */
  Handshake: 'transport.handshake',
} as const;

export type SigningDomain = (typeof SigningDomain)[keyof typeof SigningDomain];

const encodedPrefixes = new Map<string, Uint8Array>();

/** The bytes placed in front of every signed message of `domain`. */
export function domainPrefix(domain: SigningDomain): Uint8Array {
  let prefix = encodedPrefixes.get(domain);
  if (prefix === undefined) {
    prefix = new Uint8Array(Buffer.from(`${DOMAIN_PREFIX}${domain}\0`, 'utf8'));
    encodedPrefixes.set(domain, prefix);
  }
  return prefix;
}
