// Backup and restore in the audit log: one line per run, with where it ran, the archive, and how it
// ended. Statements are not recorded (pg_dump and pg_restore run many); the archive file is.

import { type AuditOutcome, markAudited } from '../../core/audit.js';
import { CoderdbError } from '../../core/errors.js';
import type { BackupContext } from './reach.js';

export interface BackupAuditLine {
  command: 'backup' | 'restore';
  outcome: AuditOutcome;
  transport: string;
  target: string;
  backupFile?: string;
  statement?: string;
  rows?: number;
  reason?: string;
  error?: unknown;
  startedAt: number;
}

export function auditBackup(context: BackupContext, line: BackupAuditLine): void {
  if (line.outcome === 'refused') markAudited(line.error);
  context.audit.append(
    {
      identity: context.identity() ?? context.aws?.knownIdentity(),
      profile: context.profile.name,
      transport: line.transport,
      target: line.target,
      command: line.command,
      outcome: line.outcome,
      durationMs: Math.round(performance.now() - line.startedAt),
      ...(line.statement ? { statement: line.statement } : {}),
      ...(line.backupFile ? { backupFile: line.backupFile } : {}),
      ...(line.rows === undefined ? {} : { rows: line.rows }),
      ...(line.reason ? { reason: line.reason } : {}),
      ...(line.error === undefined
        ? {}
        : { error: line.error instanceof Error ? line.error.message : String(line.error) }),
      ...(line.error instanceof CoderdbError ? { code: line.error.code } : {}),
    },
    // A restore's line must survive whatever happens next; a backup's is cheap to make durable too.
    { durable: true },
  );
}
