import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one node, served at /metrics on --metrics-addr. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly friendsOnline: Gauge;
  readonly friends: Gauge;
  readonly appsConnected: Gauge;
  readonly events: Counter;
  readonly commits: Counter;
  readonly commitSeconds: Histogram;
  readonly appRequests: Counter;
  readonly appRequestErrors: Counter;
  readonly peerFaults: Counter;
  readonly friendFramesDropped: Counter;
  readonly friendFramesSent: Counter;
  readonly friendBytesSent: Counter;
  readonly friendFramesReceived: Counter;
  readonly reportMutations: Counter;

  constructor() {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'offset_node_process_' });
    this.friends = new Gauge({ name: 'offset_node_friends', help: 'Configured friends', registers: [r] });
    this.friendsOnline = new Gauge({ name: 'offset_node_friends_online', help: 'Friends with a live end-to-end link', registers: [r] });
    this.appsConnected = new Gauge({ name: 'offset_node_apps_connected', help: 'Connected apps', registers: [r] });
    this.events = new Counter({ name: 'offset_node_funder_events_total', help: 'Events handled by the payment core', registers: [r] });
    this.commits = new Counter({ name: 'offset_node_db_commits_total', help: 'Synced database writes (group commits)', registers: [r] });
    this.commitSeconds = new Histogram({
      name: 'offset_node_db_commit_seconds', help: 'Duration of one synced database write', registers: [r],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    });
    this.appRequests = new Counter({ name: 'offset_node_app_requests_total', help: 'App requests by kind', labelNames: ['kind'], registers: [r] });
    this.appRequestErrors = new Counter({ name: 'offset_node_app_request_errors_total', help: 'App requests answered with an error, by code', labelNames: ['code'], registers: [r] });
    this.peerFaults = new Counter({ name: 'offset_node_peer_faults_total', help: 'Faults detected in friends\' messages, by code', labelNames: ['code'], registers: [r] });
    this.friendFramesDropped = new Counter({ name: 'offset_node_friend_frames_dropped_total', help: 'Frames for a friend with no live link (the token protocol resends)', registers: [r] });
    this.friendFramesSent = new Counter({ name: 'offset_node_friend_frames_sent_total', help: 'Messages (move tokens, inconsistency errors) sent to friends', registers: [r] });
    this.friendBytesSent = new Counter({ name: 'offset_node_friend_bytes_sent_total', help: 'Bytes of messages sent to friends (before transport framing)', registers: [r] });
    this.friendFramesReceived = new Counter({ name: 'offset_node_friend_frames_received_total', help: 'Messages received from friends', registers: [r] });
    this.reportMutations = new Counter({ name: 'offset_node_report_mutations_total', help: 'Report mutations broadcast to apps', registers: [r] });
  }

  serve(host: string, port: number): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address();
        resolve({ server, port: typeof address === 'object' && address !== null ? address.port : port });
      });
    });
  }
}
