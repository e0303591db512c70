import uWS from '@trufflesuite/uws-js-unofficial';
import type { Identity } from '../crypto/identity.js';
import { listenShared } from '../transport/listen-port.js';
import { resolveChannelOptions, SecureChannel, TransportErrorCode, UwsPipe, wireBytesMax, type TransportError } from '../transport/transport.js';
import { remoteGroup, type Admission, type AdmissionRefusal } from './admission.js';

/**
 * The index client port of one shard: a uWS app on the shared port that admits each new
 * connection by its address before anything else happens (refused at the HTTP upgrade, before
 * any handshake work), then runs the responder handshake and hands out the channel with the
 * address bucket it is counted under. A channel that leaves more than `sendBufferBytesMax`
 * unsent is cut (its pipe closes with a backpressure error): a client that does not read its
 * answers costs at most that much memory.
 */
export interface ClientListenerParams {
  readonly host: string;
  /** Chosen and probed by the main thread (every shard listens on it, SO_REUSEPORT). */
  readonly port: number;
  readonly identity: Identity;
  readonly admission: Admission;
  readonly sendBufferBytesMax: number;
  readonly onChannel: (channel: SecureChannel, bucket: number) => void;
  /** A connection refused at admission, or cut for not reading. */
  readonly onRefused: (reason: AdmissionRefusal | 'send-backpressure') => void;
}

export interface ClientListener {
  readonly port: number;
  close(options?: { force?: boolean }): void;
}

interface SocketData {
  bucket: number;
  pipe?: UwsPipe;
}

export function listenClients(params: ClientListenerParams): Promise<ClientListener> {
  const options = resolveChannelOptions();
  const pipes = new Set<UwsPipe>();
  const channels = new Set<SecureChannel>();
  let closing = false;
  const { admission } = params;

  const app = uWS.App();
  app.ws<SocketData>('/*', {
    maxPayloadLength: wireBytesMax(options.frameBytesMax),
    maxBackpressure: params.sendBufferBytesMax,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0, // liveness is the channel's keepalive and handshake deadline
    compression: uWS.DISABLED,
    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const bucket = admission.bucketOf(remoteGroup(res.getRemoteAddressAsText()));
      const refusal = closing ? 'connections-max' : admission.admit(bucket, Date.now(), performance.now());
      if (refusal !== null) {
        params.onRefused(refusal);
        res.writeStatus('503 Service Unavailable').end(refusal, true);
        return;
      }
      res.upgrade<SocketData>({ bucket }, key, protocol, extensions, context);
    },
    open: (socket) => {
      const data = socket.getUserData();
      const pipe = new UwsPipe(socket as uWS.WebSocket<unknown>);
      data.pipe = pipe;
      pipes.add(pipe);
      if (closing) return pipe.close('server closing');
      let handshaking = true;
      const endHandshake = () => {
        if (!handshaking) return;
        handshaking = false;
        admission.handshakeEnded(data.bucket);
      };
      SecureChannel.respond(pipe, { identity: params.identity, purpose: 'index-client', options }).then(
        (channel) => {
          endHandshake();
          channels.add(channel);
          channel.onClose((reason: TransportError) => {
            channels.delete(channel);
            if (reason.code === TransportErrorCode.Backpressure) params.onRefused('send-backpressure');
          });
          params.onChannel(channel, data.bucket);
        },
        () => endHandshake(),
      );
    },
    message: (socket, message, isBinary) => socket.getUserData().pipe?.handleMessage(message, isBinary),
    drain: (socket) => socket.getUserData().pipe?.handleDrain(),
    close: (socket, code, message) => {
      const data = socket.getUserData();
      admission.closed(data.bucket);
      const pipe = data.pipe;
      if (pipe === undefined) return;
      pipes.delete(pipe);
      pipe.handleClose(code, message);
    },
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('index: WebSocket only', true);
  });

  return listenShared(app, params.host, params.port).then((token) => {
    if (token === false) throw new Error(`cannot listen on ${params.host}:${params.port}`);
    return {
      port: uWS.us_socket_local_port(token as unknown as uWS.us_socket),
      close: (how?: { force?: boolean }) => {
        if (closing) return;
        closing = true;
        uWS.us_listen_socket_close(token);
        if (!how?.force) for (const channel of [...channels]) channel.close('server closing');
        for (const pipe of [...pipes]) {
          if (how?.force) pipe.terminate();
          else pipe.close('server closing');
        }
      },
    };
  });
}
