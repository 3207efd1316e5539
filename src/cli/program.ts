import {
  Command,
  CommanderError,
  type ErrorOptions as CommanderErrorOptions,
  type HelpContext,
} from 'commander';
import type { Actor } from '../services/audit/audit-log.js';

/** Where a command writes what it prints (stdout in the CLI, an array in tests). */
export interface Output {
  line(text: string): void;
}

/**
 * Runs `work` with what a command works on. The CLI composes the process only here, inside
 * the action, so `--help` and a bad command line never open a database.
 */
export type Using<S> = <T>(work: (subject: S) => Promise<T>) => Promise<T>;

/** `Using` over something already built (tests, and the run*Command functions). */
export const given =
  <S>(subject: S): Using<S> =>
  (work) =>
    work(subject);

/** What every command group is built from. */
export interface CommandContext<S> {
  using: Using<S>;
  out: Output;
  actor: Actor;
}

/** A mistake on the command line; `command` is the full command it was made on. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command = 'llm-backend',
  ) {
    super(message);
  }
}

/** `llm-backend tenant create`, from a command and its parents. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/**
 * A commander Command with the CLI's conventions, inherited by every subcommand: errors are
 * thrown as UsageError (the caller prints them and the pointer to the command's help), and
 * help and version exits are thrown as CommanderError instead of ending the process, so a
 * test can run a command in-process.
 */
export class CliCommand extends Command {
  constructor(name?: string) {
    super(name);
    this.exitOverride();
    this.helpOption('-h, --help', 'Show this help');
    // `llm-backend help <command>` covers it; one per group would only crowd the listings.
    this.helpCommand(false);
  }

  override createCommand(name?: string): CliCommand {
    return new CliCommand(name);
  }

  override error(message: string, _options?: CommanderErrorOptions): never {
    // Commander's own messages start with 'error: ' and put suggestions on a second line.
    throw new UsageError(message.replace(/^error: /, '').replace(/\n/g, ' '), commandPath(this));
  }

  // A group given no subcommand shows its help as `--help` does (stdout, exit 0), as the
  // CLI always has; commander's default treats that as an error.
  override help(context?: HelpContext | ((text: string) => string)): never {
    if (typeof context === 'function') return super.help(context);
    return super.help({ ...context, error: false });
  }
}

/**
 * A top-level command whose help goes to `out`, so in-process runs capture it with the rest.
 * Set before any subcommand is declared: subcommands inherit it when they are made.
 */
export function cliCommand(name: string, out: Output): CliCommand {
  const command = new CliCommand(name);
  command.configureOutput({ writeOut: (text) => out.line(text.trimEnd()) });
  return command;
}

/** A command whose work is in its subcommands (`tenant`, `key`...). */
export function commandGroup(name: string, out: Output): CliCommand {
  return cliCommand(name, out).usage('<command> [options]');
}

/** Whether `error` only means help or the version was printed: nothing failed. */
export function isHelpExit(error: unknown): error is CommanderError {
  return error instanceof CommanderError && error.exitCode === 0;
}

/**
 * Runs `llm-backend <group> ...args` in-process: what the run*Command functions do. Printed
 * help is not an error; a usage error rejects with UsageError.
 */
export async function runGroup(group: Command, args: string[]): Promise<void> {
  const program = new CliCommand('llm-backend').addCommand(group);
  try {
    await program.parseAsync([group.name(), ...args], { from: 'user' });
  } catch (error) {
    if (!isHelpExit(error)) throw error;
  }
}
