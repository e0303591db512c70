/**
 * Load generator for `npm run bench:relay`, run as a child process (so its CPU is measured apart
 * from the relay's). Roles, chosen by the first message from the parent:
 *   receiver  listens on the relay with the given identities (or serves a plain TCP sink for the
 *             haproxy baseline) and counts the frames that arrive
 *   sender    connects to those identities through the relay (or to haproxy) and writes batches
 *             of pre-built frames as fast as the credit window and the socket allow
 *   idle      opens many authenticated listen connections and holds them
 * After set-up, each spliced WebSocket's TCP socket is taken over from `ws` (see frames.ts).
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import type WebSocket from 'ws';
import { Identity } from '../../src/crypto/identity.js';
import { RelayListener, openTunnel, type RelayAddress } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import type { WsPipe } from '../../src/transport/ws-pipe.js';
import { buildBatch, creditOf, FrameParser } from './frames.js';

export type GeneratorCommand =
  | { role: 'receiver'; mode: 'relay' | 'haproxy'; relay?: WireAddress; seeds?: string[] }
  | { role: 'sender'; mode: 'relay' | 'haproxy'; relay?: WireAddress; targets?: string[]; haproxyPort?: number; connections?: number; payloadBytes: number; windowBytes?: number }
  | { role: 'idle'; relay: WireAddress; count: number; concurrency: number }
  | { cmd: 'go' } | { cmd: 'mark' } | { cmd: 'stop' } | { cmd: 'exit' };

export interface WireAddress {
  url: string;
  publicKey: string;
}

const send = (msg: unknown): void => {
  process.send!(msg);
};

function address(a: WireAddress): RelayAddress {
  return { url: a.url, publicKey: new Uint8Array(Buffer.from(a.publicKey, 'base64')) };
}

/** The raw TCP socket under a tunnel's WebSocket, detached from `ws`. */
function takeOver(tunnel: RelayTunnel): Socket {
  const ws = (tunnel.pipe as WsPipe).socket as WebSocket & { _socket: Socket };
  const raw = ws._socket;
  raw.removeAllListeners('data');
  raw.removeAllListeners('end');
  raw.removeAllListeners('close');
  raw.removeAllListeners('error');
  raw.on('error', () => {});
  return raw;
}

let frames = 0;
let bytes = 0;
let sentFrames = 0;
let running = false;
const held: unknown[] = [];
const pumps: (() => void)[] = [];

function count(socket: Socket): void {
  const parser = new FrameParser((opcode, payload) => {
    if (opcode !== 2) return;
    frames++;
    bytes += payload.length - 44; // payload bytes, without the TunnelFrame header
  });
  socket.on('data', (chunk: Buffer) => parser.push(chunk));
}

async function receiver(cmd: Extract<GeneratorCommand, { role: 'receiver' }>): Promise<void> {
  if (cmd.mode === 'haproxy') {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      count(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    held.push(server);
    send({ ready: true, port });
    return;
  }
  let tunnels = 0;
  for (const seed of cmd.seeds ?? []) {
    const listener = await RelayListener.open(address(cmd.relay!), {
      identity: Identity.fromSeed(new Uint8Array(Buffer.from(seed, 'base64'))),
      onTunnel: (tunnel) => {
        count(takeOver(tunnel));
        held.push(tunnel);
        send({ tunnel: ++tunnels });
      },
    });
    held.push(listener);
  }
  send({ ready: true });
}

async function sender(cmd: Extract<GeneratorCommand, { role: 'sender' }>): Promise<void> {
  const batch = buildBatch(cmd.payloadBytes, 64 * 1024);
  const sockets: { socket: Socket; window: number }[] = [];
  if (cmd.mode === 'haproxy') {
    for (let i = 0; i < (cmd.connections ?? 1); i++) {
      const socket = netConnect(cmd.haproxyPort!, '127.0.0.1');
      socket.setNoDelay(true);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      sockets.push({ socket, window: Infinity });
    }
  } else {
    const identity = Identity.generate();
    for (const target of cmd.targets ?? []) {
      const tunnel = await openTunnel(address(cmd.relay!), new Uint8Array(Buffer.from(target, 'base64')), { identity, timeoutMs: 30_000 });
      sockets.push({ socket: takeOver(tunnel), window: tunnel.windowAvailable() });
    }
  }
  for (const c of sockets) {
    const pump = (): void => {
      // Keep up to 1 MiB queued in the socket (its default high-water mark of 16 KiB would cost an
      // event-loop turn per batch); beyond that, resume on 'drain'.
      while (running && c.window >= batch.windowBytes && c.socket.writableLength < 1024 * 1024) {
        c.window -= batch.windowBytes;
        sentFrames += batch.frames;
        c.socket.write(batch.bytes);
      }
    };
    const parser = new FrameParser((opcode, payload) => {
      if (opcode !== 2) return;
      const credit = creditOf(payload);
      if (credit > 0) {
        c.window += credit;
        pump();
      }
    });
    c.socket.on('data', (chunk: Buffer) => parser.push(chunk));
    c.socket.on('drain', pump);
    pumps.push(pump);
  }
  send({ ready: true });
}

async function idle(cmd: Extract<GeneratorCommand, { role: 'idle' }>): Promise<void> {
  const relay = address(cmd.relay);
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < cmd.count) {
      next++;
      try {
        held.push(await RelayListener.open(relay, { identity: Identity.generate(), onTunnel: () => {}, timeoutMs: 60_000 }));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency }, worker));
  send({ ready: true, opened: held.length, failed });
}

let cpuStart = process.cpuUsage();
let wallStart = performance.now();

process.on('message', (msg: GeneratorCommand) => {
  if ('role' in msg) {
    const run = msg.role === 'receiver' ? receiver(msg) : msg.role === 'sender' ? sender(msg) : idle(msg);
    run.catch((err: Error) => {
      send({ error: err.message });
    });
    return;
  }
  switch (msg.cmd) {
    case 'go':
      running = true;
      for (const pump of pumps) pump();
      return;
    case 'mark': {
      const cpu = process.cpuUsage(cpuStart);
      const wallMs = performance.now() - wallStart;
      send({ mark: { frames, bytes, sentFrames, cpuMs: (cpu.user + cpu.system) / 1000, wallMs } });
      cpuStart = process.cpuUsage();
      wallStart = performance.now();
      frames = 0;
      bytes = 0;
      sentFrames = 0;
      return;
    }
    case 'stop':
      running = false;
      return;
    case 'exit':
      process.exit(0);
  }
});
send({ started: true });
