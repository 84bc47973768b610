// What every `afterimage <command>` is: a table entry with its own help, run with its arguments.
// The dispatcher (cli/afterimage.ts) prints help, turns a UsageError into one line and exit code 2.

export interface Command {
  /** The word after `afterimage`. */
  readonly name: string;
  /** One line for `afterimage --help`. */
  readonly summary: string;
  /** The whole text of `afterimage <name> --help`. */
  readonly help: string;
  /** Runs the command; resolves to the exit code (0 done, 1 failed). Throws UsageError for a bad command line. */
  run(argv: string[]): Promise<number>;
}

/** A bad command line: the dispatcher prints its message as one line and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  positional: string[];
  options: Record<string, string>;
  flags: Set<string>;
}

/**
 * `--name value`, `--name=value` and bare `--flag`s; everything else is positional. An unknown
 * option, or a value option without its value, is a UsageError naming it.
 */
export function parseArgs(argv: readonly string[], spec: { values?: readonly string[]; flags?: readonly string[] }): ParsedArgs {
  const values = spec.values ?? [];
  const flagNames = spec.flags ?? [];
  const parsed: ParsedArgs = { positional: [], options: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      parsed.positional.push(arg);
      continue;
    }
    const [, name, inline] = match;
    if (flagNames.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      parsed.flags.add(name);
    } else if (values.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      parsed.options[name] = value;
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return parsed;
}
