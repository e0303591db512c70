import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OffsetError } from '../common/errors.js';
import { runProgramToEnd, startProgram, type ProgramName, type RunningProgram } from './launcher.js';

/**
 * A network of real processes on 127.0.0.1 driven only through the command-line programs, as a
 * user would: stmgr makes identities and tickets, strelay/stindex/stnode run as servers on ports
 * the OS chooses, and stctrl configures the nodes. The demo and the CLI integration tests share it.
 */

export class CliError extends OffsetError {
  constructor(message: string) {
    super('ERR_CLI_STEP_FAILED', message);
    this.name = 'CliError';
  }
}

export interface ServerHandle {
  readonly name: string;
  readonly program: RunningProgram;
  readonly ticket: string;
  readonly address: string;
}

export interface NodeHandle extends ServerHandle {
  readonly dir: string;
  readonly ident: string;
  readonly appIdent: string;
  readonly database: string;
  readonly trusted: string;
  publicKey: string;
}

export interface FriendView {
  name: string;
  publicKey: string;
  enabled: boolean;
  online: boolean;
  consistent: boolean;
  currencies: Array<{
    currency: string; isOpen: boolean; remoteMaxDebt: string; rate: { mul: number; add: number };
    balance: { balance: string; localPendingDebt: string; remotePendingDebt: string } | null;
  }>;
}

const LISTEN = '127.0.0.1:0';

export class CliNetwork {
  readonly servers: ServerHandle[] = [];
  /** Every process started, including ones that never got ready, so all of them are stopped. */
  readonly programs: RunningProgram[] = [];
  /** Every CLI call made, for a report of what happened. */
  readonly calls: string[] = [];

  constructor(readonly dir: string, readonly say: (line: string) => void = () => {}, readonly env: NodeJS.ProcessEnv = {}) {
    mkdirSync(dir, { recursive: true });
  }

  async run(program: ProgramName, args: string[], timeoutMs = 120_000): Promise<string> {
    this.calls.push(`${program} ${args.join(' ')}`);
    const result = await runProgramToEnd(program, args, this.env, timeoutMs);
    if (result.code !== 0) {
      throw new CliError(`${program} ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    }
    return result.stdout;
  }

  private start(program: ProgramName, args: string[]): RunningProgram {
    // Servers announce their ports at info level, whatever level the rest of the run uses.
    const running = startProgram(program, args, { ...this.env, OFFSET_LOG_LEVEL: 'info' });
    this.programs.push(running);
    return running;
  }

  async relay(name: string): Promise<ServerHandle> {
    const ident = join(this.dir, `${name}.ident`);
    await this.run('stmgr', ['gen-ident', '--output', ident]);
    const program = this.start('strelay', ['--idfile', ident, '--laddr', LISTEN, '--workers', '1']);
    const line = await program.waitForLog((l) => l.event === 'listening' && l.endpoint === 'clients', 60_000);
    const address = `127.0.0.1:${line.port as number}`;
    const ticket = join(this.dir, `${name}.relay-ticket`);
    await this.run('stmgr', ['relay-ticket', '--idfile', ident, '--address', address, '--output', ticket]);
    const handle = { name, program, ticket, address };
    this.servers.push(handle);
    return handle;
  }

  /**
   * Index servers that trust each other. Each learns its peers from index tickets (with their
   * server-to-server addresses) in its trusted directory, written once every port is known.
   */
  async indexServers(names: string[]): Promise<ServerHandle[]> {
    const started: Array<{ name: string; ident: string; trusted: string; program: RunningProgram; clientPort: number; serverPort: number }> = [];
    for (const name of names) {
      const ident = join(this.dir, `${name}.ident`);
      await this.run('stmgr', ['gen-ident', '--output', ident]);
      const trusted = join(this.dir, `${name}-trusted`);
      mkdirSync(trusted, { recursive: true });
      const program = this.start('stindex', ['--idfile', ident, '--lclient', LISTEN, '--lserver', LISTEN, '--trusted', trusted, '--workers', '1']);
      const [clientPort, serverPort] = await Promise.all([program.port('clients', 60_000), program.port('servers', 60_000)]);
      started.push({ name, ident, trusted, program, clientPort, serverPort });
    }
    for (const peer of started) {
      for (const other of started) {
        if (other === peer) continue;
        await this.run('stmgr', ['index-ticket', '--idfile', other.ident, '--address', `127.0.0.1:${other.serverPort}`,
          '--output', join(peer.trusted, `${other.name}.index-ticket`)]);
      }
    }
    const handles: ServerHandle[] = [];
    for (const s of started) {
      const address = `127.0.0.1:${s.clientPort}`;
      const ticket = join(this.dir, `${s.name}.index-ticket`);
      await this.run('stmgr', ['index-ticket', '--idfile', s.ident, '--address', address, '--output', ticket]);
      const handle = { name: s.name, program: s.program, ticket, address };
      this.servers.push(handle);
      handles.push(handle);
    }
    return handles;
  }

  /** A node with its database and one app allowed everything, started and ready for stctrl. */
  async node(name: string): Promise<NodeHandle> {
    const dir = join(this.dir, name);
    const trusted = join(dir, 'trusted');
    mkdirSync(trusted, { recursive: true });
    const ident = join(dir, 'node.ident');
    const appIdent = join(dir, 'app.ident');
    const database = join(dir, 'db');
    await this.run('stmgr', ['gen-ident', '--output', ident]);
    await this.run('stmgr', ['init-node-db', '--idfile', ident, '--output', database]);
    await this.run('stmgr', ['gen-ident', '--output', appIdent]);
    await this.run('stmgr', ['app-ticket', '--idfile', appIdent, '--output', join(trusted, 'app.app-ticket'),
      '--proutes', '--pbuyer', '--pseller', '--pconfig']);
    const handle = await this.startNode({ name, dir, ident, appIdent, database, trusted, ticket: join(dir, 'node.ticket') });
    return handle;
  }

  /** Starts (or restarts) a node's process; the ticket is written on the first start. */
  async startNode(n: Omit<NodeHandle, 'program' | 'address' | 'publicKey'> & { address?: string }): Promise<NodeHandle> {
    const program = this.start('stnode', ['--idfile', n.ident, '--laddr', n.address ?? LISTEN, '--database', n.database, '--trusted', n.trusted]);
    const port = await program.port('apps', 60_000);
    const address = `127.0.0.1:${port}`;
    if (n.address === undefined) await this.run('stmgr', ['node-ticket', '--idfile', n.ident, '--address', address, '--output', n.ticket]);
    const handle: NodeHandle = { ...n, program, address, publicKey: '' };
    handle.publicKey = (await this.ctrl(handle, ['info', 'public-key'])).trim();
    this.servers.push(handle);
    return handle;
  }

  ctrl(node: NodeHandle, args: string[], timeoutMs = 120_000): Promise<string> {
    return this.run('stctrl', ['--idfile', node.appIdent, '--ticket', node.ticket, ...args], timeoutMs);
  }

  async ctrlJson<T>(node: NodeHandle, args: string[]): Promise<T> {
    return JSON.parse(await this.ctrl(node, ['--json', ...args])) as T;
  }

  async friends(node: NodeHandle): Promise<FriendView[]> {
    return (await this.ctrlJson<{ friends: FriendView[] }>(node, ['info', 'friends'])).friends;
  }

  /** Polls `info friends` until `predicate` holds (bounded by `attempts`). */
  async waitForFriends(node: NodeHandle, what: string, predicate: (friends: FriendView[]) => boolean, attempts = 120): Promise<FriendView[]> {
    let last: FriendView[] = [];
    for (let i = 0; i < attempts; i++) {
      last = await this.friends(node);
      if (predicate(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new CliError(`${node.name}: gave up waiting for ${what}; last seen: ${JSON.stringify(last)}`);
  }

  async exportTicket(node: NodeHandle): Promise<string> {
    const path = join(node.dir, `friend-ticket-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await this.ctrl(node, ['info', 'export-ticket', '--ticket', path]);
    return path;
  }

  /**
   * Makes a and b friends: each adds the other from its exported ticket, sets its forwarding rate
   * for the other, enables it, waits until it is online, opens the currency and extends credit.
   */
  async befriend(
    a: NodeHandle, b: NodeHandle, currency: string,
    options: { aTrustsB: bigint; bTrustsA: bigint; aRateForB?: { mul: number; add: number }; bRateForA?: { mul: number; add: number } },
  ): Promise<void> {
    const ticketA = await this.exportTicket(a);
    const ticketB = await this.exportTicket(b);
    const sides = [
      { self: a, other: b, ticket: ticketB, trust: options.aTrustsB, rate: options.aRateForB },
      { self: b, other: a, ticket: ticketA, trust: options.bTrustsA, rate: options.bRateForA },
    ];
    for (const s of sides) {
      await this.ctrl(s.self, ['config', 'add-friend', '--friend', s.ticket, '--name', s.other.name]);
      if (s.rate !== undefined) {
        await this.ctrl(s.self, ['config', 'set-rate', '--name', s.other.name, '--currency', currency, '--mul', String(s.rate.mul), '--add', String(s.rate.add)]);
      }
      await this.ctrl(s.self, ['config', 'enable-friend', '--name', s.other.name]);
    }
    for (const s of sides) {
      await this.waitForFriends(s.self, `${s.other.name} online`, (fs) => fs.some((f) => f.name === s.other.name && f.online));
    }
    for (const s of sides) {
      await this.ctrl(s.self, ['config', 'open-currency', '--name', s.other.name, '--currency', currency]);
      await this.ctrl(s.self, ['config', 'set-max-debt', '--name', s.other.name, '--currency', currency, '--mdebt', String(s.trust)]);
    }
    for (const s of sides) {
      await this.waitForFriends(s.self, `${currency} active with ${s.other.name}`,
        (fs) => fs.some((f) => f.name === s.other.name && f.currencies.some((c) => c.currency === currency && c.balance !== null)));
    }
  }

  /** The balance `node` has with its friend `name`, from `info friends`. */
  async balance(node: NodeHandle, name: string, currency: string): Promise<bigint | null> {
    const friend = (await this.friends(node)).find((f) => f.name === name);
    const balance = friend?.currencies.find((c) => c.currency === currency)?.balance;
    return balance === undefined || balance === null ? null : BigInt(balance.balance);
  }

  /**
   * pay-invoice, retried while the index server has not yet learned the routes (the nodes report
   * their capacity asynchronously after credit is extended).
   */
  async payInvoice(buyer: NodeHandle, invoice: string, payment: string, commit: string, attempts = 60): Promise<string> {
    for (let i = 0; ; i++) {
      try {
        return await this.ctrl(buyer, ['buyer', 'pay-invoice', '--invoice', invoice, '--payment', payment, '--commit', commit]);
      } catch (err) {
        const text = (err as Error).message;
        const retry = /ERR_CTRL_NO_ROUTE|no route|insufficient capacity|NO_INDEX_CONNECTION|no index server/i.test(text);
        if (!retry || i + 1 >= attempts) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** Stops every process (nodes first: they talk to the others); returns the ones that did not exit cleanly. */
  async stopAll(): Promise<string[]> {
    const programs = [...this.programs].reverse();
    const unclean: string[] = [];
    const stop = async (p: RunningProgram): Promise<void> => {
      const { code, signal } = await p.stop('SIGTERM');
      if (code !== 0) unclean.push(`${p.name} (pid ${p.child.pid}) exited with ${code ?? signal}`);
    };
    await Promise.all(programs.filter((p) => p.name === 'stnode').map(stop));
    await Promise.all(programs.filter((p) => p.name !== 'stnode').map(stop));
    return unclean;
  }
}
