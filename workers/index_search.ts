import { BroadcastChannel, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { SearchExecutor, type SearchTask, type SearchTaskResult } from '../src/index/search-executor.js';
import type { SnapshotHandle } from '../src/index/snapshot.js';

/**
 * Search worker of the index server (a piscina task function). Snapshots arrive on a broadcast
 * channel as shared buffers (no copy); a task may also carry one, which covers a worker that
 * started after the last broadcast. Each task is one SearchBatch (the route requests the main
 * thread gathered in one event-loop turn) and returns one SearchBatchResponse; both are
 * FlatBuffers whose buffers are transferred, not copied.
 */
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

export default function searchTask(task: SearchTask): SearchTaskResult {
  if (task.snapshot !== undefined) executor.install(task.snapshot);
  const response = executor.runBatch(task.batch);
  if (response === null) return { needSnapshot: true };
  return move(response) as Uint8Array;
}
