// Finding the Coder task to run in: the service's RUNNING tasks whose ExecuteCommandAgent runs in
// the configured container. When none qualifies, the error says why (service scaled to zero, exec
// not enabled, agent not running) instead of the runbook's `taskArns[0]`, which picks blindly.

import type { Container, Task } from '@aws-sdk/client-ecs';
import type { Profile } from '../core/config.js';
import { connectionError, usageError } from '../core/errors.js';
import { awsModule } from './clients.js';
import { fromAwsError } from './errors.js';
import type { AwsSession } from './session.js';

export interface TaskTarget {
  cluster: string;
  taskArn: string;
  taskId: string;
  container: string;
  runtimeId: string;
  startedAt?: Date;
  /** Fargate platform version (e.g. `1.4.0`), from the same DescribeTasks answer. */
  platformVersion?: string;
  /** `ecs:<cluster>_<taskId>_<runtimeId>`, the SSM target of the task's container. */
  ssmTarget: string;
}

export interface DiscoveryOptions {
  /** Chooses among several candidates on a terminal; the newest is used otherwise. */
  pick?: (candidates: TaskTarget[]) => Promise<TaskTarget>;
}

export function taskIdOf(taskArn: string): string {
  return taskArn.split('/').at(-1) ?? taskArn;
}

/** The task to use: --task if given, else a running task of the service that can be exec'd into. */
export async function findTask(
  aws: AwsSession,
  profile: Profile,
  options: DiscoveryOptions = {},
): Promise<TaskTarget> {
  const ecs = await aws.ecs();
  const { ListTasksCommand, DescribeTasksCommand } = await awsModule('ecs');
  // The caller's identity (for the audit log) is looked up beside the task, once the lookup is sent.
  setImmediate(() => aws.noteIdentity());
  let taskArns: string[];
  if (profile.task) {
    taskArns = [profile.task];
  } else {
    try {
      const listed = await ecs.send(
        new ListTasksCommand({
          cluster: profile.cluster,
          serviceName: profile.service,
          desiredStatus: 'RUNNING',
        }),
      );
      taskArns = listed.taskArns ?? [];
    } catch (error) {
      throw explainListFailure(error, profile);
    }
    if (taskArns.length === 0) throw await noRunningTask(aws, profile);
  }
  let tasks: Task[];
  try {
    tasks =
      (await ecs.send(new DescribeTasksCommand({ cluster: profile.cluster, tasks: taskArns }))).tasks ?? [];
  } catch (error) {
    throw fromAwsError(error, 'ecs:DescribeTasks', profile.cluster);
  }
  if (profile.task && tasks.length === 0) {
    throw usageError('task.not-found', `task ${profile.task} was not found in cluster ${profile.cluster}`);
  }
  const candidates: TaskTarget[] = [];
  const problems: string[] = [];
  for (const task of tasks) {
    const verdict = assess(task, profile);
    if (typeof verdict === 'string') problems.push(verdict);
    else candidates.push(verdict);
  }
  if (candidates.length === 0) {
    throw connectionError('task.not-usable', problems[0] ?? `no usable task in service ${profile.service}`, {
      hint: 'run `coderdb doctor` for the full diagnosis and the fix',
    });
  }
  candidates.sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0));
  if (candidates.length > 1 && options.pick && !profile.task) return options.pick(candidates);
  return candidates[0]!;
}

/** A usable target, or why the task cannot be exec'd into. */
export function assess(task: Task, profile: Pick<Profile, 'container' | 'cluster'>): TaskTarget | string {
  const taskArn = task.taskArn ?? '';
  const taskId = taskIdOf(taskArn);
  if (task.lastStatus !== 'RUNNING') {
    return `task ${taskId} is ${task.lastStatus ?? 'not running'}${task.stoppedReason ? ` (${task.stoppedReason})` : ''}`;
  }
  if (!task.enableExecuteCommand) {
    return `ECS Exec is not enabled on task ${taskId}; enable it on the service and start a new deployment (aws ecs update-service --enable-execute-command --force-new-deployment)`;
  }
  const container = task.containers?.find((candidate) => candidate.name === profile.container);
  if (!container) {
    const names = (task.containers ?? []).map((candidate) => candidate.name).join(', ');
    return `task ${taskId} has no container named "${profile.container}" (it has: ${names || 'none'}); set --container`;
  }
  const agent = execAgent(container);
  if (agent?.lastStatus !== 'RUNNING') {
    return `the ExecuteCommandAgent in container ${profile.container} of task ${taskId} is ${agent?.lastStatus ?? 'missing'}${agent?.reason ? ` (${agent.reason})` : ''}`;
  }
  if (!container.runtimeId) return `container ${profile.container} of task ${taskId} has no runtime id yet`;
  const cluster = clusterName(task.clusterArn ?? profile.cluster);
  return {
    cluster,
    taskArn,
    taskId,
    container: profile.container,
    runtimeId: container.runtimeId,
    ...(task.startedAt ? { startedAt: task.startedAt } : {}),
    ...(task.platformVersion ? { platformVersion: task.platformVersion } : {}),
    ssmTarget: `ecs:${cluster}_${taskId}_${container.runtimeId}`,
  };
}

export function execAgent(container: Container) {
  return container.managedAgents?.find((agent) => agent.name === 'ExecuteCommandAgent');
}

function clusterName(clusterArnOrName: string): string {
  return clusterArnOrName.split('/').at(-1) ?? clusterArnOrName;
}

function explainListFailure(error: unknown, profile: Profile) {
  const name = (error as { name?: string }).name;
  if (name === 'ClusterNotFoundException') {
    return connectionError(
      'task.no-cluster',
      `ECS cluster "${profile.cluster}" was not found in ${profile.region}`,
      {
        hint: 'check --cluster and --region; run `coderdb doctor`',
      },
    );
  }
  if (name === 'ServiceNotFoundException') {
    return connectionError(
      'task.no-service',
      `ECS service "${profile.service}" was not found in cluster ${profile.cluster}`,
      {
        hint: 'check --service; run `coderdb doctor`',
      },
    );
  }
  return fromAwsError(error, 'ecs:ListTasks', profile.cluster);
}

/** Why a service has no running task: scaled to zero, or its last task stopped (and why). */
async function noRunningTask(aws: AwsSession, profile: Profile) {
  const ecs = await aws.ecs();
  const { DescribeServicesCommand, ListTasksCommand, DescribeTasksCommand } = await awsModule('ecs');
  let detail = '';
  try {
    const services = await ecs.send(
      new DescribeServicesCommand({ cluster: profile.cluster, services: [profile.service] }),
    );
    const service = services.services?.[0];
    if (!service) {
      detail = `service ${profile.service} does not exist in cluster ${profile.cluster}`;
    } else if (service.desiredCount === 0) {
      detail = `service ${profile.service} is scaled to 0 tasks`;
    } else {
      const stopped = await ecs.send(
        new ListTasksCommand({
          cluster: profile.cluster,
          serviceName: profile.service,
          desiredStatus: 'STOPPED',
        }),
      );
      const last = stopped.taskArns?.[0];
      if (last) {
        const described = await ecs.send(
          new DescribeTasksCommand({ cluster: profile.cluster, tasks: [last] }),
        );
        const reason = described.tasks?.[0]?.stoppedReason;
        detail = `service ${profile.service} wants ${service.desiredCount} task(s) but none is running${reason ? `; the last one stopped: ${reason}` : ''}`;
      } else {
        detail = `service ${profile.service} wants ${service.desiredCount} task(s) but none is running yet`;
      }
    }
  } catch {
    detail = `service ${profile.service} has no running task`;
  }
  return connectionError('task.none-running', `no running task: ${detail}`, {
    hint: 'run `coderdb doctor`; check the service events in the ECS console',
  });
}
