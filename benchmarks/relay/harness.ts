import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GeneratorCommand } from './generator.js';

/** The parent's handle on one load-generator process (generator.ts), shared by the relay benchmarks. */
const generatorPath = fileURLToPath(new URL('./generator.ts', import.meta.url));

export class Generator {
  readonly child: ChildProcess;
  private readonly inbox: Record<string, unknown>[] = [];
  private waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];

  constructor(readonly name: string) {
    this.child = fork(generatorPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, OFFSET_LOG_LEVEL: 'silent' } });
    this.child.on('message', (m: Record<string, unknown>) => {
      if (typeof m.error === 'string') {
        process.stderr.write(`${name}: ${m.error}\n`);
      }
      const w = this.waiters.find((x) => x.match(m));
      if (w !== undefined) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      } else this.inbox.push(m);
    });
  }

  send(cmd: GeneratorCommand): void {
    this.child.send(cmd);
  }

  wait(match: (m: Record<string, unknown>) => boolean, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting`)), timeoutMs);
      this.waiters.push({ match, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      this.child.once('exit', () => reject(new Error(`${this.name} exited`)));
    });
  }

  async mark(): Promise<{ frames: number; bytes: number; sentFrames: number; cpuMs: number; wallMs: number }> {
    this.send({ cmd: 'mark' });
    const m = await this.wait((x) => 'mark' in x);
    return m.mark as { frames: number; bytes: number; sentFrames: number; cpuMs: number; wallMs: number };
  }

  exit(): void {
    if (this.child.exitCode === null) this.send({ cmd: 'exit' });
  }
}

