import type { SyntheticGraph } from './synthetic.js';
import type { WriteGraph } from '../../src/index/graph.js';

export interface NetworkResult {
  p50_ms: number | null;
  p99_ms: number | null;
  queries_per_s: number | null;
  workers: number | null;
  by_workers: Record<string, unknown>[];
  federation_ms_per_hop: number | null;
}

export interface NetworkContext {
  quick: boolean;
  graph: SyntheticGraph;
  loadGraph: (g: SyntheticGraph) => { graph: WriteGraph; ids: Uint32Array };
  pairs: [number, number][];
  ids: Uint32Array;
  emit: (section: string, values: Record<string, unknown>) => void;
}

/** The sections that need the transport and the server; filled in as they land. */
export async function runNetworkSections(ctx: NetworkContext): Promise<NetworkResult> {
  ctx.emit('e2e', { available: false, note: 'transport not available in this build' });
  return { p50_ms: null, p99_ms: null, queries_per_s: null, workers: null, by_workers: [], federation_ms_per_hop: null };
}
