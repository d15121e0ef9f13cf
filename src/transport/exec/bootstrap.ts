// The command ECS Exec runs in the container: a short POSIX sh script (the agent execs the command
// without a shell, so it is wrapped in `sh -c`) that makes the pty a clean byte pipe, checks that
// psql can run, and then starts one psql that reads the session's commands from stdin. ECS Exec
// reports neither exit codes nor stderr, so everything the script has to say comes back as marker
// lines carrying a per-session nonce; psql's stderr goes to a temporary file that is printed,
// base64-encoded, when psql exits (that is how a failed connection is explained).
//
// The database URL never leaves the container: psql reads it from the container's own environment.

import { usageError } from '../../core/errors.js';
import { PG_ENV_FUNCTIONS, pgEnvFrom } from '../pg-env-script.js';

export interface BootstrapOptions {
  /** Random hex, unique per session; every marker line starts with `@<nonce> `. */
  nonce: string;
  /** The container's environment variable holding the database URL. */
  urlEnv: string;
  /** Run `apk add --no-cache postgresql-client` first when psql is missing (the runbook's step 3). */
  installClient: boolean;
}

/** Markers the script itself prints (psql prints the per-statement ones, see psql-script.ts). */
export const ShellMarker = {
  /** The terminal is set up and psql is starting; arguments: raw | cooked, then gzip if present. */
  ready: 'ready',
  noTerminal: 'noterminal',
  noUrl: 'nourl',
  noPsql: 'nopsql',
  noBase64: 'nobase64',
  /** apk failed; base64 of its output follows, then `end`. */
  installFailed: 'installfailed',
  /** psql exited; argument: its status; base64 of its stderr follows, then `end`. */
  exit: 'exit',
  end: 'end',
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function markerPrefix(nonce: string): string {
  return `@${nonce}`;
}

/** The ExecuteCommand `command`: `sh -c '…'` with no single quote inside the script. */
export function bootstrapCommand(options: BootstrapOptions): string {
  if (!ENV_NAME.test(options.urlEnv)) {
    throw usageError('config.invalid', `urlEnv "${options.urlEnv}" is not an environment variable name`, {
      hint: 'set urlEnv (env CODERDB_URL_ENV) to a name such as CODER_PG_CONNECTION_URL',
    });
  }
  if (!/^[0-9a-f]{16,64}$/.test(options.nonce)) throw new Error('the nonce must be hex');
  const url = `"$${options.urlEnv}"`;
  const hasPsql = 'command -v psql >/dev/null 2>&1';
  const steps = [
    `n=${markerPrefix(options.nonce)}`,
    // A leading newline puts the marker at the start of a line whatever was printed before it.
    'say() { printf "\\n%s %s\\n" "$n" "$*"; }',
    // Raw mode: no echo, no \n→\r\n, no line-length limit, no signal characters. Without stty raw
    // (unlikely), no echo is the least the protocol needs; input lines stay short for that case.
    'if stty raw -echo 2>/dev/null; then m=raw; elif stty -echo 2>/dev/null; then m=cooked; ' +
      `else say ${ShellMarker.noTerminal}; exit 126; fi`,
    'e=$(mktemp 2>/dev/null) || e=/dev/null',
    'export CODERDB_ERR="$e"',
    `[ -n ${url} ] || { say ${ShellMarker.noUrl}; exit 1; }`,
    ...(options.installClient
      ? [
          `${hasPsql} || apk add --no-cache postgresql-client >>"$e" 2>&1 || ` +
            `{ say ${ShellMarker.installFailed}; base64 "$e"; say ${ShellMarker.end}; exit 127; }`,
        ]
      : []),
    `${hasPsql} || { say ${ShellMarker.noPsql}; exit 127; }`,
    `command -v base64 >/dev/null 2>&1 || { say ${ShellMarker.noBase64}; exit 127; }`,
    ': >"$e"',
    // Reading /dev/stdin as a file keeps psql non-interactive (no prompts, no silent reconnect
    // that would leave the transaction behind); `-` is the fallback where /dev/stdin is missing.
    'f=/dev/stdin; [ -r "$f" ] || f=-',
    // gzip is optional: results are compressed in the container only when `gzip -1` works there.
    'z=; echo | gzip -1 >/dev/null 2>&1 && z=gzip',
    `say ${ShellMarker.ready} "$m" $z`,
    // The URL reaches psql as PG* variables, never in its argv (readable in /proc by the task).
    PG_ENV_FUNCTIONS,
    pgEnvFrom(url),
    'LC_ALL=C PGCLIENTENCODING=UTF8 PGCONNECT_TIMEOUT=20 psql -X -q -w -v PROMPT1= -v PROMPT2= ' +
      `-f "$f" 2>>"$e"`,
    `say ${ShellMarker.exit} "$?"`,
    'base64 "$e"',
    `say ${ShellMarker.end}`,
    '[ "$e" = /dev/null ] || rm -f "$e"',
  ];
  return `sh -c '${steps.join('; ')}'`;
}
