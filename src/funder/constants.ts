/** Protocol limits of the payment core. Each is enforced on receipt as well as on sending. */

/**
 * Operations in one move token, counted across all currencies. The original used 16; every move
 * costs a signature, a verification and a synced write on the critical path, so a larger bound
 * carries many more payments per move. At most ~1 KiB per operation keeps a move well under the
 * 1 MiB frame limit.
 */
export const MAX_OPS_PER_MOVE = 256;
/** Keys in a full route (source and destination included). */
export const MAX_ROUTE_KEYS = 32;
/** Keys still to go in a received request: strictly fewer than a full route. */
export const MAX_REMAINING_ROUTE_KEYS = MAX_ROUTE_KEYS - 1;
/** Bytes in a currency name (at least 1). */
export const MAX_CURRENCY_BYTES = 16;
/** Currencies one side may announce to a friend. */
export const MAX_CURRENCIES_PER_FRIEND = 64;
/** Relays a node announces. */
export const MAX_RELAYS = 16;
/** Bytes in a relay address. */
export const MAX_ADDRESS_BYTES = 256;
/** Requests this node's apps may have queued towards one friend (sent up to MAX_OPS_PER_MOVE per move). */
export const MAX_PENDING_USER_REQUESTS = 1024;
/** Forwarded requests queued towards one friend before new ones are cancelled. */
export const MAX_QUEUED_REQUESTS = 4096;
/** Transactions an open invoice holds, of at most MAX_PAYMENTS_PER_INVOICE payments (source locks). */
export const MAX_TXS_PER_INVOICE = 256;
export const MAX_PAYMENTS_PER_INVOICE = 16;
/** Bytes in a friend's local name. */
export const MAX_NAME_BYTES = 64;

/**
 * Deadlines. A request must be answered by its deadline (the stamp of the move that carried it
 * plus its ttl) and, once answered, collected within COLLECT_WINDOW_MS after it. Each forwarder
 * gives the next hop a deadline HOP_TTL_MARGIN_MS earlier than its own, and gives up on a request
 * it sent half a margin after that request's deadline: it withdraws it downstream, releases it
 * upstream, and from then on refuses any answer to it as a protocol violation. Honest nodes never
 * disagree as long as their clocks differ, plus delivery time, by less than one margin.
 */
/** Lifetime a buyer gives a request, at least; longer routes get one margin per hop more. */
export const DEFAULT_REQUEST_TTL_MS = 60_000;
/** Longest lifetime a request may carry (checked on receipt): no request freezes credit longer. */
export const MAX_REQUEST_TTL_MS = 600_000;
/** How much earlier each hop's deadline is than the one before it. */
export const HOP_TTL_MARGIN_MS = 6_000;
/** A hop gives up on a request it sent this long after that request's deadline. */
export const GIVE_UP_AFTER_MS = HOP_TTL_MARGIN_MS / 2;
/** After a request's deadline, how long its seller has to collect once it answered. */
export const COLLECT_WINDOW_MS = 15 * 60_000;
