// pg_dump on this machine, for the direct and tunnel transports: custom format streamed from its
// stdout into the archive file (through the meter), or with --parallel a directory dump with -j N
// into a private temporary directory, packed into a tar afterwards.

import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connectionError } from '../../core/errors.js';
import type { PgTarget } from '../../transport/pg-url.js';
import { type PgTool, pgEnv, runPgTool, toolErrors } from './pg-tools.js';
import { LOCK_WAIT_TIMEOUT_MS } from './remote-script.js';

/** Bound on one pg_dump run; far beyond any Coder database, but not forever. */
export const DUMP_TIMEOUT_MS = 12 * 60 * 60_000;

const baseArgs = ['--no-password', `--lock-wait-timeout=${LOCK_WAIT_TIMEOUT_MS}`];

/**
 * pg_dump -Fc to stdout, piped into `out` (which the pipeline ends). With `onTable`, pg_dump runs
 * --verbose and each table it starts on is reported (toolErrors leaves those lines out of errors).
 */
export async function dumpCustomLocally(
  tool: PgTool,
  target: PgTarget,
  out: Writable,
  onTable?: (table: string) => void,
): Promise<void> {
  const args = ['-Fc', ...(onTable ? ['--verbose'] : []), ...baseArgs];
  const run = runPgTool(tool, args, pgEnv(target, 'coderdb backup'), {
    stdout: 'pipe',
    timeoutMs: DUMP_TIMEOUT_MS,
  });
  if (onTable && run.child.stderr) watchTables(run.child.stderr, onTable);
  let streamError: unknown;
  try {
    await pipeline(run.child.stdout!, out);
  } catch (error) {
    streamError = error;
    run.child.kill('SIGTERM');
  }
  const exit = await run.exited;
  if (streamError !== undefined) throw streamError;
  if (exit.code !== 0) throw dumpFailed(tool, exit.stderr, exit.signal);
}

/** pg_dump's verbose "dumping contents of table "schema.name"" lines, as they come. */
function watchTables(stderr: NodeJS.ReadableStream, onTable: (table: string) => void): void {
  let partial = '';
  stderr.on('data', (text: string | Buffer) => {
    const lines = (partial + text.toString()).split('\n');
    partial = (lines.pop() ?? '').slice(-4096);
    for (const line of lines) {
      const table = /: dumping contents of table "(.+)"\r?$/.exec(line)?.[1];
      if (table) onTable(table);
    }
  });
}

/** pg_dump -Fd -j N into `dir` (which must not exist yet). */
export async function dumpDirectoryLocally(
  tool: PgTool,
  target: PgTarget,
  dir: string,
  jobs: number,
): Promise<void> {
  const run = runPgTool(
    tool,
    ['-Fd', '-j', String(jobs), '-f', dir, ...baseArgs],
    pgEnv(target, 'coderdb backup'),
    {
      stdout: 'ignore',
      timeoutMs: DUMP_TIMEOUT_MS,
    },
  );
  const exit = await run.exited;
  if (exit.code !== 0) throw dumpFailed(tool, exit.stderr, exit.signal);
}

export function dumpFailed(tool: PgTool | string, stderr: string, signal?: NodeJS.Signals | null) {
  const name = typeof tool === 'string' ? tool : tool.path;
  const why = signal ? `was stopped (${signal})` : 'failed';
  return connectionError('backup.pg-dump-failed', `${name} ${why}: ${toolErrors(stderr, 'pg_dump')}`, {
    hint: 'nothing was kept; check the error above, or run `coderdb doctor`',
  });
}
