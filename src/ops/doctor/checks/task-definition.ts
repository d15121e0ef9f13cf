// Task definition settings that break ECS Exec while everything else looks green: a read-only
// root filesystem (the agent cannot create its directories), no init process (sessions leave
// orphans behind), a shared PID namespace (one agent per namespace, in one container) and AWS keys
// in the container's environment (the agent signs with them instead of the task role).

import type { ContainerDefinition } from '@aws-sdk/client-ecs';
import type { DoctorContext } from '../context.js';
import { taskDefinitionLabel } from '../facts.js';
import { type CheckSpec, fail, pass, warn } from '../types.js';
import { listing, redeployWith } from './common.js';

/** Variables the AWS SDK's default chain (and so the agent) reads before the task role. */
const AWS_KEY_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_ACCESS_KEY',
  'AWS_SECRET_KEY',
];

export const readonlyRootCheck: CheckSpec<DoctorContext> = {
  id: 'taskdef.readonly-root',
  title: 'Writable root filesystem',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const { taskDefinition, container } = await ctx.facts.containerDefinition();
    const label = taskDefinitionLabel(taskDefinition);
    if (!container.readonlyRootFilesystem)
      return pass(`container ${container.name} of ${label} has a writable root filesystem`);
    return fail(
      `container ${container.name} of ${label} has readonlyRootFilesystem, so the ExecuteCommandAgent cannot create its directories`,
      redeployWith(
        ctx,
        `set "readonlyRootFilesystem": false on container ${container.name} in ${label}`,
        taskDefinition.family,
      ),
    );
  },
};

export const initProcessCheck: CheckSpec<DoctorContext> = {
  id: 'taskdef.init-process',
  title: 'Init process enabled',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const { taskDefinition, container } = await ctx.facts.containerDefinition();
    const label = taskDefinitionLabel(taskDefinition);
    if (container.linuxParameters?.initProcessEnabled) {
      return pass(`container ${container.name} of ${label} runs an init process`);
    }
    return warn(
      `container ${container.name} of ${label} has no init process (initProcessEnabled is off): processes of ended exec sessions linger as zombies`,
      redeployWith(
        ctx,
        `set "linuxParameters": {"initProcessEnabled": true} on container ${container.name} in ${label}`,
        taskDefinition.family,
      ),
    );
  },
};

export const pidModeCheck: CheckSpec<DoctorContext> = {
  id: 'taskdef.pid-mode',
  title: 'PID namespace not shared',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const { taskDefinition, container } = await ctx.facts.containerDefinition();
    const label = taskDefinitionLabel(taskDefinition);
    if (taskDefinition.pidMode !== 'task') {
      return pass(
        `${label} gives each container its own PID namespace${taskDefinition.pidMode ? ` (pidMode ${taskDefinition.pidMode})` : ''}`,
      );
    }
    const others = (taskDefinition.containerDefinitions ?? []).length - 1;
    return warn(
      `${label} sets pidMode "task": ECS Exec runs one agent per PID namespace, so only one container of the task can be exec'd into${others > 0 ? ` and it may not be ${container.name}` : ''}`,
      redeployWith(
        ctx,
        `remove "pidMode": "task" from ${label} unless a sidecar needs it`,
        taskDefinition.family,
      ),
    );
  },
};

export const awsKeysCheck: CheckSpec<DoctorContext> = {
  id: 'taskdef.aws-keys',
  title: 'No AWS keys in the container environment',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const { taskDefinition, container } = await ctx.facts.containerDefinition();
    const label = taskDefinitionLabel(taskDefinition);
    const names = keyVariables(container);
    if (names.length === 0)
      return pass(`container ${container.name} of ${label} sets no AWS keys; the agent uses the task role`);
    return fail(
      `container ${container.name} of ${label} sets ${listing(names)}: the ExecuteCommandAgent signs with those keys instead of the task role`,
      redeployWith(
        ctx,
        [
          `remove ${listing(names)} from container ${container.name} in ${label} (grant the application what it needs through the task role);`,
          'if the keys must stay, their user needs the ssmmessages permissions iam.task-role lists',
        ].join('\n'),
        taskDefinition.family,
      ),
    );
  },
};

/** Names only: the values are credentials and never leave this function. */
function keyVariables(container: ContainerDefinition): string[] {
  const names = [
    ...(container.environment ?? []).map((e) => e.name ?? ''),
    ...(container.secrets ?? []).map((s) => s.name ?? ''),
  ];
  return AWS_KEY_VARIABLES.filter((name) => names.includes(name));
}
