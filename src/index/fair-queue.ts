/**
 * Waiting work kept per owner (a client connection) and served round robin: one item of the
 * owner at the front, which then goes to the back if it has more. An owner that floods waits
 * behind itself; every other owner is served after at most one item of each owner ahead of it.
 * Pure: no clock, no I/O (the shard decides when to serve).
 */
interface Line<T> {
  items: T[];
  head: number;
  inRing: boolean;
}

export class FairQueue<O extends object, T> {
  private readonly lines = new WeakMap<O, Line<T>>();
  private ring: O[] = [];
  private ringHead = 0;
  private total = 0;

  /** Items waiting, all owners. */
  get size(): number {
    return this.total;
  }

  /** Items of `owner` waiting. */
  sizeOf(owner: O): number {
    const line = this.lines.get(owner);
    return line === undefined ? 0 : line.items.length - line.head;
  }

  push(owner: O, item: T): void {
    let line = this.lines.get(owner);
    if (line === undefined) {
      line = { items: [], head: 0, inRing: false };
      this.lines.set(owner, line);
    }
    line.items.push(item);
    this.total++;
    if (!line.inRing) {
      line.inRing = true;
      this.ring.push(owner);
    }
  }

  /** The next item in round-robin order, or undefined when nothing waits. */
  shift(): { owner: O; item: T } | undefined {
    while (this.ringHead < this.ring.length) {
      const owner = this.ring[this.ringHead++];
      const line = this.lines.get(owner)!;
      if (line.head >= line.items.length) {
        line.inRing = false; // dropped meanwhile
        continue;
      }
      const item = line.items[line.head++];
      this.total--;
      if (line.head < line.items.length) this.ring.push(owner);
      else {
        line.items = [];
        line.head = 0;
        line.inRing = false;
      }
      this.compact();
      return { owner, item };
    }
    this.compact();
    return undefined;
  }

  /** Removes and returns every item of `owner` (a connection that closed). */
  drop(owner: O): T[] {
    const line = this.lines.get(owner);
    if (line === undefined) return [];
    const left = line.items.slice(line.head);
    this.total -= left.length;
    line.items = [];
    line.head = 0;
    return left;
  }

  private compact(): void {
    if (this.ringHead >= this.ring.length) {
      this.ring = [];
      this.ringHead = 0;
    } else if (this.ringHead > 1024) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
  }
}
