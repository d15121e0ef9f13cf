// Commands in the Coder container over ECS Exec, as a library: an interactive shell, interactive
// psql against the container's own database URL, and one-shot commands that return their real exit
// status. The CLI (src/cli/commands/remote.ts) is a thin layer over these three functions.

import { connectionError, usageError } from '../../core/errors.js';
import { audited, sessionAudit } from './audit.js';
import { runExec } from './exec.js';
import { runInteractive } from './interactive.js';
import { Marker } from './markers.js';
import { quoteWords, shellCommand } from './quote.js';
import { execScript, PsqlProblem, psqlPipeScript, psqlScript, shellScript } from './scripts.js';
import { type OpenOptions, openRemoteSession, type RemoteContext } from './session.js';
import type { Terminal } from './terminal.js';

export { type PickerIo, pickTask, terminalPicker } from './picker.js';
export { quoteWord, quoteWords, shellCommand } from './quote.js';
export type { OpenOptions, RemoteContext } from './session.js';
export { DETACHED_SIZE, processTerminal, type SessionSignal, type Terminal } from './terminal.js';

/** Longest ExecuteCommand string we send; AWS documents no limit, Linux allows 128 KiB per argument. */
const MAX_COMMAND_BYTES = 64 * 1024;
const PSQL_READY_TIMEOUT_MS = 60_000;

export interface ShellOptions extends OpenOptions {
  /** The command line to run, split by the agent like a shell would (default /bin/sh). */
  command?: string;
}

/** An interactive shell in the container; resolves with the shell's exit status when it ends. */
export async function openShell(
  context: RemoteContext,
  terminal: Terminal,
  options: ShellOptions = {},
): Promise<number> {
  const command = options.command?.trim() || '/bin/sh';
  const marker = new Marker();
  const audit = sessionAudit(context, 'shell', command);
  return audited(
    audit,
    async () => {
      const { channel } = await openRemoteSession(
        context,
        checkSize(shellCommand(shellScript(marker, command))),
        {
          ...options,
          beforeStart: audit.started,
        },
      );
      return (await runInteractive(channel, terminal, { status: marker })) ?? 0;
    },
    (status) => status,
  );
}

export interface PsqlOptions extends OpenOptions {
  /** Extra psql arguments (e.g. ['-x']). */
  args?: string[];
}

/**
 * psql in the container, connected with the container's `$<profile.urlEnv>`: interactive from a
 * terminal; with piped input (not a terminal) it reads that input to its end, and the promise
 * resolves with psql's exit status. Interactive sessions resolve with undefined.
 */
export async function openPsql(
  context: RemoteContext,
  terminal: Terminal,
  options: PsqlOptions = {},
): Promise<number | undefined> {
  const marker = new Marker();
  const urlEnv = context.profile.urlEnv;
  const args = options.args ?? [];
  const piped = !terminal.inputIsTty;
  const command = shellCommand(
    piped ? psqlPipeScript(marker, urlEnv, args) : psqlScript(marker, urlEnv, args),
  );
  const audit = sessionAudit(context, 'psql', quoteWords(['psql', ...args]));
  return audited(
    audit,
    async () => {
      const { target, channel } = await openRemoteSession(context, checkSize(command), {
        ...options,
        beforeStart: audit.started,
      });
      const check = (value: string) => {
        if (value === PsqlProblem.noPsql) {
          return connectionError(
            'remote.psql-missing',
            `psql is not installed in container ${target.container} of task ${target.taskId}`,
            { hint: 'query through coderdb instead (`coderdb query`), or use --transport tunnel' },
          );
        }
        if (value === PsqlProblem.noUrl) {
          return connectionError(
            'remote.url-missing',
            `$${urlEnv} is not set in container ${target.container} of task ${target.taskId}`,
            { hint: 'set urlEnv in the profile (or CODERDB_URL_ENV) to the variable Coder reads' },
          );
        }
        return undefined;
      };
      if (piped) return runExec(channel, { marker, forwardStdin: true, check }, terminal);
      await runInteractive(channel, terminal, {
        preamble: { marker, timeoutMs: PSQL_READY_TIMEOUT_MS, check },
      });
      return undefined;
    },
    (status) => status,
  );
}

export interface ExecOptions extends OpenOptions {
  /** Send the terminal's input to the command as its stdin (only sensible when it is a pipe or file). */
  forwardStdin: boolean;
}

/** Runs `argv` in the container; resolves with its exit status. Output goes to terminal.output. */
export async function execInContainer(
  context: RemoteContext,
  argv: string[],
  terminal: Terminal,
  options: ExecOptions,
): Promise<number> {
  const marker = new Marker();
  const command = shellCommand(execScript({ marker, argv, forwardStdin: options.forwardStdin }));
  const audit = sessionAudit(context, 'exec', quoteWords(argv));
  return audited(
    audit,
    async () => {
      const { channel } = await openRemoteSession(context, checkSize(command), {
        ...options,
        beforeStart: audit.started,
      });
      return runExec(channel, { marker, forwardStdin: options.forwardStdin }, terminal);
    },
    (status) => status,
  );
}

function checkSize(command: string): string {
  if (Buffer.byteLength(command) > MAX_COMMAND_BYTES) {
    throw usageError('remote.command-too-long', 'the command is too long to send through ECS Exec', {
      hint: 'put it in a script and pipe it in: coderdb exec -- sh < script.sh',
    });
  }
  return command;
}
