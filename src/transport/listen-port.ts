/**
 * Binding uWS listeners so that a server stopped on a port (cleanly or killed) can be started
 * on it again at once.
 *
 * The server side of a WebSocket closes its TCP connection first (RFC 6455 7.1.1; uWS does so
 * even when the client began the closing handshake), and the kernel does the same for a killed
 * process, so after a stop the port holds the server's half-closed and TIME_WAIT sockets for up
 * to a minute. Linux lets a new listener bind over them only if they, too, had SO_REUSEADDR, and
 * an accepted socket inherits that flag from its listen socket. This uWS build sets
 * SO_REUSEADDR (plus SO_REUSEPORT unless LIBUS_LISTEN_EXCLUSIVE_PORT is given) only when it is
 * asked for a given port: for port 0 it sets neither, and the connections of a server started
 * on an OS-chosen port then block its restart on that port. So port 0 is never passed to uWS:
 * a plain Node listener (which sets SO_REUSEADDR) picks a free port and releases it, and uWS
 * binds that port. The binding exposes no way to set socket options or listen on an existing
 * descriptor, which would have avoided the hand-over.
 */
import { createServer } from 'node:net';
import { assert } from '../common/errors.js';
import uWS from '@trufflesuite/uws-js-unofficial';

/** Another process may take a picked port before uWS binds it; that many picks, then give up. */
export const PORT_PICKS_MAX = 5;

/**
 * Binds and releases `host:port` with a plain Node listener: the port (the OS-chosen one for 0),
 * or null when a live listener holds it. Node does not set SO_REUSEPORT, so this also refuses a
 * port that another process shares among its own SO_REUSEPORT listeners.
 */
export function probePort(host: string, port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    probe.listen(port, host, () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      // No connection was ever accepted, so nothing lingers on the port once it is closed.
      probe.close(() => resolve(bound));
    });
  });
}

/**
 * uSockets' listen option for SO_REUSEADDR without SO_REUSEPORT. The binding exports it at run
 * time; its type declarations only name it in an enum that does not exist at run time.
 */
const EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;

/** The four-argument listen the native binding has; its type declarations only give it without a host. */
type ListenWithOptions = (host: string, port: number, options: number, done: (token: uWS.us_listen_socket | false) => void) => unknown;

/**
 * Listens `app` on `host:port` for one process alone (LIBUS_LISTEN_EXCLUSIVE_PORT: SO_REUSEADDR
 * without SO_REUSEPORT, so a second server started on a port in use fails instead of silently
 * taking half of its connections). Resolves with the listen socket, or false when the port is in
 * use (for port 0: when every pick was taken before it could be bound).
 */
export async function listenExclusive(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket | false> {
  assert(EXCLUSIVE_PORT === 1, 'this uWS build does not export LIBUS_LISTEN_EXCLUSIVE_PORT');
  const listen = (app as unknown as { listen: ListenWithOptions }).listen.bind(app);
  const bind = (at: number): Promise<uWS.us_listen_socket | false> =>
    new Promise((resolve) => listen(host, at, EXCLUSIVE_PORT, resolve));
  if (port !== 0) return bind(port);
  for (let pick = 0; pick < PORT_PICKS_MAX; pick++) {
    const free = await probePort(host, 0);
    if (free === null) continue;
    const token = await bind(free);
    if (token !== false) return token;
  }
  return false;
}

/**
 * Listens `app` on `host:port` with SO_REUSEADDR and SO_REUSEPORT (uWS's default for a given
 * port), so the listeners of several threads of one server share the port. `port` must not be 0:
 * uWS would pick a port of this listener's own, without SO_REUSEADDR.
 */
export function listenShared(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket | false> {
  assert(port !== 0, 'a shared port is chosen by the caller');
  const listen = (app as unknown as { listen: ListenWithOptions }).listen.bind(app);
  return new Promise((resolve) => listen(host, port, 0, resolve));
}
