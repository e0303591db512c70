import * as flatbuffers from 'flatbuffers';
import { OffsetError } from '../common/errors.js';
import { U64_MAX } from '../common/bytes.js';
import type { Rate } from '../common/rate.js';
import { ClientBody } from '../wire/generated/offset/index/client-body.js';
import { PeerBody } from '../wire/generated/offset/index/peer-body.js';
import { ServerBody } from '../wire/generated/offset/index/server-body.js';
import { MAX_CHAIN_LINKS, MAX_CURRENCY_BYTES, MAX_LINK_HASHES, MAX_ROUTE_LEN, MAX_ROUTES_PER_RESPONSE } from './constants.js';
import { FlatTable, readU128, u32 } from '../wire/flat_table.js';
import { verifyBuffer } from '../wire/verify.js';
import { internCurrency, readVerifiedMutationsUpdate } from './update-reader.js';
import { verifiedClientUpdateAt } from './update-verifier.js';
import type { TableName } from '../wire/generated/layouts.js';
import type {
  ChainLink,
  ForwardMutationsUpdate,
  IndexRoute,
  MutationsUpdate,
  RequestRoutes,
  ResponseRoutes,
} from './types.js';

/**
 * Encoders and decoders of every index message (schemas/index.fbs). Decoders take untrusted
 * bytes and return plain values or an IndexDecodeError; they never throw and never hand out a
 * half-read object. Fixed-size byte fields of decoded values are copies, so they outlive the
 * input buffer (uWS reuses its message buffers).
 */
export class IndexDecodeError extends OffsetError {
  constructor(message: string) {
    super('ERR_INDEX_DECODE', message);
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: IndexDecodeError };

export type ClientMsg = { kind: 'update'; update: MutationsUpdate } | { kind: 'routes'; request: RequestRoutes };
export type ServerMsg = { kind: 'time'; hash: Uint8Array } | { kind: 'routes'; response: ResponseRoutes };
export type PeerMsg = { kind: 'time'; hash: Uint8Array } | { kind: 'forward'; forward: ForwardMutationsUpdate };

// ---------------------------------------------------------------- decoding

function fail<T>(what: string): DecodeResult<T> {
  return { ok: false, error: new IndexDecodeError(what) };
}

/**
 * Peer bytes pass the schema verifier first (src/wire/verify.ts), then the bounds-checked reader
 * with the index limits. Worker messages come from this process's own encoder and skip the
 * schema pass (they are still read through the checked reader).
 */
function guarded<T>(what: string, bytes: Uint8Array, read: (root: FlatTable) => T | null, root?: TableName): DecodeResult<T> {
  if (root !== undefined) {
    const problem = verifyBuffer(bytes, root);
    if (problem !== null) return fail(`${what}: ${problem.message}`);
  }
  try {
    const value = read(FlatTable.root(bytes));
    return value === null ? fail(`${what}: invalid content`) : { ok: true, value };
  } catch (err) {
    return fail(`${what}: ${(err as Error).message}`);
  }
}

class Invalid extends Error {}
function need<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Invalid(`missing ${what}`);
  return value;
}
const copy = (view: Uint8Array | null, what: string): Uint8Array => need(view, what).slice();

function readRate(view: Uint8Array): Rate {
  return { mul: u32(view, 0), add: u32(view, 4) };
}

function readCurrency(table: FlatTable, index: number): string {
  // Bounds and terminator checked here (worker messages skip the schema pass), then the
  // name is validated and interned by the update reader's cache.
  const bytes = need(table.byteVector(index), 'currency');
  const end = bytes.byteOffset - table.bytes.byteOffset + bytes.byteLength;
  if (end >= table.bytes.byteLength || table.bytes[end] !== 0) throw new Invalid('currency not terminated');
  return need(internCurrency(table.bytes, end - bytes.byteLength - 4), 'a valid currency name');
}

/** A currency name: 1 to 16 bytes of printable ASCII. */
export function isValidCurrency(currency: string): boolean {
  return currency.length >= 1 && currency.length <= MAX_CURRENCY_BYTES && /^[\x21-\x7e]+$/.test(currency);
}

/**
 * A MutationsUpdate table of a verified buffer (see update-reader.ts). `copy`: its byte fields
 * are views of a private copy of the buffer (one copy in one go), so they outlive the input;
 * otherwise views of the input itself.
 */
function readMutationsUpdate(t: FlatTable, copy: boolean): MutationsUpdate {
  const bytes = copy ? t.bytes.slice() : t.bytes;
  return need(readVerifiedMutationsUpdate(bytes, t.pos), 'a valid update');
}

function readRequestRoutes(t: FlatTable): RequestRoutes {
  const exclude = t.struct(5, 64);
  const maxFee = t.struct(7, 16);
  return {
    requestId: copy(t.struct(0, 16), 'request id'),
    currency: readCurrency(t, 1),
    amount: readU128(need(t.struct(2, 16), 'amount')),
    source: copy(t.struct(3, 32), 'source'),
    destination: copy(t.struct(4, 32), 'destination'),
    exclude: exclude === null ? null : { from: exclude.slice(0, 32), to: exclude.slice(32, 64) },
    maxHops: t.u8(6),
    maxFee: maxFee === null ? null : readU128(maxFee),
    maxRoutes: t.u8(8),
  };
}

function readRoute(t: FlatTable): IndexRoute {
  const nodes = need(t.structVector(0, 32, MAX_ROUTE_LEN), 'nodes');
  if (nodes.length < 2) throw new Invalid('route too short');
  const rates = need(t.structVector(4, 8, MAX_ROUTE_LEN), 'rates');
  if (rates.length !== nodes.length - 2) throw new Invalid('one rate per forwarder');
  const keys: Uint8Array[] = [];
  for (let i = 0; i < nodes.length; i++) keys.push(nodes.bytes.slice(32 * i, 32 * i + 32));
  const forwarderRates: Rate[] = [];
  for (let i = 0; i < rates.length; i++) forwarderRates.push(readRate(rates.bytes.subarray(8 * i, 8 * i + 8)));
  return {
    nodes: keys,
    capacity: readU128(need(t.struct(1, 16), 'capacity')),
    amount: readU128(need(t.struct(2, 16), 'amount')),
    fee: readU128(need(t.struct(3, 16), 'fee')),
    forwarderRates,
  };
}

function readResponseRoutes(t: FlatTable): ResponseRoutes {
  return {
    requestId: copy(t.struct(0, 16), 'request id'),
    routes: (t.tables(1, MAX_ROUTES_PER_RESPONSE) ?? []).map(readRoute),
    complete: t.bool(2),
    truncated: t.bool(3),
  };
}

function readTimeHash(t: FlatTable): Uint8Array {
  return copy(t.struct(0, 32), 'hash');
}

function readChain(t: FlatTable): ChainLink[] {
  return (t.tables(1, MAX_CHAIN_LINKS + 1) ?? []).map((link) => {
    const hashes = need(link.structVector(0, 32, MAX_LINK_HASHES + 1), 'hashes');
    const out: Uint8Array[] = [];
    for (let i = 0; i < hashes.length; i++) out.push(hashes.bytes.slice(32 * i, 32 * i + 32));
    return out;
  });
}

function union(root: FlatTable): { type: number; body: FlatTable } {
  return { type: root.u8(0), body: need(root.table(1), 'body') };
}

function catching<T>(read: () => T): T | null {
  try {
    return read();
  } catch (err) {
    if (err instanceof Invalid) return null;
    throw err;
  }
}

/**
 * A client frame. By default the byte fields of the result are copies, so they outlive `bytes`.
 * With `borrow`, an update's byte fields are views of `bytes` (no copy): for a caller that owns
 * the frame and never reuses or modifies it while the update lives (the ingest path: a channel
 * hands each frame to its handler for good).
 */
export function decodeClientMessage(bytes: Uint8Array, options: { borrow?: boolean } = {}): DecodeResult<ClientMsg> {
  const copyFields = options.borrow !== true;
  // The common case, an update, through the verifier compiled for it; anything it is not sure
  // of (other bodies, invalid buffers or content) takes the generic path for verdict and message.
  const at = verifiedClientUpdateAt(bytes);
  if (at >= 0) {
    const update = readVerifiedMutationsUpdate(copyFields ? bytes.slice() : bytes, at);
    if (update !== null) return { ok: true, value: { kind: 'update', update } };
  }
  return guarded('ClientMessage', bytes, (root) =>
    catching((): ClientMsg | null => {
      const { type, body } = union(root);
      if (type === ClientBody.MutationsUpdate) return { kind: 'update', update: readMutationsUpdate(body, copyFields) };
      if (type === ClientBody.RequestRoutes) return { kind: 'routes', request: readRequestRoutes(body) };
      return null;
    }),
    'offset.index.ClientMessage',
  );
}

export function decodeServerMessage(bytes: Uint8Array): DecodeResult<ServerMsg> {
  return guarded('ServerMessage', bytes, (root) =>
    catching((): ServerMsg | null => {
      const { type, body } = union(root);
      if (type === ServerBody.TimeHash) return { kind: 'time', hash: readTimeHash(body) };
      if (type === ServerBody.ResponseRoutes) return { kind: 'routes', response: readResponseRoutes(body) };
      return null;
    }),
    'offset.index.ServerMessage',
  );
}

export function decodePeerMessage(bytes: Uint8Array): DecodeResult<PeerMsg> {
  return guarded('PeerMessage', bytes, (root) =>
    catching((): PeerMsg | null => {
      const { type, body } = union(root);
      if (type === PeerBody.TimeHash) return { kind: 'time', hash: readTimeHash(body) };
      if (type === PeerBody.ForwardMutationsUpdate) {
        return { kind: 'forward', forward: { update: readMutationsUpdate(need(body.table(0), 'update'), true), chain: readChain(body) } };
      }
      return null;
    }),
    'offset.index.PeerMessage',
  );
}

// ---------------------------------------------------------------- encoding

const sharedBuilder = new flatbuffers.Builder(1024);

function finish(build: (b: flatbuffers.Builder) => number): Uint8Array {
  const b = sharedBuilder;
  b.clear();
  b.finish(build(b));
  return b.asUint8Array().slice();
}

/**
 * The Builder keeps its write position private and offers only per-byte writes; keys, ids and
 * hashes (the bulk of a routes answer) are copied in one go instead. Covered by the codec round
 * trips in test/fuzz/index.test.ts.
 */
interface BuilderInternals {
  space: number;
  bb: flatbuffers.ByteBuffer;
}

function fixedStruct(b: flatbuffers.Builder, bytes: Uint8Array, size: number): number {
  if (bytes.byteLength !== size) throw new RangeError(`expected ${size} bytes`);
  b.prep(1, size);
  const inner = b as unknown as BuilderInternals;
  inner.space -= size;
  inner.bb.bytes().set(bytes, inner.space);
  return b.offset();
}

function u128Struct(b: flatbuffers.Builder, value: bigint): number {
  b.prep(8, 16);
  b.writeInt64(BigInt.asIntN(64, value & U64_MAX));
  b.writeInt64(BigInt.asIntN(64, value >> 64n));
  return b.offset();
}

function rateStruct(b: flatbuffers.Builder, rate: Rate): number {
  b.prep(4, 8);
  b.writeInt32(rate.add | 0);
  b.writeInt32(rate.mul | 0);
  return b.offset();
}

function unionTable(b: flatbuffers.Builder, type: number, body: number): number {
  b.startObject(2);
  b.addFieldOffset(1, body, 0);
  b.addFieldInt8(0, type, 0);
  return b.endObject();
}

function writeMutationsUpdate(b: flatbuffers.Builder, u: MutationsUpdate): number {
  const mutationOffsets = u.mutations.map((m) => {
    const currency = b.createString(m.currency);
    b.startObject(5);
    if (m.kind === 'update') {
      b.addFieldStruct(3, u128Struct(b, m.recvCapacity), 0);
      b.addFieldStruct(4, rateStruct(b, m.rate), 0);
    }
    b.addFieldOffset(2, currency, 0);
    b.addFieldStruct(1, fixedStruct(b, m.friend, 32), 0);
    b.addFieldInt8(0, m.kind === 'update' ? 0 : 1, 0);
    return b.endObject();
  });
  b.startVector(4, mutationOffsets.length, 4);
  for (let i = mutationOffsets.length - 1; i >= 0; i--) b.addOffset(mutationOffsets[i]);
  const mutations = b.endVector();
  b.startObject(8);
  b.addFieldInt64(3, u.sessionEpoch, 0n);
  b.addFieldInt64(5, u.counter, 0n);
  b.addFieldOffset(1, mutations, 0);
  b.addFieldStruct(0, fixedStruct(b, u.node, 32), 0);
  b.addFieldStruct(2, fixedStruct(b, u.timeHash, 32), 0);
  b.addFieldStruct(4, fixedStruct(b, u.sessionId, 16), 0);
  b.addFieldStruct(6, fixedStruct(b, u.randNonce, 16), 0);
  b.addFieldStruct(7, fixedStruct(b, u.signature, 64), 0);
  return b.endObject();
}

function writeRequestRoutes(b: flatbuffers.Builder, r: RequestRoutes): number {
  const currency = b.createString(r.currency);
  b.startObject(9);
  b.addFieldStruct(2, u128Struct(b, r.amount), 0);
  if (r.maxFee !== null) b.addFieldStruct(7, u128Struct(b, r.maxFee), 0);
  b.addFieldOffset(1, currency, 0);
  b.addFieldStruct(0, fixedStruct(b, r.requestId, 16), 0);
  b.addFieldStruct(3, fixedStruct(b, r.source, 32), 0);
  b.addFieldStruct(4, fixedStruct(b, r.destination, 32), 0);
  if (r.exclude !== null) {
    b.prep(1, 64);
    for (let i = 31; i >= 0; i--) b.writeInt8(r.exclude.to[i]);
    for (let i = 31; i >= 0; i--) b.writeInt8(r.exclude.from[i]);
    b.addFieldStruct(5, b.offset(), 0);
  }
  b.addFieldInt8(6, r.maxHops, 0);
  b.addFieldInt8(8, r.maxRoutes, 0);
  return b.endObject();
}

function writeResponseRoutes(b: flatbuffers.Builder, r: ResponseRoutes): number {
  const routeOffsets = r.routes.map((route) => {
    b.startVector(32, route.nodes.length, 1);
    for (let i = route.nodes.length - 1; i >= 0; i--) fixedStruct(b, route.nodes[i], 32);
    const nodes = b.endVector();
    b.startVector(8, route.forwarderRates.length, 4);
    for (let i = route.forwarderRates.length - 1; i >= 0; i--) rateStruct(b, route.forwarderRates[i]);
    const rates = b.endVector();
    b.startObject(5);
    b.addFieldStruct(1, u128Struct(b, route.capacity), 0);
    b.addFieldStruct(2, u128Struct(b, route.amount), 0);
    b.addFieldStruct(3, u128Struct(b, route.fee), 0);
    b.addFieldOffset(0, nodes, 0);
    b.addFieldOffset(4, rates, 0);
    return b.endObject();
  });
  b.startVector(4, routeOffsets.length, 4);
  for (let i = routeOffsets.length - 1; i >= 0; i--) b.addOffset(routeOffsets[i]);
  const routes = b.endVector();
  b.startObject(4);
  b.addFieldOffset(1, routes, 0);
  b.addFieldStruct(0, fixedStruct(b, r.requestId, 16), 0);
  b.addFieldInt8(2, r.complete ? 1 : 0, 0);
  b.addFieldInt8(3, r.truncated ? 1 : 0, 0);
  return b.endObject();
}

function writeTimeHash(b: flatbuffers.Builder, hash: Uint8Array): number {
  b.startObject(1);
  b.addFieldStruct(0, fixedStruct(b, hash, 32), 0);
  return b.endObject();
}

export function encodeClientMessage(msg: ClientMsg): Uint8Array {
  return finish((b) =>
    msg.kind === 'update'
      ? unionTable(b, ClientBody.MutationsUpdate, writeMutationsUpdate(b, msg.update))
      : unionTable(b, ClientBody.RequestRoutes, writeRequestRoutes(b, msg.request)),
  );
}

export function encodeServerMessage(msg: ServerMsg): Uint8Array {
  return finish((b) =>
    msg.kind === 'time'
      ? unionTable(b, ServerBody.TimeHash, writeTimeHash(b, msg.hash))
      : unionTable(b, ServerBody.ResponseRoutes, writeResponseRoutes(b, msg.response)),
  );
}

export function encodePeerMessage(msg: PeerMsg): Uint8Array {
  return finish((b) => {
    if (msg.kind === 'time') return unionTable(b, PeerBody.TimeHash, writeTimeHash(b, msg.hash));
    const update = writeMutationsUpdate(b, msg.forward.update);
    const links = msg.forward.chain.map((link) => {
      b.startVector(32, link.length, 1);
      for (let i = link.length - 1; i >= 0; i--) fixedStruct(b, link[i], 32);
      const hashes = b.endVector();
      b.startObject(1);
      b.addFieldOffset(0, hashes, 0);
      return b.endObject();
    });
    b.startVector(4, links.length, 4);
    for (let i = links.length - 1; i >= 0; i--) b.addOffset(links[i]);
    const chain = b.endVector();
    b.startObject(2);
    b.addFieldOffset(0, update, 0);
    b.addFieldOffset(1, chain, 0);
    return unionTable(b, PeerBody.ForwardMutationsUpdate, b.endObject());
  });
}
