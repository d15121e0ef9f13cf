// The coderdb program: its commands and flags, and the mapping of failures to exit statuses. Each
// command loads what it needs when it runs, so `coderdb --version` starts as fast as node itself.

import { Command, CommanderError, Option } from 'commander';
import { assertArgumentsAreUtf8 } from './argv-encoding.js';
import { registerAdmin } from './commands/admin.js';
import { registerBackup } from './commands/backup.js';
import { registerCatalog } from './commands/catalog.js';
import { registerCoder } from './commands/coder.js';
import { registerConnect } from './commands/connect.js';
import { registerConsole } from './commands/console.js';
import { registerDoctor } from './commands/doctor.js';
import { registerQuery } from './commands/query.js';
import { registerRemote } from './commands/remote.js';
import { registerSandbox } from './commands/sandbox.js';
import { registerSetup } from './commands/setup.js';
import { registerTunnel } from './commands/tunnel.js';
import { reportError } from './errors.js';
import { interruptedExitCode } from './interrupt.js';
import { takeExitStatus } from './shared.js';

declare const CODERDB_VERSION: string;

/** The Node.js lines coderdb is built and tested for, newest first (package.json engines agrees). */
export const SUPPORTED_NODE = 'Node.js 24 and 22 (LTS), 20.19+';

function versionText(): string {
  const version = typeof CODERDB_VERSION === 'string' ? CODERDB_VERSION : 'dev';
  return `coderdb ${version} (node ${process.version}; supported: ${SUPPORTED_NODE})`;
}

export function buildProgram(): Command {
  const program = new Command('coderdb')
    .description("Safe, fast access to a Coder deployment's PostgreSQL on AWS")
    .version(versionText(), '-V, --version')
    .option('-p, --profile <name>', 'profile from the config file, or "sandbox" (env CODERDB_PROFILE)')
    .option('--config <file>', 'config file (default $XDG_CONFIG_HOME/coderdb/config.json)')
    .option('--url <url>', 'database URL for the direct transport (env CODERDB_URL)')
    .addOption(
      new Option('--transport <name>', 'how to reach the database').choices([
        'direct',
        'exec',
        'tunnel',
        'auto',
      ]),
    )
    .option('--region <region>', 'AWS region (default us-east-1)')
    .option('--cluster <name>', 'ECS cluster (default coder-cluster)')
    .option('--service <name>', 'ECS service (default coder-service)')
    .option('--container <name>', 'container in the task (default coder)')
    .option('--task <arn|id>', 'use this task instead of discovering one')
    .option('--secret-id <id>', 'Secrets Manager secret with the database URL (default coder-postgres-url)')
    .option('--aws-profile <name>', 'AWS profile for credentials (default: the SDK default chain)')
    .option('--iam-auth', 'RDS IAM authentication: sign a token instead of using the password')
    .option('--install-client', 'exec transport: install psql in the container (apk) if it is missing')
    .option('--no-reuse', 'open a session of its own even when a warm one (coderdb connect) is there')
    .addOption(
      new Option('-o, --format <format>', 'output format')
        .choices(['table', 'json', 'csv', 'ndjson'])
        .default('table'),
    )
    .option(
      '--show-secrets',
      'print credentials (password hashes, tokens, pg_stats samples, values in errors) instead of redacting them',
    )
    .option(
      '-v, --verbose',
      'say where each command works (profile, database, transport, identity) even when stderr is not a terminal; doctor: details for every check',
    )
    .showHelpAfterError('(run with --help for usage)')
    // Before any subcommand exists, so that every command inherits it: usage errors anywhere
    // become CommanderErrors that main() maps to exit status 2.
    .exitOverride()
    // Every error coderdb prints starts the same way, commander's argument errors included.
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'coderdb: ')) })
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true });
  program.addHelpText(
    'after',
    `
Exit status: 0 ok, 1 SQL error, 2 usage error, 3 connection or AWS error, 4 refused by a safety
rule, 5 doctor found a failure, 74 output not writable, 130 interrupted (143 SIGTERM, 129
SIGHUP); an interrupted exec or tunnel session is ended with TerminateSession first.
Try it without AWS: coderdb sandbox demo`,
  );
  registerQuery(program);
  registerConsole(program);
  registerCatalog(program);
  registerCoder(program);
  registerAdmin(program);
  registerBackup(program);
  registerDoctor(program);
  registerRemote(program);
  registerTunnel(program);
  registerConnect(program);
  registerSetup(program);
  registerSandbox(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    if (argv === process.argv) assertArgumentsAreUtf8();
    await program.parseAsync(argv);
    return takeExitStatus();
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message (or the help/version text).
      return error.exitCode === 0 ? 0 : 2;
    }
    // What an interrupted command throws on its way out (a closed session, an abort) is no news.
    return interruptedExitCode() ?? reportError(error);
  }
}
