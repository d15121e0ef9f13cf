// The ECS API's view of world objects: tasks, containers, services, clusters and task definitions
// as DescribeTasks / DescribeServices / DescribeClusters / DescribeTaskDefinition return them.

import type { EcsCluster, EcsService, EcsTask, TaskDefinition, World } from '../world.js';

const date = (ms: number | undefined): Date | undefined => (ms === undefined ? undefined : new Date(ms));

export function taskShape(task: EcsTask, includeTags: boolean): Record<string, unknown> {
  const stopped = task.lastStatus === 'STOPPED';
  return {
    attachments: [
      {
        id: task.eni.attachmentId,
        type: 'ElasticNetworkInterface',
        status: stopped ? 'DELETED' : task.eni.status,
        details: [
          { name: 'subnetId', value: task.eni.subnetId },
          { name: 'networkInterfaceId', value: task.eni.networkInterfaceId },
          { name: 'macAddress', value: task.eni.macAddress },
          { name: 'privateDnsName', value: task.eni.privateDnsName },
          { name: 'privateIPv4Address', value: task.eni.privateIp },
        ],
      },
    ],
    attributes: [{ name: 'ecs.cpu-architecture', value: 'x86_64' }],
    availabilityZone: task.availabilityZone,
    clusterArn: task.clusterArn,
    connectivity: stopped ? 'DISCONNECTED' : 'CONNECTED',
    connectivityAt: date(task.connectivityAt),
    containers: task.containers.map((c) => ({
      containerArn: c.containerArn,
      taskArn: task.arn,
      name: c.name,
      image: c.image,
      imageDigest: c.imageDigest,
      runtimeId: c.runtimeId,
      lastStatus: c.lastStatus,
      exitCode: c.exitCode,
      reason: c.reason,
      networkBindings: [],
      networkInterfaces: [{ attachmentId: task.eni.attachmentId, privateIpv4Address: task.eni.privateIp }],
      healthStatus: c.healthStatus,
      managedAgents: c.managedAgents.map((a) => ({
        lastStartedAt: date(a.lastStartedAt),
        name: a.name,
        reason: a.reason,
        lastStatus: a.lastStatus,
      })),
      cpu: c.cpu,
    })),
    cpu: task.cpu,
    createdAt: date(task.createdAt),
    desiredStatus: task.desiredStatus,
    enableExecuteCommand: task.enableExecuteCommand,
    ephemeralStorage: { sizeInGiB: 20 },
    group: task.group,
    healthStatus: task.healthStatus,
    lastStatus: task.lastStatus,
    launchType: task.launchType,
    memory: task.memory,
    overrides: {
      containerOverrides: task.containers.map((c) => ({ name: c.name })),
      inferenceAcceleratorOverrides: [],
    },
    platformVersion: task.platformVersion,
    platformFamily: task.platformFamily,
    pullStartedAt: date(task.pullStartedAt),
    pullStoppedAt: date(task.pullStoppedAt),
    startedAt: date(task.startedAt),
    startedBy: task.startedBy,
    stopCode: task.stopCode,
    stoppedAt: date(task.stoppedAt),
    stoppedReason: task.stoppedReason,
    stoppingAt: date(task.stoppingAt),
    executionStoppedAt: date(task.stoppedAt),
    tags: includeTags ? [{ key: 'Project', value: 'coder' }] : undefined,
    taskArn: task.arn,
    taskDefinitionArn: task.taskDefinitionArn,
    version: task.version,
  };
}

export function serviceShape(service: EcsService, includeTags: boolean): Record<string, unknown> {
  const net = { awsvpcConfiguration: { ...service.networkConfiguration } };
  return {
    serviceArn: service.arn,
    serviceName: service.name,
    clusterArn: service.clusterArn,
    loadBalancers: [],
    serviceRegistries: [],
    status: service.status,
    desiredCount: service.desiredCount,
    runningCount: service.runningCount,
    pendingCount: service.pendingCount,
    launchType: service.launchType,
    platformVersion: service.platformVersion,
    platformFamily: service.platformFamily,
    taskDefinition: service.taskDefinitionArn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
    },
    deployments: service.deployments.map((d) => ({
      id: d.id,
      status: d.status,
      taskDefinition: d.taskDefinitionArn,
      desiredCount: d.desiredCount,
      pendingCount: d.pendingCount,
      runningCount: d.runningCount,
      failedTasks: d.failedTasks,
      createdAt: new Date(d.createdAt),
      updatedAt: new Date(d.updatedAt),
      launchType: service.launchType,
      platformVersion: service.platformVersion === 'LATEST' ? '1.4.0' : service.platformVersion,
      platformFamily: service.platformFamily,
      networkConfiguration: net,
      rolloutState: d.rolloutState,
      rolloutStateReason: d.rolloutStateReason,
    })),
    events: service.events.map((e) => ({ id: e.id, createdAt: new Date(e.createdAt), message: e.message })),
    createdAt: new Date(service.createdAt),
    placementConstraints: [],
    placementStrategy: [],
    networkConfiguration: net,
    healthCheckGracePeriodSeconds: 0,
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: 'ECS' },
    createdBy: service.createdBy,
    enableECSManagedTags: true,
    propagateTags: 'NONE',
    enableExecuteCommand: service.enableExecuteCommand,
    availabilityZoneRebalancing: 'ENABLED',
    tags: includeTags ? [{ key: 'Project', value: 'coder' }] : undefined,
  };
}

export function clusterShape(world: World, cluster: EcsCluster, include: string[]): Record<string, unknown> {
  const running = world.tasks.filter(
    (t) => t.clusterArn === cluster.arn && t.lastStatus === 'RUNNING',
  ).length;
  const exec = cluster.executeCommandConfiguration;
  return {
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    status: cluster.status,
    registeredContainerInstancesCount: 0,
    runningTasksCount: running,
    pendingTasksCount: 0,
    activeServicesCount: world.service.clusterArn === cluster.arn ? 1 : 0,
    statistics: include.includes('STATISTICS')
      ? [
          { name: 'runningFargateTasksCount', value: String(running) },
          { name: 'activeFargateServiceCount', value: '1' },
        ]
      : [],
    tags: include.includes('TAGS') ? [{ key: 'Project', value: 'coder' }] : [],
    settings: include.includes('SETTINGS') ? cluster.settings : undefined,
    capacityProviders: cluster.capacityProviders,
    defaultCapacityProviderStrategy: [],
    configuration:
      include.includes('CONFIGURATIONS') && exec
        ? {
            executeCommandConfiguration: {
              kmsKeyId: exec.kmsKeyId,
              logging: exec.logging,
              logConfiguration: exec.logConfiguration,
            },
          }
        : undefined,
  };
}

export function taskDefinitionShape(td: TaskDefinition): Record<string, unknown> {
  return {
    taskDefinitionArn: td.arn,
    containerDefinitions: td.containerDefinitions.map((c) => ({
      name: c.name,
      image: c.image,
      cpu: c.cpu,
      portMappings: c.portMappings,
      essential: c.essential,
      environment: c.environment,
      mountPoints: [],
      volumesFrom: [],
      secrets: c.secrets,
      readonlyRootFilesystem: c.readonlyRootFilesystem,
      linuxParameters: { initProcessEnabled: c.linuxParameters.initProcessEnabled },
      logConfiguration: { ...c.logConfiguration, secretOptions: [] },
      systemControls: [],
    })),
    family: td.family,
    taskRoleArn: td.taskRoleArn,
    executionRoleArn: td.executionRoleArn,
    networkMode: td.networkMode,
    revision: td.revision,
    volumes: [],
    status: td.status,
    requiresAttributes: [
      { name: 'com.amazonaws.ecs.capability.logging-driver.awslogs' },
      { name: 'ecs.capability.execution-role-awslogs' },
      { name: 'ecs.capability.secrets.asm.environment-variables' },
      { name: 'com.amazonaws.ecs.capability.task-iam-role' },
      { name: 'ecs.capability.task-eni' },
    ],
    placementConstraints: [],
    compatibilities: ['EC2', 'FARGATE'],
    requiresCompatibilities: td.requiresCompatibilities,
    cpu: td.cpu,
    memory: td.memory,
    pidMode: td.pidMode,
    registeredAt: new Date(td.registeredAt),
    registeredBy: td.registeredBy,
  };
}
