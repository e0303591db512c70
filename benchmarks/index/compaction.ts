/**
 * Compaction cost on the benchmark graph (100,000 nodes, 1,000,000 directed edges): a full
 * rebuild against an incremental one after a burst of updates (each update: one node's 10
 * reports). Standalone: `tsx benchmarks/index/compaction.ts [--quick]`.
 */
import { WriteGraph } from '../../src/index/graph.js';
import type { IndexMutation } from '../../src/index/types.js';
import { mulberry32, syntheticGraph, syntheticKey } from './synthetic.js';

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function measureCompaction(nodes: number, edges: number, burstUpdates: readonly number[]): Record<string, unknown> {
  const g = syntheticGraph(nodes, edges, 7);
  const build = (share: number) => {
    const graph = new WriteGraph({ fullRebuildShare: share });
    const keys = Array.from({ length: nodes }, (_, i) => syntheticKey(i));
    const perNode: IndexMutation[][] = Array.from({ length: nodes }, () => []);
    for (let i = 0; i < g.pairA.length; i++) {
      perNode[g.pairA[i]].push({ kind: 'update', friend: keys[g.pairB[i]], currency: 'USD', recvCapacity: BigInt(g.capBA[i]), rate: { mul: g.mulBA[i], add: g.addBA[i] } });
      perNode[g.pairB[i]].push({ kind: 'update', friend: keys[g.pairA[i]], currency: 'USD', recvCapacity: BigInt(g.capAB[i]), rate: { mul: g.mulAB[i], add: g.addAB[i] } });
    }
    for (let i = 0; i < nodes; i++) graph.apply(keys[i], perNode[i], 0);
    return { graph, keys, perNode };
  };
  const { graph, keys, perNode } = build(0.25);
  const first = graph.compact().stats.millis;
  const out: Record<string, unknown> = { nodes, first_build_ms: round(first) };
  const random = mulberry32(5);
  for (const updates of burstUpdates) {
    // A burst: `updates` random nodes each re-report up to 10 of their friends with new capacities.
    const burst: [number, IndexMutation[]][] = [];
    for (let u = 0; u < updates; u++) {
      const who = Math.floor(random() * nodes);
      const mine = perNode[who].slice(0, 10).map((m) => ({ ...m, recvCapacity: BigInt(Math.floor(random() * 1e6)) }) as IndexMutation);
      burst.push([who, mine]);
    }
    for (const [who, mine] of burst) graph.apply(keys[who], mine, 1);
    const incremental = graph.compact().stats.millis;
    // The same burst again, compacted by a full rebuild.
    const full = new WriteGraph({ fullRebuildShare: 0 });
    void full;
    const rebuildGraph = graph as unknown as { fullRebuildShare: number };
    rebuildGraph.fullRebuildShare = 0;
    for (const [who, mine] of burst) graph.apply(keys[who], mine.map((m) => ({ ...m, recvCapacity: (m as { recvCapacity: bigint }).recvCapacity + 1n }) as IndexMutation), 1);
    const rebuild = graph.compact().stats.millis;
    rebuildGraph.fullRebuildShare = 0.25;
    out[`updates_${updates}`] = { incremental_ms: round(incremental), full_ms: round(rebuild), ratio: round(rebuild / incremental, 1) };
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  process.stdout.write(`${JSON.stringify({ section: 'compaction', ...measureCompaction(100_000, 1_000_000, quick ? [10, 1000] : [10, 1000, 10_000]) })}\n`);
}
