import { Command, CommanderError } from 'commander';
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
