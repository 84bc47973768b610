// `afterimage <command>`: the operator's tool (README "Command-line tool"). A table of commands,
// each in cli/commands/<name>.ts; `--help` on every one; a bad command line is one line on stderr
// and exit code 2, never a stack trace.

import type { Command } from './command';
import { UsageError } from './command';
import { doctor } from './commands/doctor';
import { purge } from './commands/purge';
import { sign } from './commands/sign';
import { smoke } from './commands/smoke';

/** Every command, in the order `afterimage --help` lists them. */
export const COMMANDS: readonly Command[] = [
  sign,
  purge,
  smoke,
  doctor,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: afterimage <command> [options]   (npx afterimage <command>, from this package)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "afterimage <command> --help" for a command\'s options.',
  ].join('\n');
}

interface Output {
  out(text: string): void;
  err(text: string): void;
}

const standard: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs one command line; resolves to the exit code. */
export async function main(argv: readonly string[], io: Output = standard): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(`${overview()}\n`);
    return 0;
  }
  if (name === undefined) {
    io.err(`${overview()}\n`);
    return 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`afterimage: unknown command "${name.slice(0, 40)}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}); see afterimage --help\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    if (error instanceof UsageError) {
      io.err(`afterimage ${command.name}: ${message} (see afterimage ${command.name} --help)\n`);
      return 2;
    }
    // A failure of the work itself (AWS refused, a network error): its message, no stack.
    io.err(`afterimage ${command.name}: ${message}\n`);
    if (process.env.AFTERIMAGE_DEBUG) io.err(`${(error as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

/** The entry point the bin shim (bin/afterimage.js) and `npm run sign|smoke` call. */
export function run(argv: readonly string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`afterimage: ${(error as Error)?.message ?? error}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run(process.argv.slice(2));
