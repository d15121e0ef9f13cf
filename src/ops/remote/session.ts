// From a profile to an open exec session: find the task (asking on a terminal when several
// qualify), then ECS ExecuteCommand and the data channel. Every failure on the way is already a
// CoderdbError that says why (no running task, exec disabled, agent unreachable…).

import { awsModule } from '../../aws/clients.js';
import type { AwsSession } from '../../aws/session.js';
import { openExecChannel } from '../../aws/sessions.js';
import { findTask, type TaskTarget } from '../../aws/tasks.js';
import type { Profile } from '../../core/config.js';
import type { DataChannel } from '../../ssm/channel.js';
import { terminalPicker } from './picker.js';

export interface RemoteContext {
  aws: AwsSession;
  profile: Profile;
}

export interface OpenOptions {
  /** Chooses among several usable tasks; without it the newest is used. */
  pick?: (candidates: TaskTarget[]) => Promise<TaskTarget>;
  /** Progress for a person ("connecting to task …"). */
  status?: (line: string) => void;
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
  const channel = await openExecChannel(aws, profile, target, command);
  return { target, channel };
}

/** The picker for this process's terminal, with platform versions from ECS. */
export function ecsTerminalPicker(context: RemoteContext): (candidates: TaskTarget[]) => Promise<TaskTarget> {
  return terminalPicker(async (candidates) => {
    const { DescribeTasksCommand } = await awsModule('ecs');
    const ecs = await context.aws.ecs();
    const answer = await ecs.send(
      new DescribeTasksCommand({
        cluster: context.profile.cluster,
        tasks: candidates.map((task) => task.taskArn),
      }),
    );
    const versions = new Map<string, string>();
    for (const task of answer.tasks ?? []) {
      if (task.taskArn && task.platformVersion) versions.set(task.taskArn, task.platformVersion);
    }
    return versions;
  });
}
