/**
 * The payment core as the node uses it.
 *
 * - Pure core: `handleEvent(state, env, event, nowMs)` returns the effects to execute (messages to
 *   friends, replies to apps) and the entities it changed. Events: a decoded friend message, a
 *   friend coming online or going offline, an app command, a timer tick (about once a second).
 * - Durable runtime: `FunderRuntime.open(dir, identity, sink)` rebuilds the state from RocksDB;
 *   `submit(event)` applies an event at once and hands its effects to the sink only after the
 *   changed records are synced (write-ahead, group commit). After a restart every friend starts
 *   offline; report each connection with `friendOnline` and the channel resumes by itself
 *   (retransmissions are recognised as duplicates).
 * - Store: binary records, each led by a format version byte (store/records.ts; key layout in
 *   store/persist.ts). A record that cannot be read stops `open` with FunderCorruptRecordError
 *   (ERR_FUNDER_CORRUPT_RECORD) naming its key; databases written before format 1 (V8-serialised
 *   records) are refused that way, not migrated.
 * - Wire: `decodeFriendMessage` / `encodeFriendMessage` (schemas/funder.fbs).
 * - Offline checks: `verifyReceipt(invoice, receipt)`, `verifyCommit(invoice, commit)`.
 */
export type {
  AppCommand, AppError, AppErrorCode, AppMessage, Effect, FunderEvent, FunderOutput, PaymentStatus, PeerFault,
  TransactionOutcome,
} from './api.js';
export { decodeFriendMessage, encodeFriendMessage, FunderDecodeError } from './codec.js';
export { handleEvent, type CoreEnv } from './handler.js';
export { verifyCommit, verifyReceipt, type ReceiptError } from './receipt.js';
export { FunderRuntime, FunderWrongIdentityError, type RuntimeOptions, type RuntimeSink } from './runtime.js';
export { newFunderState, type FunderState } from './state.js';
export { FunderCorruptRecordError } from './store/persist.js';
export type * from './types.js';
