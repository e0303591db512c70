"""Baseline for benchmarks/index.ts: single-target shortest paths with igraph (C core).

Reads a binary edge list (little-endian uint32 pairs, already filtered to edges with enough
capacity) and query pairs, times get_shortest_paths per query, prints one JSON line.
Run with Debian's /usr/bin/python3 (python3-igraph).
"""
import array
import json
import sys
import time

import igraph


def read_u32(path):
    data = array.array("I")
    with open(path, "rb") as f:
        data.frombytes(f.read())
    if sys.byteorder != "little":
        data.byteswap()
    return data


def main():
    nodes = int(sys.argv[1])
    edges = read_u32(sys.argv[2])
    queries = read_u32(sys.argv[3])
    g = igraph.Graph(n=nodes, edges=list(zip(edges[0::2], edges[1::2])), directed=True)
    times = []
    found = 0
    for i in range(0, len(queries), 2):
        s, t = queries[i], queries[i + 1]
        start = time.perf_counter()
        path = g.get_shortest_paths(s, to=t, mode="out", output="vpath")[0]
        times.append((time.perf_counter() - start) * 1000.0)
        if path:
            found += 1
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(json.dumps({"p50_ms": p(0.5), "p99_ms": p(0.99), "queries": len(times), "found": found, "igraph": igraph.__version__}))


if __name__ == "__main__":
    main()
