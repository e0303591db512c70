import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { errorMessage } from '../common/errors.js';

/**
 * Shared shape of every command-line program: one-line errors on stderr prefixed with the
 * program name, exit code 1 for a failed operation and 2 for a usage error, so scripts can
 * tell them apart (the original exited 0 on failure).
 */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;

export async function runProgram(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  // Subcommands added with addCommand() do not inherit these settings, at any depth.
  const configure = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => write(text) });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version output are successes; everything else commander raises is misuse.
      process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
      return;
    }
    process.stderr.write(`${program.name()}: error: ${errorMessage(err)}\n`);
    process.exitCode = ExitCode.Failure;
  }
}

/** Option parser for a server's HOST:PORT listen address; port 0 lets the system choose. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) throw new InvalidArgumentError('expected HOST:PORT (port 0 lets the system choose)');
  return { host: match[1].startsWith('[') ? match[1].slice(1, -1) : match[1], port };
}

/** Option parser for a server's worker-thread count. */
export function parseWorkerCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected an integer from 1 to 64');
  return n;
}
