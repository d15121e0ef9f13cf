// The ECS side of ECS Exec, as the runbook's "ECS Exec not working" section and
// amazon-ecs-exec-checker look at it: the cluster and service exist, exec is enabled on the
// service and on the running task (a task started before it was enabled has no agent until the
// next deployment), the Fargate platform is new enough, and the container's ExecuteCommandAgent
// runs.

import type { Task } from '@aws-sdk/client-ecs';
import type { DoctorContext } from '../context.js';
import { type CheckSpec, fail, pass, skip, warn } from '../types.js';
import { ago, taskIdOf, updateService } from './common.js';

export const clusterCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.cluster',
  title: 'ECS cluster exists',
  dependsOn: ['aws.credentials'],
  scope: 'agent',
  async run(ctx) {
    const { cluster: name } = ctx.profile;
    const cluster = await ctx.facts.cluster();
    if (!cluster) {
      const names = await ctx.facts.clusterNames().catch(() => []);
      return fail(
        `ECS cluster "${name}" was not found in ${ctx.region}`,
        `check --cluster and --region${names.length ? ` (clusters in ${ctx.region}: ${names.join(', ')})` : ''}`,
      );
    }
    if (cluster.status !== 'ACTIVE') {
      return fail(
        `ECS cluster ${name} is ${cluster.status}`,
        'an inactive cluster runs nothing; check --cluster, or recreate the cluster and service',
      );
    }
    const exec = cluster.configuration?.executeCommandConfiguration;
    return pass(`${name} is ACTIVE with ${cluster.runningTasksCount ?? 0} running task(s)`, [
      `exec configuration: KMS key ${exec?.kmsKeyId || 'none'}, logging ${exec?.logging ?? 'DEFAULT (not configured)'}`,
    ]);
  },
};

export const serviceCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.service',
  title: 'ECS service exists',
  dependsOn: ['ecs.cluster'],
  scope: 'agent',
  async run(ctx) {
    const { cluster, service: name } = ctx.profile;
    const service = await ctx.facts.service();
    if (!service) {
      const names = await ctx.facts.serviceNames().catch(() => []);
      return fail(
        `ECS service "${name}" was not found in cluster ${cluster}`,
        `check --service${names.length ? ` (services in ${cluster}: ${names.join(', ')})` : ''}`,
      );
    }
    if (service.status !== 'ACTIVE') {
      return fail(
        `ECS service ${name} is ${service.status}`,
        'check --service; a draining service is being deleted',
      );
    }
    return pass(
      `${name} is ACTIVE: ${service.runningCount ?? 0} of ${service.desiredCount ?? 0} task(s) running`,
      [`task definition ${service.taskDefinition ?? 'unknown'}`],
    );
  },
};

export const serviceExecCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.service-exec',
  title: 'ECS Exec enabled on the service',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const service = await ctx.facts.service();
    if (!service?.enableExecuteCommand) {
      return fail(
        `ECS Exec is disabled on service ${ctx.profile.service} (enableExecuteCommand is false)`,
        `enable it and start tasks that have it:\n${updateService(ctx, '--enable-execute-command --force-new-deployment')}`,
      );
    }
    return pass(`enableExecuteCommand is true on ${ctx.profile.service}`);
  },
};

export const taskCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.task',
  title: 'A task is RUNNING',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const { cluster, service: name, task: wanted } = ctx.profile;
    const tasks = await ctx.facts.tasks();
    const task = await ctx.facts.task();
    if (wanted) {
      if (!task)
        return fail(
          `task ${wanted} was not found in cluster ${cluster}`,
          "check --task, or drop it to use the service's running task",
        );
      if (task.lastStatus !== 'RUNNING') {
        return fail(
          `task ${taskIdOf(task)} is ${task.lastStatus}${task.stoppedReason ? `: ${task.stoppedReason}` : ''}`,
          "drop --task to use the service's running task",
        );
      }
      return pass(`task ${taskIdOf(task)} is RUNNING, started ${ago(task.startedAt)}`);
    }
    if (task) {
      const others = tasks.filter((t) => t.lastStatus === 'RUNNING').length - 1;
      return pass(
        `task ${taskIdOf(task)} is RUNNING, started ${ago(task.startedAt)}${others > 0 ? ` (and ${others} more)` : ''}`,
        [`task ARN ${task.taskArn}`],
      );
    }
    const starting = tasks.find((t) => t.lastStatus !== 'RUNNING' && t.lastStatus !== 'STOPPED');
    if (starting) {
      return warn(
        `task ${taskIdOf(starting)} is ${starting.lastStatus}, not RUNNING yet`,
        'wait a minute and run coderdb doctor again',
      );
    }
    const service = await ctx.facts.service();
    const stopped = await ctx.facts.lastStoppedTask().catch(() => undefined);
    const last = stopped
      ? `; the last task (${taskIdOf(stopped)}) stopped ${ago(stopped.stoppedAt)}${stopReason(stopped)}`
      : '';
    if ((service?.desiredCount ?? 0) === 0) {
      return fail(
        `service ${name} is scaled to 0 tasks${last}`,
        `scale it up:\n${updateService(ctx, '--desired-count 1')}`,
      );
    }
    return fail(
      `service ${name} wants ${service?.desiredCount} task(s) but none is RUNNING${last}`,
      `see why its tasks stop:\naws ecs describe-services --cluster ${cluster} --services ${name} --query 'services[0].events[:5]' ${ctx.regionFlag}`,
    );
  },
};

function stopReason(task: Task): string {
  return task.stoppedReason ? `: ${task.stoppedReason}` : task.stopCode ? ` (${task.stopCode})` : '';
}

export const taskExecCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.task-exec',
  title: 'ECS Exec enabled on the running task',
  dependsOn: ['ecs.task'],
  scope: 'agent',
  async run(ctx) {
    const task = await ctx.facts.task();
    if (task?.enableExecuteCommand) return pass(`task ${taskIdOf(task)} was started with ECS Exec`);
    const service = await ctx.facts.service();
    const serviceHasIt = Boolean(service?.enableExecuteCommand);
    return fail(
      `task ${taskIdOf(task)} runs without ECS Exec: it started ${ago(task?.startedAt)}${serviceHasIt ? ', before exec was enabled on the service' : ''}`,
      `start a new deployment so that a task with exec replaces it:\n${updateService(ctx, `${serviceHasIt ? '' : '--enable-execute-command '}--force-new-deployment`)}`,
    );
  },
};

/** Compares dotted versions numerically; `LATEST` is newest. */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  if (a === 'LATEST') return 1;
  if (b === 'LATEST') return -1;
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Number.isNaN(d) ? 0 : Math.sign(d);
  }
  return 0;
}

export const platformVersionCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.platform-version',
  title: 'Fargate platform version 1.4.0 or later',
  dependsOn: ['ecs.task'],
  scope: 'agent',
  async run(ctx) {
    const task = await ctx.facts.task();
    const fargate = task?.launchType === 'FARGATE' || /FARGATE/.test(task?.capacityProviderName ?? '');
    if (!fargate) {
      return skip(
        `launch type ${task?.launchType ?? 'unknown'}: ECS Exec needs ECS agent 1.50.2 or later on the instance (not checked)`,
      );
    }
    const version = task?.platformVersion ?? 'unknown';
    if (version !== 'unknown' && compareVersions(version, '1.4.0') >= 0) {
      return pass(`task ${taskIdOf(task)} runs on Fargate platform ${version}`);
    }
    return fail(
      `task ${taskIdOf(task)} runs on Fargate platform ${version}; ECS Exec needs 1.4.0 or later`,
      `move the service to the latest platform:\n${updateService(ctx, '--platform-version LATEST --force-new-deployment')}`,
    );
  },
};

export const execAgentCheck: CheckSpec<DoctorContext> = {
  id: 'ecs.exec-agent',
  title: 'ExecuteCommandAgent RUNNING in the container',
  dependsOn: ['ecs.task-exec', 'ecs.platform-version'],
  scope: 'agent',
  async run(ctx) {
    const task = await ctx.facts.task();
    const name = ctx.profile.container;
    const container = task?.containers?.find((c) => c.name === name);
    if (!container) {
      const names = (task?.containers ?? []).map((c) => c.name).join(', ') || 'none';
      return fail(
        `task ${taskIdOf(task)} has no container named "${name}" (it has: ${names})`,
        'set --container <name> or CODERDB_CONTAINER',
      );
    }
    const agent = container.managedAgents?.find((a) => a.name === 'ExecuteCommandAgent');
    const redeploy = updateService(ctx, '--force-new-deployment');
    if (!agent) {
      return fail(
        `container ${name} of task ${taskIdOf(task)} has no ExecuteCommandAgent`,
        `start a new deployment:\n${redeploy}`,
      );
    }
    if (agent.lastStatus === 'RUNNING') {
      return pass(
        `the ExecuteCommandAgent in container ${name} is RUNNING (since ${ago(agent.lastStartedAt)})`,
      );
    }
    if (agent.lastStatus === 'PENDING') {
      return warn(
        `the ExecuteCommandAgent in container ${name} is PENDING`,
        'wait a minute; if it stays PENDING, look at iam.task-role, network.ssm-route and taskdef.* below',
      );
    }
    return fail(
      `the ExecuteCommandAgent in container ${name} is ${agent.lastStatus ?? 'in an unknown state'}${agent.reason ? `: ${agent.reason}` : ''}`,
      `fix what iam.task-role, network.ssm-route and taskdef.* report, then restart the task:\n${redeploy}`,
    );
  },
};
