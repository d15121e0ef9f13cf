// coderdb shell | psql | exec: commands in the Coder container over ECS Exec, without the AWS CLI
// or session-manager-plugin. Flags and rendering only; the work is in src/ops/remote.

import type { Command } from 'commander';
import type { CoderdbContext } from '../../context.js';
import { canPrompt } from '../../core/prompt.js';
import type { OpenOptions, Terminal } from '../../ops/remote/index.js';
import { setExitStatus, withContext } from '../shared.js';

type Remote = typeof import('../../ops/remote/index.js');

/** Said before psql and shell start: what they do is outside coderdb's guard and audit log. */
const UNGUARDED_NOTICE =
  'note: keys go to the container unguarded and unaudited; for guarded, audited SQL use `coderdb console`\n';

export function registerRemote(program: Command): void {
  program
    .command('shell')
    .description(
      "an interactive shell in the Coder container (ECS Exec); exit the shell to leave, with the shell's exit status",
    )
    .option('--command <command>', 'what sh runs instead of /bin/sh, e.g. bash', '/bin/sh')
    .action(async (flags: { command: string }, cmd: Command) => {
      process.stderr.write(UNGUARDED_NOTICE);
      await withRemote(cmd, async (remote, context, terminal, options) => {
        setExitStatus(await remote.openShell(context, terminal, { ...options, command: flags.command }));
      });
    });

  program
    .command('psql')
    .description("interactive psql in the Coder container, on the container's own database URL")
    .argument('[psql-args...]', 'extra psql arguments, after --')
    .addHelpText(
      'after',
      '\nThe URL stays in the container ($CODER_PG_CONNECTION_URL, or urlEnv of the profile).\n' +
        "Piped input (echo 'select 1;' | coderdb psql) is run to its end; coderdb exits with psql's status.",
    )
    .action(async (args: string[], _flags: unknown, cmd: Command) => {
      process.stderr.write(UNGUARDED_NOTICE);
      await withRemote(cmd, async (remote, context, terminal, options) => {
        const status = await remote.openPsql(context, terminal, { ...options, args });
        if (status !== undefined) setExitStatus(status);
      });
    });

  program
    .command('exec')
    .description('run one command in the Coder container and exit with its exit status')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-n, --no-stdin', 'do not send piped stdin to the command (it reads /dev/null)')
    .addHelpText(
      'after',
      `
Example: coderdb exec -- sh -c 'ls -l /tmp | wc -l'
Output (stdout and stderr together, as on a terminal) goes to stdout. Piped stdin is sent to the
command; from a terminal, the command's stdin is /dev/null.`,
    )
    .action(async (argv: string[], flags: { stdin: boolean }, cmd: Command) => {
      await withRemote(cmd, async (remote, context, terminal, options) => {
        const forwardStdin = flags.stdin && !terminal.inputIsTty;
        setExitStatus(await remote.execInContainer(context, argv, terminal, { ...options, forwardStdin }));
      });
    });
}

async function withRemote(
  cmd: Command,
  work: (remote: Remote, context: CoderdbContext, terminal: Terminal, options: OpenOptions) => Promise<void>,
): Promise<void> {
  const remote = await import('../../ops/remote/index.js');
  await withContext(cmd, async (context) => {
    const terminal = remote.processTerminal();
    const options: OpenOptions = {
      status: (line) => terminal.status(line),
      ...(canPrompt() ? { pick: remote.terminalPicker } : {}),
    };
    await work(remote, context, terminal, options);
  });
}
