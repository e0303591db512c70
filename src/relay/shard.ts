import uws from '@trufflesuite/uws-js-unofficial';
import type { MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { assert } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import {
  CrossBatchWriter, CrossKind, Reason, decodeClientMessage, decodeCrossBatch, decodeTunnelFrame, encodeRelayMessage,
  encodeTunnelClose, encodeTunnelCredit, encodeWorkerMessage, decodeWorkerMessage, type ConnAddr, type CrossItem,
  type RelayMsg, type WorkerMsg,
} from './codec.js';
import { creditBatchBytes, type RelayConfig } from './config.js';
import { CreditLedger, SendWindow } from './flow.js';
import { TokenBucket } from './rate_limit.js';
import type { LinkResponder, LinkSession, ResponderFactory } from './secure_link.js';
import { SharedCounters } from './shared_counters.js';
import { ShardStats } from './shard_stats.js';
import { TunnelBody } from '../wire/generated/offset/relay/tunnel-body.js';
import { tunnelDataTag } from './tunnel_fast_path.js';

/**
 * One relay shard: a uWebSockets.js app on the shared port (SO_REUSEPORT) inside a worker
 * thread. It runs the Noise handshakes of its connections, the per-connection limits and
 * deadlines, and the data plane of its tunnels. It never decides a match: the first message of
 * each connection goes to the main thread's matching core, which answers with Notify, Splice or
 * EndConn (see server.ts).
 *
 * Connection life cycle (one state per connection):
 *   handshake -> init -> listener                (control messages, sealed)
 *                     -> waiting -> tunnel       (connect / accept; then clear TunnelFrames)
 *
 * Why the relay stops encrypting after the splice: the tunnel payload is the two nodes' own
 * end-to-end channel (purpose 'node-to-node'), which authenticates and encrypts every frame with
 * strictly sequential nonces. The relay layer would only add a second encryption of ciphertext.
 * Someone who injects, alters, drops or reorders a frame on the node-to-relay hop breaks the
 * inner AEAD and the nodes close the channel: the same outcome as tampering with a relay-layer
 * ciphertext, so no property is lost. What the clear hop exposes is metadata the relay already
 * sees (sizes, timing) plus the TunnelFrame kind. In exchange the relay does no per-frame crypto,
 * which is what lets one core forward hundreds of thousands of frames a second.
 *
 * Data plane. Each tunnel direction has a credit window (flow.ts). A frame from sender S goes to
 * receiver R with one `send` (same shard) or is copied once out of the uWS receive buffer into a
 * CrossBatch that is transferred to R's shard at the end of the event-loop turn. R's shard
 * accounts it in R's ledger and returns credit to S (directly, or as a Credit item back to S's
 * shard) as R's outbound buffer drains. Frames of a tunnel are never dropped: a receiver whose
 * backlog passes outboundQueueBytesMax is cut off (QueueFull), which closes the tunnel.
 */

type State = 'handshake' | 'init' | 'listener' | 'waiting' | 'tunnel' | 'closed';

interface Conn {
  readonly id: number;
  readonly ipBucket: number;
  ws: uws.WebSocket<ConnData> | null;
  state: State;
  responder: LinkResponder | null;
  session: LinkSession | null;
  key: Uint8Array | null;
  deadlineMs: number;
  lastRecvMs: number;
  lastSendMs: number;
  /** Told the main thread about it (so it must hear when the connection goes). */
  registered: boolean;
  handshakeCounted: boolean;
  frames: TokenBucket;
  bytes: TokenBucket;
  // Tunnel state.
  peerLocal: Conn | null;
  peerRemote: ConnAddr | null;
  window: SendWindow | null;
  ledger: CreditLedger | null;
  /** Cross-shard items that arrived before this shard processed the Splice. */
  early: CrossItem[] | null;
  /** Frames for this receiver gathered during the current event-loop turn (see deliver). */
  outQueue: Uint8Array[] | null;
  outQueuedBytes: number;
}

interface ConnData {
  conn: Conn;
}

export interface ShardOptions {
  workerIndex: number;
  host: string;
  port: number;
  config: RelayConfig;
  counters: SharedCounters;
  /** To the main thread (matching core, directory, stats). */
  mainPort: MessagePort;
  /** To every shard, indexed by worker index (this shard's own entry is unused). */
  peerPorts: (MessagePort | null)[];
  responderFactory: ResponderFactory;
  logger: Logger;
}

const TICK_MS = 250;
/** Frames at least this large are written at once rather than gathered (see deliver). */
const DIRECT_SEND_BYTES = 8 * 1024;
/** A receiver's gathered frames are written once this many bytes are waiting. */
const OUT_BATCH_BYTES = 64 * 1024;
const CLOSE_CODE_BASE = 4000;

export class RelayShard {
  private readonly conns = new Map<number, Conn>();
  private nextId = 1;
  private listenSocket: uws.us_listen_socket | null = null;
  private readonly app: uws.TemplatedApp;
  private readonly accepts: TokenBucket;
  private readonly batches: (CrossBatchWriter | null)[];
  private flushScheduled = false;
  private readonly outPending = new Set<Conn>();
  private outFlushScheduled = false;
  private draining = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly creditBatch: number;
  private readonly heartbeatMs: number;
  readonly stats = new ShardStats();

  constructor(private readonly o: ShardOptions) {
    const { limits } = o.config;
    this.creditBatch = creditBatchBytes(limits);
    this.heartbeatMs = Math.min(10_000, o.config.timeouts.listenerIdleMs / 3);
    const shareOfAccepts = limits.acceptsPerSecond / o.config.workers;
    this.accepts = new TokenBucket(shareOfAccepts, Math.max(1, shareOfAccepts), performance.now());
    this.batches = o.peerPorts.map((port) => (port === null ? null : new CrossBatchWriter()));
    this.app = uws.App();
    this.app.ws<ConnData>('/*', {
      // One byte over the limit still reaches the shard, which cuts the sender with FrameTooLarge
      // (counted); uWS closes anything larger itself, without a code that says why (1006).
      maxPayloadLength: limits.frameBytesMax + 1,
      // uWS drops a send over maxBackpressure; the shard cuts a receiver off at
      // outboundQueueBytesMax first, so uWS's limit sits above it by one frame and never drops.
      maxBackpressure: limits.outboundQueueBytesMax + limits.frameBytesMax + 64 * 1024,
      closeOnBackpressureLimit: 0,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, message) => this.message(ws.getUserData().conn, message),
      drain: (ws) => this.drain(ws.getUserData().conn),
      close: (ws, code) => this.closed(ws.getUserData().conn, code),
    });
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('relay: WebSocket only', true);
    });
    o.mainPort.on('message', (data: Uint8Array) => this.fromMain(data));
    o.peerPorts.forEach((port, index) => port?.on('message', (data: ArrayBuffer) => this.fromPeer(index, data)));
  }

  start(): Promise<number> {
    // Port 0 would get a port of this shard's own, shared with no other shard, and a listen
    // socket without SO_REUSEADDR, whose connections keep a restarted relay off the port (the
    // main thread resolves 0 first, see RelayServer.spawn).
    assert(this.o.port !== 0, 'a shard listens on a port chosen for all shards');
    return new Promise((resolve, reject) => {
      this.app.listen(this.o.host, this.o.port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${this.o.host}:${this.o.port}`));
          return;
        }
        this.listenSocket = socket;
        this.timer = setInterval(() => this.tick(), TICK_MS);
        resolve(uws.us_socket_local_port(socket as unknown as uws.us_socket));
      });
    });
  }

  // ---------------- accepting ----------------

  private upgrade(res: uws.HttpResponse, req: uws.HttpRequest, context: uws.us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    const refusal = this.admit(ip);
    if (refusal !== null) {
      this.stats.refused(refusal);
      res.writeStatus('503 Service Unavailable').end(refusal, true);
      return;
    }
    const { limits } = this.o.config;
    const now = performance.now();
    const conn: Conn = {
      id: this.allocateId(), ipBucket: this.o.counters.ipBucket(ip), ws: null, state: 'handshake',
      responder: this.o.responderFactory(), session: null, key: null,
      deadlineMs: now + this.o.config.timeouts.handshakeMs, lastRecvMs: now, lastSendMs: now, registered: false, handshakeCounted: true,
      frames: new TokenBucket(limits.framesPerSecondMax, limits.framesPerSecondMax, now),
      bytes: new TokenBucket(limits.bytesPerSecondMax, limits.bytesPerSecondMax, now),
      peerLocal: null, peerRemote: null, window: null, ledger: null, early: null, outQueue: null, outQueuedBytes: 0,
    };
    this.o.counters.connectionOpened(conn.ipBucket);
    res.upgrade<ConnData>({ conn }, key, protocol, extensions, context);
  }

  /** Null to accept, or the refusal reason (a metric label). */
  private admit(ip: string): string | null {
    if (this.draining) return 'draining';
    const { limits } = this.o.config;
    const c = this.o.counters;
    if (!this.accepts.take(1, performance.now())) return 'accept_rate';
    if (c.connections() >= limits.connectionsMax) return 'connections_max';
    if (c.connectionsFromBucket(c.ipBucket(ip)) >= limits.connectionsPerIpMax) return 'per_ip';
    if (!c.tryStartHandshake(limits.handshakesInProgressMax)) return 'handshakes_max';
    return null;
  }

  private allocateId(): number {
    // Ids are u32 and never 0; wrap-around skips ids still in use.
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      if (!this.conns.has(id)) return id;
    }
  }

  private open(ws: uws.WebSocket<ConnData>): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    this.conns.set(conn.id, conn);
    this.stats.opened();
  }

  // ---------------- receiving ----------------

  private message(conn: Conn, message: ArrayBuffer): void {
    if (conn.state === 'closed') return;
    const bytes = new Uint8Array(message);
    if (bytes.byteLength > this.o.config.limits.frameBytesMax) {
      this.cut(conn, Reason.FrameTooLarge);
      return;
    }
    const now = performance.now();
    if (!conn.frames.take(1, now) || !conn.bytes.take(bytes.byteLength, now)) {
      this.cut(conn, Reason.RateLimited);
      return;
    }
    conn.lastRecvMs = now;
    switch (conn.state) {
      case 'tunnel':
        this.tunnelMessage(conn, bytes);
        return;
      case 'handshake':
        this.handshakeMessage(conn, bytes);
        return;
      case 'init':
      case 'listener':
      case 'waiting':
        // While waiting for Connected/Failed only the channel's own keepalives and rekeys may
        // arrive; a relay message then is Malformed (controlMessage checks the state).
        this.controlMessage(conn, bytes);
        return;
    }
  }

  private handshakeMessage(conn: Conn, bytes: Uint8Array): void {
    const step = conn.responder!.receive(bytes);
    for (const reply of step.replies) this.sendRaw(conn, reply);
    if (step.kind === 'continue') return;
    this.endHandshake(conn);
    if (step.kind === 'failed') {
      this.stats.handshakeFailed();
      this.cut(conn, Reason.HandshakeFailed);
      return;
    }
    conn.session = step.session;
    conn.key = new Uint8Array(step.remoteKey);
    conn.state = 'init';
    conn.deadlineMs = performance.now() + this.o.config.timeouts.initMs;
  }

  private endHandshake(conn: Conn): void {
    conn.responder = null;
    if (conn.handshakeCounted) {
      conn.handshakeCounted = false;
      this.o.counters.handshakeEnded();
    }
  }

  private controlMessage(conn: Conn, bytes: Uint8Array): void {
    const opened = conn.session!.open(bytes, performance.now());
    if (opened === null) {
      this.cut(conn, Reason.Malformed);
      return;
    }
    for (const reply of opened.replies) this.sendRaw(conn, reply);
    if (opened.goodbye) {
      this.closeWith(conn, Reason.None);
      return;
    }
    for (const frame of opened.frames) {
      if (conn.state !== 'init' && conn.state !== 'listener') {
        this.cut(conn, Reason.Malformed);
        return;
      }
      const decoded = decodeClientMessage(frame);
      if (!decoded.ok) {
        this.stats.malformed();
        this.cut(conn, Reason.Malformed);
        return;
      }
      const msg = decoded.value;
      if (conn.state === 'init') {
        if (msg.kind === 'reject' || msg.kind === 'keepalive') {
          this.cut(conn, Reason.Malformed);
          return;
        }
        conn.state = msg.kind === 'listen' ? 'listener' : 'waiting';
        conn.deadlineMs = Infinity;
        conn.registered = true;
        this.toMain({ kind: 'conn-init', conn: this.addr(conn), key: conn.key!, init: msg });
        continue;
      }
      // A listener may only reject callers and keep itself alive.
      if (msg.kind === 'reject') {
        this.toMain({ kind: 'listener-reject', conn: this.addr(conn), caller: msg.caller });
      } else if (msg.kind === 'keepalive') {
        this.sendControl(conn, { kind: 'keepalive' });
      } else {
        this.cut(conn, Reason.Malformed);
        return;
      }
    }
  }

  private tunnelMessage(conn: Conn, bytes: Uint8Array): void {
    const kind = tunnelKind(bytes);
    if (kind === TunnelBody.Data) {
      if (!conn.window!.consume(bytes.byteLength)) {
        this.cut(conn, Reason.WindowExceeded);
        return;
      }
      this.stats.forwarded(bytes.byteLength);
      if (conn.peerLocal !== null) {
        this.deliver(conn.peerLocal, bytes, false);
      } else {
        this.queueCross(conn.peerRemote!, { dst: conn.peerRemote!.id, kind: CrossKind.Data, frame: bytes, credit: 0, reason: Reason.None });
      }
      return;
    }
    if (kind === TunnelBody.Close) {
      // The client ends its tunnel: its peer hears PeerClosed, the client gets its close echoed.
      this.closeWith(conn, Reason.None);
      return;
    }
    // Credit flows only from the relay; anything else is a protocol violation.
    this.stats.malformed();
    this.cut(conn, Reason.Malformed);
  }

  /**
   * Hands a Data frame to receiver `r`. A uWS send to a socket other than the one whose callback
   * is running is not corked, so each would be its own system call; small frames are therefore
   * gathered per receiver during the event-loop turn (copied: the uWS receive buffer dies with
   * the callback) and written in one corked burst at its end or once 64 KiB are waiting. Large
   * frames go out at once unless smaller ones are queued ahead of them (order is kept).
   * `owned`: the bytes outlive this call (cross-shard frames), so no copy is needed.
   */
  private deliver(r: Conn, frame: Uint8Array, owned: boolean): void {
    if (r.state !== 'tunnel' || r.ws === null) return;
    if (r.outQueue === null && frame.byteLength >= DIRECT_SEND_BYTES) {
      r.ws.send(frame, true);
      this.afterSend(r, frame.byteLength);
      return;
    }
    if (r.outQueue === null) {
      r.outQueue = [];
      this.outPending.add(r);
      if (!this.outFlushScheduled) {
        this.outFlushScheduled = true;
        setImmediate(() => this.flushAllOut());
      }
    }
    r.outQueue.push(owned ? frame : frame.slice());
    r.outQueuedBytes += frame.byteLength;
    if (r.outQueuedBytes >= OUT_BATCH_BYTES) this.flushOut(r);
  }

  private flushAllOut(): void {
    this.outFlushScheduled = false;
    for (const r of this.outPending) this.flushOut(r);
    this.outPending.clear();
  }

  private flushOut(r: Conn): void {
    const queue = r.outQueue;
    const bytes = r.outQueuedBytes;
    r.outQueue = null;
    r.outQueuedBytes = 0;
    this.outPending.delete(r);
    const ws = r.ws;
    if (queue === null || r.state !== 'tunnel' || ws === null) return;
    if (queue.length === 1) ws.send(queue[0], true);
    else ws.cork(() => {
      for (const frame of queue) ws.send(frame, true);
    });
    this.afterSend(r, bytes);
  }

  /** Accounts bytes handed to `r`'s socket: the queue cap, then credit for what has drained. */
  private afterSend(r: Conn, bytes: number): void {
    r.ledger!.forwarded(bytes);
    const buffered = r.ws!.getBufferedAmount();
    if (buffered > this.o.config.limits.outboundQueueBytesMax) {
      this.cut(r, Reason.QueueFull);
      return;
    }
    const credit = r.ledger!.take(buffered, false);
    if (credit > 0) this.returnCredit(r, credit);
  }

  private returnCredit(receiver: Conn, credit: number): void {
    const sender = receiver.peerLocal;
    if (sender !== null) {
      this.grant(sender, credit);
    } else if (receiver.peerRemote !== null) {
      this.queueCross(receiver.peerRemote, { dst: receiver.peerRemote.id, kind: CrossKind.Credit, frame: null, credit, reason: Reason.None });
    }
  }

  private grant(sender: Conn, credit: number): void {
    if (sender.state !== 'tunnel' || sender.ws === null) return;
    sender.window!.grant(credit);
    sender.ws.send(encodeTunnelCredit(credit), true);
    this.stats.creditSent();
  }

  private drain(conn: Conn): void {
    if (conn.state !== 'tunnel' || conn.ws === null) return;
    const credit = conn.ledger!.take(conn.ws.getBufferedAmount(), true);
    if (credit > 0) this.returnCredit(conn, credit);
  }

  // ---------------- cross-shard ----------------

  private queueCross(peer: ConnAddr, item: CrossItem): void {
    const batch = this.batches[peer.worker];
    if (batch === null || batch === undefined) return;
    batch.add(item);
    if (batch.bytes >= 256 * 1024) this.flushTo(peer.worker);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (let w = 0; w < this.batches.length; w++) this.flushTo(w);
  }

  private flushTo(worker: number): void {
    const batch = this.batches[worker];
    if (batch === null || batch.count === 0) return;
    const buffer = batch.take();
    this.o.peerPorts[worker]!.postMessage(buffer, [buffer]);
    this.stats.batchSent();
  }

  private fromPeer(worker: number, data: ArrayBuffer): void {
    const decoded = decodeCrossBatch(new Uint8Array(data));
    if (!decoded.ok) {
      this.o.logger.error({ worker, err: decoded.error.message }, 'undecodable cross-shard batch');
      return;
    }
    for (const item of decoded.value) this.crossItem(item);
  }

  private crossItem(item: CrossItem): void {
    const conn = this.conns.get(item.dst);
    if (conn === undefined || conn.state === 'closed') return;
    if (conn.state === 'waiting') {
      // The peer's shard saw its Splice first; hold the items (bounded by the peer's window).
      if (item.kind === CrossKind.Close) {
        this.failWaiting(conn, Reason.PeerClosed);
        return;
      }
      conn.early ??= [];
      // Frames are views into the transferred batch, which this thread now owns.
      conn.early.push(item);
      return;
    }
    if (conn.state !== 'tunnel') return;
    switch (item.kind) {
      case CrossKind.Data:
        this.deliver(conn, item.frame!, true);
        return;
      case CrossKind.Credit:
        this.grant(conn, item.credit);
        return;
      case CrossKind.Close:
        this.closeWith(conn, item.reason === Reason.None ? Reason.PeerClosed : item.reason);
        return;
    }
  }

  // ---------------- main thread ----------------

  private toMain(msg: WorkerMsg): void {
    this.o.mainPort.postMessage(encodeWorkerMessage(msg));
  }

  private fromMain(data: Uint8Array): void {
    const decoded = decodeWorkerMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (!decoded.ok) {
      this.o.logger.error({ err: decoded.error.message }, 'undecodable message from the main thread');
      return;
    }
    const msg = decoded.value;
    switch (msg.kind) {
      case 'notify': {
        const conn = this.conns.get(msg.conn.id);
        if (conn?.state === 'listener') this.sendControl(conn, { kind: 'incoming', caller: msg.caller });
        return;
      }
      case 'splice':
        this.splice(msg.conn.id, msg.peer, msg.peerKey);
        return;
      case 'end-conn': {
        const conn = this.conns.get(msg.conn.id);
        if (conn === undefined) return;
        if (conn.state === 'waiting') this.failWaiting(conn, msg.reason);
        else this.cut(conn, msg.reason);
        return;
      }
      case 'drain':
        this.startDrain(msg.graceMs);
        return;
      case 'stats-request':
        this.toMain({ kind: 'stats', worker: this.o.workerIndex, json: JSON.stringify(this.snapshot()) });
        return;
      case 'stop':
        this.stop();
        return;
      default:
        this.o.logger.error({ kind: msg.kind }, 'unexpected message from the main thread');
    }
  }

  private splice(id: number, peer: ConnAddr, peerKey: Uint8Array): void {
    const conn = this.conns.get(id);
    if (conn !== undefined && conn.state === 'tunnel' && conn.peerLocal?.id === peer.id) return; // linked with its peer
    if (conn === undefined || conn.state !== 'waiting') {
      // This half went away before the splice: end the other half.
      this.closePeer(peer, Reason.PeerClosed);
      return;
    }
    if (peer.worker === this.o.workerIndex) {
      const local = this.conns.get(peer.id);
      if (local === undefined || local.state !== 'waiting') {
        this.failWaiting(conn, Reason.PeerClosed);
        return;
      }
      // Both halves live here: link them in one step, so neither can forward to a half that is
      // not yet a tunnel (the second Splice message then finds them linked).
      this.becomeTunnel(conn, peerKey);
      this.becomeTunnel(local, conn.key!);
      conn.peerLocal = local;
      local.peerLocal = conn;
      this.stats.tunnelOpened(); // one count per half, as for halves on different shards
      this.stats.tunnelOpened();
      return;
    }
    this.becomeTunnel(conn, peerKey);
    conn.peerRemote = peer;
    this.stats.tunnelOpened();
    const early = conn.early;
    conn.early = null;
    for (const item of early ?? []) this.crossItem(item);
  }

  private becomeTunnel(conn: Conn, peerKey: Uint8Array): void {
    this.sendControl(conn, { kind: 'connected', peer: peerKey, windowBytes: this.o.config.limits.tunnelWindowBytes });
    conn.state = 'tunnel';
    conn.session = null;
    conn.window = new SendWindow(this.o.config.limits.tunnelWindowBytes);
    conn.ledger = new CreditLedger(this.creditBatch);
  }

  private closePeer(peer: ConnAddr, why: Reason): void {
    if (peer.worker === this.o.workerIndex) {
      const local = this.conns.get(peer.id);
      if (local !== undefined) {
        if (local.state === 'waiting') this.failWaiting(local, why);
        else this.closeWith(local, why);
      }
      return;
    }
    this.queueCross(peer, { dst: peer.id, kind: CrossKind.Close, frame: null, credit: 0, reason: why });
  }

  // ---------------- closing ----------------

  private failWaiting(conn: Conn, why: Reason): void {
    this.sendControl(conn, { kind: 'failed', reason: why });
    this.closeWith(conn, why);
  }

  /** Cuts a connection off for a limit or protocol violation, counting the reason. */
  private cut(conn: Conn, why: Reason): void {
    this.closeWith(conn, why);
  }

  /**
   * Closes `conn` with `why` and, for a tunnel, its peer (with PeerClosed). A tunnel half is sent
   * a Close frame first; the WebSocket close code is 4000 + reason. The close is graceful (frames
   * already queued still go out) except for QueueFull, whose backlog is what is being shed.
   */
  private closeWith(conn: Conn, why: Reason): void {
    if (conn.state === 'closed') return;
    this.stats.closedFor(why);
    if (conn.state === 'tunnel' && why !== Reason.QueueFull) this.flushOut(conn); // frames already accepted go first
    const ws = conn.ws;
    if (conn.state === 'tunnel') {
      if (ws !== null && why !== Reason.QueueFull) ws.send(encodeTunnelClose(why), true);
      this.detachPeer(conn);
    }
    this.finish(conn);
    conn.ws = null;
    if (ws === null) return;
    if (why === Reason.QueueFull) ws.close();
    else ws.end(CLOSE_CODE_BASE + why, Reason[why] ?? 'closed');
  }

  private detachPeer(conn: Conn): void {
    const local = conn.peerLocal;
    const remote = conn.peerRemote;
    conn.peerLocal = null;
    conn.peerRemote = null;
    if (local !== null) {
      local.peerLocal = null;
      this.closeWith(local, Reason.PeerClosed);
    } else if (remote !== null) {
      this.queueCross(remote, { dst: remote.id, kind: CrossKind.Close, frame: null, credit: 0, reason: Reason.PeerClosed });
    }
  }

  /** Bookkeeping shared by every way a connection ends (our close or the socket's). */
  private finish(conn: Conn): void {
    if (conn.state === 'closed') return;
    if (conn.state === 'tunnel') this.stats.tunnelClosed();
    const tellMain = conn.registered && (conn.state === 'listener' || conn.state === 'waiting');
    conn.state = 'closed';
    this.endHandshake(conn);
    if (tellMain) this.toMain({ kind: 'conn-gone', conn: this.addr(conn) });
  }

  private closed(conn: Conn, code: number): void {
    // Called for every socket, whoever closed it; the socket is unusable from here on.
    conn.ws = null;
    if (conn.state !== 'closed') {
      this.stats.closedFor(Reason.None, code === 1006);
      if (conn.state === 'tunnel') this.detachPeer(conn);
      this.finish(conn);
    }
    if (this.conns.delete(conn.id)) {
      this.o.counters.connectionClosed(conn.ipBucket);
      this.stats.closed();
    }
  }

  // ---------------- sending ----------------

  private sendRaw(conn: Conn, bytes: Uint8Array): void {
    if (conn.ws === null) return;
    conn.lastSendMs = performance.now();
    conn.ws.send(bytes, true);
    if (conn.ws.getBufferedAmount() > this.o.config.limits.outboundQueueBytesMax) this.cut(conn, Reason.QueueFull);
  }

  private sendControl(conn: Conn, msg: RelayMsg): void {
    if (conn.session === null) return;
    this.sendRaw(conn, conn.session.seal(encodeRelayMessage(msg), performance.now()));
  }

  private addr(conn: Conn): ConnAddr {
    return { worker: this.o.workerIndex, id: conn.id };
  }

  // ---------------- timers, drain, stop ----------------

  private tick(): void {
    const now = performance.now();
    const idleMs = this.o.config.timeouts.listenerIdleMs;
    for (const conn of this.conns.values()) {
      switch (conn.state) {
        case 'handshake':
          if (now >= conn.deadlineMs) {
            this.stats.handshakeFailed();
            this.cut(conn, Reason.HandshakeFailed);
          }
          break;
        case 'init':
          if (now >= conn.deadlineMs) this.cut(conn, Reason.Idle);
          break;
        case 'listener':
          if (now - conn.lastRecvMs >= idleMs) this.cut(conn, Reason.Idle);
          else if (now - conn.lastSendMs >= this.heartbeatMs || conn.session!.rekeyDue(now)) {
            // The client's channel closes a link that stays silent; keep ours talking.
            this.sendRaw(conn, conn.session!.heartbeat(now));
          }
          break;
        case 'tunnel':
          // The nodes' channel sends keepalives; a half that stays silent this long is gone.
          if (now - conn.lastRecvMs >= this.o.config.timeouts.tunnelIdleMs) {
            this.cut(conn, Reason.Idle);
            break;
          }
          // A sender near the end of its window must not wait for a batch that never fills.
          if (conn.ws !== null && conn.ledger!.owed > 0) {
            const credit = conn.ledger!.take(conn.ws.getBufferedAmount(), true);
            if (credit > 0) this.returnCredit(conn, credit);
          }
          break;
        default:
          break;
      }
    }
  }

  private startDrain(graceMs: number): void {
    if (this.draining) return;
    this.draining = true;
    // The listen socket closes first: nothing new arrives while clients are told to move on, and
    // the shard's side of every connection, closed after the grace period, lingers in TIME_WAIT
    // without keeping a restarted relay off the port (the listen socket has SO_REUSEADDR, which
    // accepted sockets inherit; a socket of a killed relay is closed by the kernel the same way).
    this.closeListenSocket();
    for (const conn of this.conns.values()) {
      if (conn.state === 'listener' || conn.state === 'waiting' || conn.state === 'init') {
        this.sendControl(conn, { kind: 'draining', graceMs });
      }
    }
    setTimeout(() => this.closeAll(Reason.Draining), graceMs).unref();
  }

  private closeAll(why: Reason): void {
    for (const conn of [...this.conns.values()]) {
      if (conn.state === 'waiting') this.failWaiting(conn, why);
      else this.closeWith(conn, why);
    }
    this.flush();
  }

  private closeListenSocket(): void {
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Closes everything so the worker can exit cleanly (uWS aborts on open handles). */
  stop(): void {
    this.closeListenSocket();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const conn of [...this.conns.values()]) {
      conn.state = 'closed';
      const ws = conn.ws;
      conn.ws = null;
      if (ws !== null) ws.close();
    }
    this.flush();
    this.o.mainPort.postMessage(encodeWorkerMessage({ kind: 'stats', worker: this.o.workerIndex, json: JSON.stringify(this.snapshot()) }));
    for (const port of this.o.peerPorts) port?.close();
    this.o.mainPort.close();
  }

  snapshot(): Record<string, unknown> {
    const byState: Record<string, number> = { handshake: 0, init: 0, listener: 0, waiting: 0, tunnel: 0 };
    for (const conn of this.conns.values()) if (conn.state !== 'closed') byState[conn.state]++;
    return { ...this.stats.toJSON(), connectionsByState: byState, eventLoopUtilization: this.stats.elu() };
  }
}

/** The kind of a TunnelFrame, checked; NONE for anything that is not a valid frame. */
function tunnelKind(bytes: Uint8Array): number {
  if (tunnelDataTag(bytes) === TunnelBody.Data) return TunnelBody.Data;
  const decoded = decodeTunnelFrame(bytes);
  if (!decoded.ok) return TunnelBody.NONE;
  // A Data frame the fast check refused is not forwarded either: both must agree it is valid.
  return decoded.value.kind === 'close' ? TunnelBody.Close : TunnelBody.NONE;
}
