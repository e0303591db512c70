import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/crypto/identity.js';
import { writeIdentityFile } from '../../src/files/identity_file.js';
import { FileKind } from '../../src/files/formats.js';
import { writeServerTicket } from '../../src/files/tickets.js';
import { decodeAppRequest, encodeNodeToApp, type AppPermissions, type AppRequest, type NodeReport, type NodeToApp } from '../../src/node/app_codec.js';
import type { SecureChannel } from '../../src/transport/channel.js';
import { listenSecure, type SecureListener } from '../../src/transport/uws-server.js';

/**
 * The node's side of the app protocol over the real transport and codec, answering each request
 * with what the test scripts. It checks what stctrl and the app client send and how they react to
 * every kind of answer; the node itself is tested with its own app server.
 */

export type Reply = (message: NodeToApp) => void;
export type Script = (request: AppRequest, reply: Reply, node: ScriptedNode) => void;

export class ScriptedNode {
  readonly identity = Identity.generate();
  readonly requests: AppRequest[] = [];
  readonly channels: SecureChannel[] = [];
  report: NodeReport;
  script: Script = (request, reply) => reply({ kind: 'result', appRequestId: request.appRequestId, error: null });
  private listener: SecureListener | null = null;
  readonly trusted = new Map<string, AppPermissions>();

  constructor() {
    this.report = { publicKey: this.identity.publicKey, relays: [], indexServers: [], connectedIndex: null, friends: [] };
  }

  get port(): number {
    return this.listener!.port;
  }

  async start(): Promise<this> {
    this.listener = await listenSecure({
      host: '127.0.0.1', port: 0, identity: this.identity, purpose: 'app',
      authorize: (key) => this.trusted.has(Buffer.from(key).toString('hex')),
      onChannel: (channel) => {
        this.channels.push(channel);
        const permissions = this.trusted.get(Buffer.from(channel.remoteKey).toString('hex'))!;
        const reply: Reply = (message) => channel.send(encodeNodeToApp(message));
        reply({ kind: 'permissions', permissions });
        reply({ kind: 'report', report: this.report });
        channel.onFrame((frame) => {
          const decoded = decodeAppRequest(new Uint8Array(frame));
          if (!decoded.ok) {
            channel.close('ERR_APP_BAD_MESSAGE');
            return;
          }
          this.requests.push(decoded.value);
          this.script(decoded.value, reply, this);
        });
      },
    });
    return this;
  }

  stop(): void {
    this.listener?.close();
  }
}

export interface AppFiles {
  dir: string;
  idfile: string;
  ticket: string;
  identity: Identity;
}

/** An app identity trusted by `node` with `permissions`, and the node's ticket, as files. */
export function appFiles(node: ScriptedNode, permissions: AppPermissions, dir = mkdtempSync(join(tmpdir(), 'offset-app-'))): AppFiles {
  const identity = Identity.generate();
  const idfile = join(dir, `app-${Buffer.from(identity.publicKey.subarray(0, 4)).toString('hex')}.ident`);
  writeIdentityFile(idfile, identity);
  const ticket = join(dir, `node-${node.port}.ticket`);
  try {
    writeServerTicket(ticket, FileKind.NodeTicket, { publicKey: node.identity.publicKey, address: `127.0.0.1:${node.port}` });
  } catch {
    // Already written for another app of the same node.
  }
  node.trusted.set(Buffer.from(identity.publicKey).toString('hex'), permissions);
  return { dir, idfile, ticket, identity };
}

export const ALL: AppPermissions = { routes: true, buyer: true, seller: true, config: true };
