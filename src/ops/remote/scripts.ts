// The shell scripts coderdb runs in the container. ECS Exec gives every command a pty with echo,
// CR LF output and a line discipline, and no exit status; these scripts turn that into something a
// one-shot command can rely on: echo and output processing off (`stty -echo -opost`, so output is
// byte-exact), piped input carried as base64 lines (no control byte reaches the line discipline, no
// line nears its 4095-byte limit, and ^D at a line start is a clean end of input), and the exit
// status printed behind a nonce marker. Statements are joined with `;` on one line: the
// ExecuteCommand string is best kept free of newlines and small.

import { usageError } from '../../core/errors.js';
import { PG_ENV_FUNCTIONS, pgEnvFrom } from '../../transport/pg-env-script.js';
import type { Marker } from './markers.js';
import { quoteWords } from './quote.js';

/** How the pty is set up, as reported on the ready line. */
export const ReadyMode = {
  /** Echo and output processing are off: output is exact. */
  raw: 'raw',
  /** stty failed: output has CR LF line ends and the pty echoes (nothing is sent then). */
  cooked: 'cooked',
  /** Piped input needs stty and base64, and one of them is missing. */
  unsupported: 'unsupported',
} as const;
export type ReadyModeValue = (typeof ReadyMode)[keyof typeof ReadyMode];

export interface ExecScript {
  marker: Marker;
  argv: readonly string[];
  /** Read base64 lines from the pty into the command's stdin; else stdin is /dev/null. */
  forwardStdin: boolean;
  /** Statements run first (checks that may print their own ready line and exit, environment). */
  prelude?: readonly string[];
}

/**
 * `trap : INT` keeps the wrapper alive when ^C interrupts the command (a caught signal, unlike an
 * ignored one, is reset to the default in the command), so its status (130) still comes back. The
 * command runs in a subshell so that builtins like `exit` or `exec` cannot skip the status line.
 */
export function execScript({ marker, argv, forwardStdin, prelude = [] }: ExecScript): string {
  if (argv.length === 0) throw usageError('remote.no-command', 'no command given');
  const command = `( ${quoteWords(argv)} )`;
  const setup = forwardStdin
    ? `if stty -echo -opost 2>/dev/null && command -v base64 >/dev/null 2>&1; then m=${ReadyMode.raw}; else m=${ReadyMode.unsupported}; fi`
    : `if stty -echo -opost 2>/dev/null; then m=${ReadyMode.raw}; else m=${ReadyMode.cooked}; fi`;
  const status = marker.print('rc', '"$?"');
  // With piped input the status is printed inside the pipeline, as soon as the command is done:
  // the shell would otherwise wait for `base64 -d`, which waits for input the client may still be
  // sending (`yes | coderdb exec -- head -1`). The client then sends ^D, and the decoder ends too.
  // A pipeline member is a subshell, where the trap is reset, so the group sets it again.
  const run = forwardStdin
    ? `base64 -d | { trap : INT; ${command}; ${status}; }`
    : `${command} </dev/null; ${status}`;
  return [
    ...prelude,
    'trap : INT',
    setup,
    marker.print('ready', '"$m"'),
    `[ "$m" = ${ReadyMode.unsupported} ] && exit 0`,
    run,
  ].join('; ');
}

/**
 * An interactive shell (or the given command line) that reports its exit status at the end, which
 * ECS Exec itself never does. The command line is run by sh, in a subshell so that `exit` or `exec`
 * in it cannot skip the status line; `trap : INT` keeps the wrapper alive through ^C at the prompt.
 */
export function shellScript(marker: Marker, command: string): string {
  return ['trap : INT', `( ${command} )`, marker.print('rc', '"$?"')].join('; ');
}

/** Why `coderdb psql` could not start psql, as reported on its ready line. */
export const PsqlProblem = { noPsql: 'no-psql', noUrl: 'no-url' } as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * psql against the container's own database URL: the variable is expanded in the container, so the
 * URL never reaches coderdb. The checks come first so that a missing psql or variable is a clear
 * error on this side instead of a shell message in the terminal.
 */
export function psqlScript(marker: Marker, urlEnv: string, args: readonly string[]): string {
  const psql = ['exec psql', ...(args.length > 0 ? [quoteWords(args)] : [])].join(' ');
  return [...psqlPrelude(marker, urlEnv), marker.print('ready', 'ok'), psql].join('; ');
}

/**
 * psql reading piped input (`echo 'select 1;' | coderdb psql`): the one-shot wrapper around it, so
 * the input arrives whole and ends with EOF, and psql's exit status comes back. No pager: its keys
 * would have to come from the pty, which carries the input.
 */
export function psqlPipeScript(marker: Marker, urlEnv: string, args: readonly string[]): string {
  return execScript({
    marker,
    argv: ['psql', '--pset=pager=off', ...args],
    forwardStdin: true,
    prelude: psqlPrelude(marker, urlEnv),
  });
}

/** The checks (a problem is reported on the ready line) and the PG* environment from the URL. */
function psqlPrelude(marker: Marker, urlEnv: string): string[] {
  if (!ENV_NAME.test(urlEnv)) {
    throw usageError('remote.url-env', `"${urlEnv}" is not a valid environment variable name`, {
      hint: 'set urlEnv in the profile to the variable that holds the database URL in the container',
    });
  }
  return [
    `command -v psql >/dev/null 2>&1 || { ${marker.print('ready', PsqlProblem.noPsql)}; exit 127; }`,
    `[ -n "\${${urlEnv}:-}" ] || { ${marker.print('ready', PsqlProblem.noUrl)}; exit 1; }`,
    // The URL reaches psql as PG* variables, never in its argv (readable in /proc by the task).
    PG_ENV_FUNCTIONS,
    pgEnvFrom(`"$${urlEnv}"`),
  ];
}
