/**
 * A synthetic credit graph: Chung–Lu style pairs with power-law node weights, so degrees are
 * heavy-tailed (a few hubs, many small nodes), and every pair is a credit line both ways with
 * independent capacities and rates per direction.
 */
export interface SyntheticGraph {
  readonly nodes: number;
  /** Pair i connects pairA[i] and pairB[i]. */
  readonly pairA: Uint32Array;
  readonly pairB: Uint32Array;
  /** What A can push to B / B to A. */
  readonly capAB: Float64Array;
  readonly capBA: Float64Array;
  /** B's rate for payments from A (B forwards A's payments) / A's rate for payments from B. */
  readonly mulAB: Uint32Array;
  readonly mulBA: Uint32Array;
  readonly addAB: Uint32Array;
  readonly addBA: Uint32Array;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticGraph(nodes: number, directedEdges: number, seed = 1, exponent = 0.7): SyntheticGraph {
  const random = mulberry32(seed);
  const pairs = Math.floor(directedEdges / 2);
  const cumulative = new Float64Array(nodes);
  let total = 0;
  for (let i = 0; i < nodes; i++) {
    total += 1 / Math.pow(i + 1, exponent);
    cumulative[i] = total;
  }
  const pick = (): number => {
    const x = random() * total;
    let lo = 0;
    let hi = nodes - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Shuffle ids so hubs are not the smallest ids.
  const perm = new Uint32Array(nodes);
  for (let i = 0; i < nodes; i++) perm[i] = i;
  for (let i = nodes - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  const seen = new Set<number>();
  const pairA = new Uint32Array(pairs);
  const pairB = new Uint32Array(pairs);
  let count = 0;
  // A ring first, so every node has a credit line and the graph is connected.
  for (let i = 0; i < nodes && count < pairs; i++) {
    const a = perm[i];
    const b = perm[(i + 1) % nodes];
    const k = a < b ? a * nodes + b : b * nodes + a;
    if (a === b || seen.has(k)) continue;
    seen.add(k);
    pairA[count] = a;
    pairB[count] = b;
    count++;
  }
  while (count < pairs) {
    const a = perm[pick()];
    const b = perm[Math.floor(random() * nodes)];
    if (a === b) continue;
    const k = a < b ? a * nodes + b : b * nodes + a;
    if (seen.has(k)) continue;
    seen.add(k);
    pairA[count] = a;
    pairB[count] = b;
    count++;
  }
  const capAB = new Float64Array(pairs);
  const capBA = new Float64Array(pairs);
  const mulAB = new Uint32Array(pairs);
  const mulBA = new Uint32Array(pairs);
  const addAB = new Uint32Array(pairs);
  const addBA = new Uint32Array(pairs);
  for (let i = 0; i < pairs; i++) {
    capAB[i] = Math.floor(random() < 0.1 ? 0 : random() * 1_000_000);
    capBA[i] = Math.floor(random() < 0.1 ? 0 : random() * 1_000_000);
    mulAB[i] = Math.floor(random() * 2 ** 24);
    mulBA[i] = Math.floor(random() * 2 ** 24);
    addAB[i] = Math.floor(random() * 10);
    addBA[i] = Math.floor(random() * 10);
  }
  return { nodes, pairA, pairB, capAB, capBA, mulAB, mulBA, addAB, addBA };
}

/** Deterministic 32-byte key for node i (not a real identity: graph-only benchmarks). */
export function syntheticKey(i: number): Uint8Array {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, i);
  k[31] = 0x5a;
  return k;
}
