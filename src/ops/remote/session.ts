// From a profile to an open exec session: find the task (asking on a terminal when several
// qualify), then ECS ExecuteCommand and the data channel. Every failure on the way is already a
// CoderdbError that says why (no running task, exec disabled, agent unreachable…).

import type { AwsSession } from '../../aws/session.js';
import { openExecChannel } from '../../aws/sessions.js';
import { findTask, type TaskTarget } from '../../aws/tasks.js';
import type { AuditLog } from '../../core/audit.js';
import type { Profile } from '../../core/config.js';
import type { DataChannel } from '../../ssm/channel.js';

export interface RemoteContext {
  aws: AwsSession;
  profile: Profile;
  /** Where sessions are recorded (start and end); none for a library caller that passes none. */
  audit?: AuditLog;
}

export interface OpenOptions {
  /** Chooses among several usable tasks; without it the newest is used. */
  pick?: (candidates: TaskTarget[]) => Promise<TaskTarget>;
  /** Progress for a person ("connecting to task …"). */
  status?: (line: string) => void;
  /** Runs once the task is chosen, before the command starts in it (the audit's start line). */
  beforeStart?: (target: TaskTarget) => Promise<void>;
}

export interface OpenSession {
  target: TaskTarget;
  channel: DataChannel;
}

export async function openRemoteSession(
  context: RemoteContext,
  command: string,
  options: OpenOptions = {},
): Promise<OpenSession> {
  const { aws, profile } = context;
  const target = await findTask(aws, profile, options.pick ? { pick: options.pick } : {});
  options.status?.(`coderdb: starting a session in task ${target.taskId} (container ${target.container})…`);
  await options.beforeStart?.(target);
  const channel = await openExecChannel(aws, profile, target, command);
  return { target, channel };
}
