import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { OffsetError } from '../common/errors.js';

/**
 * Starts the project's programs as real child processes (for integration tests, the demo and
 * benchmarks) and learns the ports they chose from their `listening` log lines. Works both from
 * TypeScript sources (through tsx) and from the compiled dist/ tree.
 */
export type ProgramName = 'strelay' | 'stindex' | 'stnode' | 'stctrl' | 'stverify' | 'stmgr';

const appsDir = dirname(fileURLToPath(import.meta.url));
const runningFromSource = import.meta.url.endsWith('.ts');

/**
 * Extra Node.js flags for every started program, from OFFSET_NODE_FLAGS (space-separated), for
 * flags NODE_OPTIONS refuses, such as `--cpu-prof --cpu-prof-dir=DIR` when profiling benchmarks.
 */
function extraNodeFlags(): string[] {
  return (process.env.OFFSET_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

export function programCommand(name: ProgramName): { command: string; args: string[] } {
  const script = join(appsDir, `${name}.${runningFromSource ? 'ts' : 'js'}`);
  return { command: process.execPath, args: [...extraNodeFlags(), ...(runningFromSource ? ['--import=tsx', script] : [script])] };
}

interface LogLine {
  event?: string;
  endpoint?: string;
  port?: number;
  [key: string]: unknown;
}

export class RunningProgram {
  readonly name: ProgramName;
  readonly child: ChildProcess;
  readonly logLines: LogLine[] = [];
  readonly stderrLines: string[] = [];
  private readonly waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: ProgramName, child: ChildProcess) {
    this.name = name;
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (text) => this.onLine(text));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      this.stderrLines.push(text);
      if (this.stderrLines.length > 1000) this.stderrLines.shift();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  private onLine(text: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    this.logLines.push(line);
    if (this.logLines.length > 5000) this.logLines.shift();
    for (const waiter of this.waiters) {
      if (waiter.match(line)) {
        this.waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  }

  /** Resolves with the first log line (past or future) that matches, or rejects on exit/timeout. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.logLines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (line: LogLine) => { clearTimeout(timer); resolve(line); } };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new OffsetError('ERR_LAUNCH_TIMEOUT', `${this.name} did not log the expected line within ${timeoutMs} ms; stderr: ${this.stderrLines.slice(-5).join(' | ')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.exited.then(({ code, signal }) => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new OffsetError('ERR_LAUNCH_EXITED', `${this.name} exited (code ${code}, signal ${signal}) before logging the expected line; stderr: ${this.stderrLines.slice(-5).join(' | ')}`));
      });
    });
  }

  /** The port of an endpoint the program announced with announceListening(). */
  async port(endpoint: string, timeoutMs?: number): Promise<number> {
    const line = await this.waitForLog((l) => l.event === 'listening' && l.endpoint === endpoint, timeoutMs);
    return line.port as number;
  }

  /** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

export function startProgram(name: ProgramName, args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningProgram {
  const { command, args: prefix } = programCommand(name);
  const child = spawn(command, [...prefix, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OFFSET_LOG_LEVEL: 'info', ...env },
  });
  return new RunningProgram(name, child);
}

/** Runs a program to completion (for CLIs such as stctrl and stmgr). */
export function runProgramToEnd(name: ProgramName, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000):
  Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: prefix } = programCommand(name);
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new OffsetError('ERR_LAUNCH_TIMEOUT', `${name} ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
