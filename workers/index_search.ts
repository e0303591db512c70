import { BroadcastChannel, workerData } from 'node:worker_threads';
import { SearchExecutor } from '../src/index/search-executor.js';
import type { SnapshotHandle } from '../src/index/snapshot.js';

/**
 * Search worker of the index server (a piscina task function). Snapshots arrive on a broadcast
 * channel as shared buffers (no copy); a task may also carry one, which covers a worker that
 * started after the last broadcast. Each task is one SearchRequest and returns one
 * SearchResponse, both FlatBuffers.
 */
export interface SearchTask {
  readonly request: Uint8Array;
  /** The oldest snapshot generation this request may be answered from. */
  readonly generation: number;
  readonly snapshot?: SnapshotHandle;
}

const executor = new SearchExecutor();
let channel: BroadcastChannel | null = null;

function listen(channelName: string): void {
  if (channel !== null) return;
  channel = new BroadcastChannel(channelName);
  channel.onmessage = (event: unknown) => {
    executor.install((event as { data: SnapshotHandle }).data);
  };
  // The channel must not keep the worker alive on its own.
  (channel as unknown as { unref?: () => void }).unref?.();
}

const channelName = (workerData as { snapshotChannel?: unknown } | undefined)?.snapshotChannel;
if (typeof channelName === 'string') listen(channelName);

export default function searchTask(task: SearchTask): Uint8Array | { needSnapshot: true } {
  if (task.snapshot !== undefined) executor.install(task.snapshot);
  if (executor.generation < task.generation) return { needSnapshot: true };
  return executor.run(task.request);
}
