import { IndexCore } from '../src/index/core.js';
import { syntheticGraph, syntheticKey } from './index/synthetic.js';
import { e2eOnly } from './index/network.js';
const g = syntheticGraph(20000, 200000, 3);
const core = new IndexCore();
const ids = new Uint32Array(g.nodes);
for (let i = 0; i < g.nodes; i++) ids[i] = core.graph.keys.intern(syntheticKey(i));
const per: any[][] = Array.from({ length: g.nodes }, () => []);
for (let i = 0; i < g.pairA.length; i++) {
  per[g.pairA[i]].push({ kind: 'update', friend: syntheticKey(g.pairB[i]), currency: 'USD', recvCapacity: BigInt(g.capBA[i]), rate: { mul: 0, add: 0 } });
  per[g.pairB[i]].push({ kind: 'update', friend: syntheticKey(g.pairA[i]), currency: 'USD', recvCapacity: BigInt(g.capAB[i]), rate: { mul: 0, add: 0 } });
}
for (let i = 0; i < g.nodes; i++) core.graph.apply(syntheticKey(i), per[i], 0);
const pairs: [number, number][] = [];
for (let i = 0; i < 1000; i++) pairs.push([(i * 7919) % g.nodes, (i * 104729 + 13) % g.nodes]);
await e2eOnly({ quick: true, graph: g, core, pairs, emit: (s: string, v: unknown) => console.log(s, JSON.stringify(v)) }, Number(process.argv[2] ?? 1));
