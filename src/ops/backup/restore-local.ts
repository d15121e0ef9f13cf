// pg_restore on this machine into a PostgreSQL endpoint (direct, or the local end of a tunnel), in one
// transaction that stops at the first error, so a failed restore leaves the target as it was.

import { CoderdbError } from '../../core/errors.js';
import type { PgTarget } from '../../transport/pg-url.js';
import { openForPgRestore } from './archive.js';
import { dbnameArg, type PgTool, pgEnv, runPgTool, toolErrors } from './pg-tools.js';
import type { ArchiveFormat } from './types.js';

export const RESTORE_TIMEOUT_MS = 12 * 60 * 60_000;

/** Options every restore passes to pg_restore, here and in the container. */
export function restoreFlags(clean: boolean): string[] {
  return [
    '--single-transaction',
    '--exit-on-error',
    // Objects belong to whoever restores them: the target's roles need not match the source's.
    '--no-owner',
    '--no-privileges',
    '--no-password',
    ...(clean ? ['--clean', '--if-exists'] : []),
  ];
}

export async function restoreHere(
  tool: PgTool,
  target: PgTarget,
  file: string,
  format: ArchiveFormat,
  clean: boolean,
): Promise<void> {
  const opened = await openForPgRestore(file, format);
  try {
    const run = runPgTool(
      tool,
      [opened.formatFlag, ...restoreFlags(clean), '-d', dbnameArg(target.database), opened.path],
      pgEnv(target, 'coderdb restore'),
      { stdout: 'ignore', timeoutMs: RESTORE_TIMEOUT_MS },
    );
    const exit = await run.exited;
    if (exit.code !== 0) throw restoreFailed(toolErrors(exit.stderr, 'pg_restore'), exit.signal);
  } finally {
    await opened.release();
  }
}

export function restoreFailed(message: string, signal?: NodeJS.Signals | null): CoderdbError {
  return new CoderdbError(
    'sql',
    'restore.failed',
    `pg_restore ${signal ? `was stopped (${signal})` : 'failed'}: ${message}`,
    { hint: 'it ran in one transaction, so the target database is unchanged' },
  );
}
