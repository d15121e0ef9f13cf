// Amazon ECS (awsJson1_1, target prefix AmazonEC2ContainerServiceV20141113): the read operations
// coderdb uses to find the Coder task, and ExecuteCommand, which checks what real ECS checks
// (interactive mode, cluster, caller permission, task state, container, exec enabled and agent
// running, agent connectivity) before asking the session broker for a data channel.

import { execAgentConnectivity } from '../derive.js';
import { AwsError } from '../errors.js';
import type { JsonInput } from '../protocol/json-input.js';
import { type EcsCluster, type EcsTask, taskArnFor, type World } from '../world.js';
import { clusterShape, serviceShape, taskDefinitionShape, taskShape } from './ecs-shapes.js';
import type { JsonService, ServiceContext } from './types.js';

const invalid = (message: string) => new AwsError('InvalidParameterException', message);

function findCluster(world: World, ref: string | undefined): EcsCluster | undefined {
  const name = ref ?? 'default';
  const c = world.cluster;
  return name === c.name || name === c.arn ? c : undefined;
}

function requireCluster(world: World, ref: string | undefined): EcsCluster {
  const cluster = findCluster(world, ref);
  if (!cluster) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
  return cluster;
}

/** A task id or ARN (new `task/cluster/id` or old `task/id` form) → task id. */
function taskIdOf(ref: string): string {
  return ref.includes('/') ? ref.slice(ref.lastIndexOf('/') + 1) : ref;
}

function findTask(world: World, cluster: EcsCluster, ref: string): EcsTask | undefined {
  const id = taskIdOf(ref);
  return world.tasks.find((t) => t.clusterArn === cluster.arn && t.taskId === id);
}

function serviceMatches(world: World, ref: string): boolean {
  return ref === world.service.name || ref === world.service.arn;
}

function listTasks(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:ListTasks');
  const cluster = requireCluster(ctx.world, input.string('cluster'));
  const serviceName = input.string('serviceName');
  const desired = input.string('desiredStatus') ?? 'RUNNING';
  if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desired))
    throw invalid(`Invalid desiredStatus: ${desired}`);
  if (serviceName !== undefined && !serviceMatches(ctx.world, serviceName)) {
    throw new AwsError('ServiceNotFoundException', 'Service not found.');
  }
  const family = input.string('family');
  const startedBy = input.string('startedBy');
  const taskArns = ctx.world.tasks
    .filter((t) => t.clusterArn === cluster.arn)
    .filter((t) => serviceName === undefined || t.group === `service:${ctx.world.service.name}`)
    .filter((t) => (desired === 'STOPPED' ? t.desiredStatus === 'STOPPED' : t.desiredStatus === 'RUNNING'))
    .filter((t) => family === undefined || t.taskDefinitionArn.includes(`:task-definition/${family}:`))
    .filter((t) => startedBy === undefined || t.startedBy === startedBy)
    .map((t) => t.arn);
  return { taskArns };
}

function describeTasks(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:DescribeTasks');
  const cluster = requireCluster(ctx.world, input.string('cluster'));
  const refs = input.stringList('tasks') ?? [];
  if (refs.length === 0) throw invalid('Tasks cannot be empty.');
  const tags = (input.stringList('include') ?? []).includes('TAGS');
  const tasks: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const task = findTask(ctx.world, cluster, ref);
    if (task) tasks.push(taskShape(task, tags));
    else
      failures.push({ arn: ref.startsWith('arn:') ? ref : taskArnFor(cluster.name, ref), reason: 'MISSING' });
  }
  return { tasks, failures };
}

function describeServices(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:DescribeServices');
  const cluster = requireCluster(ctx.world, input.string('cluster'));
  const refs = input.stringList('services') ?? [];
  if (refs.length === 0) throw invalid('Services cannot be empty.');
  const tags = (input.stringList('include') ?? []).includes('TAGS');
  const services: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    if (serviceMatches(ctx.world, ref) && ctx.world.service.clusterArn === cluster.arn) {
      services.push(serviceShape(ctx.world.service, tags));
    } else {
      const name = ref.startsWith('arn:')
        ? ref
        : `arn:aws:ecs:${ctx.world.region}:${ctx.world.account}:service/${cluster.name}/${ref}`;
      failures.push({ arn: name, reason: 'MISSING' });
    }
  }
  return { services, failures };
}

function describeClusters(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:DescribeClusters');
  const refs = input.stringList('clusters') ?? ['default'];
  const include = input.stringList('include') ?? [];
  const clusters: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const cluster = findCluster(ctx.world, ref);
    if (cluster) clusters.push(clusterShape(ctx.world, cluster, include));
    else {
      const name = ref.startsWith('arn:')
        ? ref
        : `arn:aws:ecs:${ctx.world.region}:${ctx.world.account}:cluster/${ref}`;
      failures.push({ arn: name, reason: 'MISSING' });
    }
  }
  return { clusters, failures };
}

function describeTaskDefinition(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:DescribeTaskDefinition');
  const ref = input.requiredString('taskDefinition');
  const short = ref.startsWith('arn:')
    ? ref.slice(ref.indexOf('task-definition/') + 'task-definition/'.length)
    : ref;
  const [family, revision] = short.split(':');
  const candidates = ctx.world.taskDefinitions
    .filter(
      (td) =>
        td.family === family &&
        (revision === undefined ? td.status === 'ACTIVE' : td.revision === Number(revision)),
    )
    .sort((a, b) => b.revision - a.revision);
  const td = candidates[0];
  if (!td) throw new AwsError('ClientException', 'Unable to describe task definition.');
  const tags = (input.stringList('include') ?? []).includes('TAGS');
  return {
    taskDefinition: taskDefinitionShape(td),
    tags: tags ? [{ key: 'Project', value: 'coder' }] : undefined,
  };
}

function listServices(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:ListServices');
  const cluster = requireCluster(ctx.world, input.string('cluster'));
  return { serviceArns: ctx.world.service.clusterArn === cluster.arn ? [ctx.world.service.arn] : [] };
}

function listClusters(_input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ecs:ListClusters');
  return { clusterArns: [ctx.world.cluster.arn] };
}

const EXEC_NOT_ENABLED =
  'The execute command failed because execute command was not enabled when the task was run or the ' +
  "execute command agent isn't running. Wait and try again or run a new task with execute command " +
  'enabled and try again.';

function executeCommand(input: JsonInput, ctx: ServiceContext): unknown {
  const { world } = ctx;
  if (input.boolean('interactive') !== true)
    throw invalid('Interactive is the only mode supported currently.');
  const command = input.requiredString('command');
  const cluster = requireCluster(world, input.string('cluster'));
  const taskRef = input.requiredString('task');
  const taskArn = taskRef.startsWith('arn:') ? taskRef : taskArnFor(cluster.name, taskRef);
  ctx.authorize('ecs:ExecuteCommand', taskArn);
  const task = findTask(world, cluster, taskRef);
  if (!task) throw invalid(`The specified task ${taskRef} could not be found in cluster ${cluster.name}.`);
  if (task.lastStatus !== 'RUNNING') {
    throw invalid(`The execute command failed because the task is in the ${task.lastStatus} state.`);
  }
  const containerName = input.string('container');
  if (containerName === undefined && task.containers.length > 1) {
    throw invalid('The container name must be specified when the task has more than one container.');
  }
  const container =
    containerName === undefined ? task.containers[0] : task.containers.find((c) => c.name === containerName);
  if (!container) throw invalid(`The container ${containerName} was not found in task ${task.arn}.`);
  const agent = container.managedAgents.find((a) => a.name === 'ExecuteCommandAgent');
  if (!task.enableExecuteCommand || agent?.lastStatus !== 'RUNNING') throw invalid(EXEC_NOT_ENABLED);
  if (!execAgentConnectivity(world, task).ok) {
    throw new AwsError(
      'TargetNotConnectedException',
      'The execute command failed due to an internal error. Try again later.',
    );
  }
  if (!ctx.broker)
    throw new AwsError('ServerException', 'sandbox: no session broker is attached to this endpoint.', 500);
  const kmsKeyId = cluster.executeCommandConfiguration?.kmsKeyId;
  const grant = ctx.broker.open({
    kind: 'exec',
    cluster: cluster.name,
    taskArn: task.arn,
    taskId: task.taskId,
    container: container.name,
    runtimeId: container.runtimeId,
    command,
    ...(kmsKeyId ? { kmsKeyId } : {}),
  });
  ctx.state.sessions.set(grant.sessionId, {
    sessionId: grant.sessionId,
    target: `ecs:${cluster.name}_${task.taskId}_${container.runtimeId}`,
    startedAt: Date.now(),
    status: 'Connected',
    owner: world.caller.arn,
  });
  return {
    clusterArn: cluster.arn,
    containerArn: container.containerArn,
    containerName: container.name,
    interactive: true,
    session: { sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: grant.tokenValue },
    taskArn: task.arn,
  };
}

export const ecsService: JsonService = {
  protocol: 'json',
  targetPrefix: 'AmazonEC2ContainerServiceV20141113',
  signingName: 'ecs',
  invalidInputCode: 'InvalidParameterException',
  operations: {
    ListTasks: listTasks,
    DescribeTasks: describeTasks,
    DescribeServices: describeServices,
    DescribeClusters: describeClusters,
    DescribeTaskDefinition: describeTaskDefinition,
    ListServices: listServices,
    ListClusters: listClusters,
    ExecuteCommand: executeCommand,
  },
};
