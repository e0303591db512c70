import { createHash } from 'node:crypto';

/**
 * Relay-wide admission counters shared by every shard through one SharedArrayBuffer, updated
 * with Atomics so all workers see one total: connections, handshakes in progress, and
 * connections per IP address. Per-IP counts live in a fixed table of buckets indexed by a hash of
 * the address; two addresses that share a bucket share its limit, which errs on the side of
 * refusing (with 65,536 buckets that needs thousands of busy addresses). Fixed size: nothing here
 * grows with the number of clients.
 */
const SLOT_CONNECTIONS = 0;
const SLOT_HANDSHAKES = 1;
const IP_BUCKETS = 65_536;
const HEADER_SLOTS = 2;

export class SharedCounters {
  private readonly slots: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.slots = new Int32Array(buffer);
  }

  static create(): SharedCounters {
    return new SharedCounters(new SharedArrayBuffer((HEADER_SLOTS + IP_BUCKETS) * 4));
  }

  ipBucket(ip: string): number {
    return HEADER_SLOTS + (createHash('sha256').update(ip).digest().readUInt16LE(0) % IP_BUCKETS);
  }

  connections(): number {
    return Atomics.load(this.slots, SLOT_CONNECTIONS);
  }

  handshakes(): number {
    return Atomics.load(this.slots, SLOT_HANDSHAKES);
  }

  connectionsFromBucket(bucket: number): number {
    return Atomics.load(this.slots, bucket);
  }

  connectionOpened(bucket: number): void {
    Atomics.add(this.slots, SLOT_CONNECTIONS, 1);
    Atomics.add(this.slots, bucket, 1);
  }

  connectionClosed(bucket: number): void {
    Atomics.sub(this.slots, SLOT_CONNECTIONS, 1);
    Atomics.sub(this.slots, bucket, 1);
  }

  /** Reserves a handshake slot if fewer than `max` are in progress (compare-and-swap loop). */
  tryStartHandshake(max: number): boolean {
    for (;;) {
      const current = Atomics.load(this.slots, SLOT_HANDSHAKES);
      if (current >= max) return false;
      if (Atomics.compareExchange(this.slots, SLOT_HANDSHAKES, current, current + 1) === current) return true;
    }
  }

  handshakeEnded(): void {
    Atomics.sub(this.slots, SLOT_HANDSHAKES, 1);
  }
}
