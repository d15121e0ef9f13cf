// Container sessions in the audit log: `exec`, `shell` and `psql` each write a `started` line
// before the command starts in the task (who, which task and container, what command) and a final
// line when it ends (exit status for exec, or the error, and the duration). An audit log that
// cannot be written stops the session before anything runs in the container.

import type { TaskTarget } from '../../aws/tasks.js';
import type { AuditLog } from '../../core/audit.js';
import { CoderdbError } from '../../core/errors.js';
import type { RemoteContext } from './session.js';

export type SessionKind = 'exec' | 'shell' | 'psql';

export interface SessionAudit {
  /** Before the command starts (the task is known); throws when the log cannot be written. */
  started(target: TaskTarget): Promise<void>;
  ended(result: { exitStatus?: number; error?: unknown }): void;
}

/** The audit of one session; a context without an audit log (a library caller's) records nothing. */
export function sessionAudit(context: RemoteContext, kind: SessionKind, command: string): SessionAudit {
  const log: AuditLog | undefined = context.audit;
  let startedAt: number | undefined;
  let base: Parameters<AuditLog['append']>[0] | undefined;
  return {
    async started(target) {
      if (!log) return;
      // Who ran it matters most here: the command runs with the task's rights, not the caller's.
      const identity = await context.aws.identity().catch(() => context.aws.knownIdentity());
      base = {
        ...(identity ? { identity } : {}),
        profile: context.profile.name,
        transport: 'exec',
        target: `task ${target.taskId} container ${target.container}`,
        task: target.taskArn,
        container: target.container,
        command: kind,
        statement: command,
        outcome: 'started',
      };
      log.append(base);
      // auditRequired: nothing starts in the container before the shared trail took the line.
      await log.accepted();
      startedAt = performance.now();
    },
    ended({ exitStatus, error }) {
      if (!log || !base || startedAt === undefined) return;
      log.append({
        ...base,
        outcome: error === undefined ? 'ok' : 'error',
        durationMs: Math.round(performance.now() - startedAt),
        ...(exitStatus === undefined ? {} : { exitStatus }),
        ...(error === undefined ? {} : { error: error instanceof Error ? error.message : String(error) }),
        ...(error instanceof CoderdbError ? { code: error.code } : {}),
      });
    },
  };
}

/** Runs a session's work between its two audit lines. */
export async function audited<T>(
  audit: SessionAudit,
  work: () => Promise<T>,
  exitStatus: (result: T) => number | undefined = () => undefined,
): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    try {
      audit.ended({ error });
    } catch {
      // the session's own failure is the news
    }
    throw error;
  }
  const status = exitStatus(result);
  audit.ended(status === undefined ? {} : { exitStatus: status });
  return result;
}
