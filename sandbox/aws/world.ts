// The emulated deployment as plain, JSON-serializable data: the account's ECS cluster, service and
// task, IAM roles and policies, the database secret, the RDS instance, the VPC, log events and KMS
// keys. Every service module reads (and a few write) this one object; scenarios mutate a healthy
// copy into a broken deployment. Timestamps are epoch milliseconds, relative to when it was built.

import { buildIam } from './world-iam.js';
import { ARNS, arn, DAY, IDS, MINUTE, parseDatabaseUrl, TASK_ATTACHMENT } from './world-ids.js';
import { coderServerLogLines, execSessionLogLines } from './world-logs.js';
import { buildNetwork } from './world-network.js';
import type {
  BuildWorldOptions,
  DbInstance,
  EcsService,
  EcsTask,
  KmsKey,
  LogGroup,
  NameValue,
  SecretEntry,
  TaskDefinition,
  World,
} from './world-types.js';

export * from './world-ids.js';
export type * from './world-types.js';

export function buildWorld(options: BuildWorldOptions): World {
  const now = options.now ?? Date.now();
  const db = parseDatabaseUrl(options.databaseUrl);
  const { account, region, clusterName, serviceName, taskId } = IDS;
  const clusterArn = ARNS.cluster;
  const taskArn = ARNS.task;
  const taskDefinitionArn = ARNS.taskDefinition;
  const taskStarted = now - 3 * 60 * MINUTE;
  const deployed = taskStarted - 2 * MINUTE;

  const environment: NameValue[] = [
    { name: 'CODER_ACCESS_URL', value: 'https://coder.example.com' },
    { name: 'CODER_HTTP_ADDRESS', value: '0.0.0.0:3000' },
    { name: 'CODER_PROMETHEUS_ENABLE', value: 'true' },
    { name: 'CODER_TELEMETRY_ENABLE', value: 'false' },
  ];

  const taskDefinition: TaskDefinition = {
    arn: taskDefinitionArn,
    family: IDS.taskDefinitionFamily,
    revision: IDS.taskDefinitionRevision,
    taskRoleArn: ARNS.taskRole,
    executionRoleArn: ARNS.executionRole,
    networkMode: 'awsvpc',
    cpu: '1024',
    memory: '2048',
    registeredAt: deployed - 5 * MINUTE,
    registeredBy: `arn:aws:iam::${account}:user/deploy`,
    status: 'ACTIVE',
    requiresCompatibilities: ['FARGATE'],
    containerDefinitions: [
      {
        name: IDS.containerName,
        image: 'ghcr.io/coder/coder:v2.15.1',
        cpu: 0,
        essential: true,
        portMappings: [{ containerPort: 3000, hostPort: 3000, protocol: 'tcp', name: 'coder-http' }],
        environment,
        secrets: [{ name: 'CODER_PG_CONNECTION_URL', valueFrom: ARNS.secret }],
        readonlyRootFilesystem: false,
        linuxParameters: { initProcessEnabled: true },
        logConfiguration: {
          logDriver: 'awslogs',
          options: {
            'awslogs-group': IDS.logGroupName,
            'awslogs-region': region,
            'awslogs-stream-prefix': 'ecs',
          },
        },
      },
    ],
  };

  const task: EcsTask = {
    taskId,
    arn: taskArn,
    clusterArn,
    taskDefinitionArn,
    group: `service:${serviceName}`,
    startedBy: 'ecs-svc/8936215520391846201',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    launchType: 'FARGATE',
    platformVersion: '1.4.0',
    platformFamily: 'Linux',
    cpu: '1024',
    memory: '2048',
    availabilityZone: 'us-east-1a',
    enableExecuteCommand: true,
    healthStatus: 'HEALTHY',
    version: 4,
    createdAt: taskStarted - 70_000,
    pullStartedAt: taskStarted - 50_000,
    pullStoppedAt: taskStarted - 20_000,
    connectivityAt: taskStarted - 60_000,
    startedAt: taskStarted,
    containers: [
      {
        name: IDS.containerName,
        containerArn: arn('ecs', `container/${clusterName}/${taskId}/0b6f3a2e-8d4c-4e1f-a9b7-2c5d8e1f4a3b`),
        runtimeId: IDS.runtimeId,
        image: 'ghcr.io/coder/coder:v2.15.1',
        imageDigest: 'sha256:3f1e9a7c2b5d8e4f6a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e2f4a6b8c0d1e3f',
        lastStatus: 'RUNNING',
        healthStatus: 'HEALTHY',
        cpu: '0',
        managedAgents: [
          { name: 'ExecuteCommandAgent', lastStatus: 'RUNNING', lastStartedAt: taskStarted + 4_000 },
        ],
      },
    ],
    eni: {
      attachmentId: TASK_ATTACHMENT.id,
      networkInterfaceId: IDS.taskEniId,
      subnetId: IDS.privateSubnetA,
      privateIp: IDS.taskPrivateIp,
      macAddress: TASK_ATTACHMENT.macAddress,
      privateDnsName: `ip-${IDS.taskPrivateIp.replace(/\./g, '-')}.ec2.internal`,
      status: 'ATTACHED',
    },
  };

  const deploymentId = 'ecs-svc/8936215520391846201';
  const service: EcsService = {
    name: serviceName,
    arn: ARNS.service,
    clusterArn,
    status: 'ACTIVE',
    desiredCount: 1,
    runningCount: 1,
    pendingCount: 0,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    platformFamily: 'Linux',
    taskDefinitionArn,
    enableExecuteCommand: true,
    networkConfiguration: {
      subnets: [IDS.privateSubnetA, IDS.privateSubnetB],
      securityGroups: [IDS.serviceSecurityGroupId],
      assignPublicIp: 'DISABLED',
    },
    createdAt: now - 200 * DAY,
    createdBy: `arn:aws:iam::${account}:user/deploy`,
    deployments: [
      {
        id: deploymentId,
        status: 'PRIMARY',
        taskDefinitionArn,
        desiredCount: 1,
        runningCount: 1,
        pendingCount: 0,
        failedTasks: 0,
        createdAt: deployed,
        updatedAt: taskStarted + 90_000,
        rolloutState: 'COMPLETED',
        rolloutStateReason: 'ECS deployment ecs-svc/8936215520391846201 completed.',
      },
    ],
    events: [
      {
        id: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
        createdAt: taskStarted + 90_000,
        message: `(service ${serviceName}) has reached a steady state.`,
      },
      {
        id: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
        createdAt: taskStarted - 70_000,
        message: `(service ${serviceName}) has started 1 tasks: (task ${taskId}).`,
      },
    ],
  };

  const secrets: SecretEntry[] = [
    {
      name: IDS.secretName,
      arn: ARNS.secret,
      description: 'PostgreSQL connection URL for Coder',
      secretString: options.databaseUrl,
      versionId: '6b1f2c3d-4e5a-4b6c-8d7e-9f0a1b2c3d4e',
      createdAt: now - 200 * DAY,
      lastChangedAt: now - 45 * DAY,
      lastAccessedAt: Date.UTC(
        new Date(now).getUTCFullYear(),
        new Date(now).getUTCMonth(),
        new Date(now).getUTCDate(),
      ),
    },
    {
      name: IDS.rdsSecretName,
      arn: ARNS.rdsSecret,
      description: 'RDS master credentials for coder-postgres',
      secretString: JSON.stringify({
        username: db.user,
        password: db.password,
        engine: 'postgres',
        host: db.host,
        port: db.port,
        dbname: db.dbname,
        dbInstanceIdentifier: IDS.dbInstanceIdentifier,
      }),
      versionId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a',
      createdAt: now - 200 * DAY,
      lastChangedAt: now - 45 * DAY,
      lastAccessedAt: now - 3 * DAY,
    },
  ];

  const kmsKeys: KmsKey[] = [
    {
      keyId: IDS.execKmsKeyId,
      arn: ARNS.execKey,
      aliases: [IDS.execKmsAlias],
      description: 'Encrypts ECS Exec sessions for coder-cluster',
      enabled: true,
      keyState: 'Enabled',
      keyManager: 'CUSTOMER',
      createdAt: now - 150 * DAY,
    },
    {
      keyId: IDS.secretsKmsKeyId,
      arn: ARNS.secretsKey,
      aliases: ['alias/aws/secretsmanager'],
      description: 'Default key that protects my Secrets Manager data when no other key is defined',
      enabled: true,
      keyState: 'Enabled',
      keyManager: 'AWS',
      createdAt: now - 400 * DAY,
    },
  ];

  const dbInstances: DbInstance[] = [
    {
      identifier: IDS.dbInstanceIdentifier,
      arn: arn('rds', `db:${IDS.dbInstanceIdentifier}`),
      resourceId: 'db-K7QW2ZJX4N5Y6P3R8T1V0U9S2M',
      status: 'available',
      engine: 'postgres',
      engineVersion: '16.4',
      instanceClass: 'db.t4g.medium',
      endpoint: { address: db.host, port: db.port, hostedZoneId: 'Z2R2ITUGPM61AM' },
      masterUsername: db.user,
      dbName: db.dbname,
      allocatedStorage: 50,
      storageType: 'gp3',
      storageEncrypted: true,
      kmsKeyId: arn('kms', 'key/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'),
      vpcSecurityGroupIds: [IDS.rdsSecurityGroupId],
      subnetGroup: {
        name: 'coder-db-subnets',
        description: 'Private subnets for coder-postgres',
        vpcId: IDS.vpcId,
        subnetIds: [IDS.privateSubnetA, IDS.privateSubnetB],
      },
      availabilityZone: 'us-east-1a',
      multiAZ: false,
      publiclyAccessible: false,
      iamDatabaseAuthenticationEnabled: false,
      backupRetentionPeriod: 7,
      caCertificateIdentifier: 'rds-ca-rsa2048-g1',
      deletionProtection: true,
      createdAt: now - 200 * DAY,
    },
  ];

  const logGroups: LogGroup[] = [
    {
      name: IDS.logGroupName,
      arn: arn('logs', `log-group:${IDS.logGroupName}:*`),
      createdAt: now - 200 * DAY,
      retentionInDays: 30,
      streams: [
        {
          name: `ecs/${IDS.containerName}/${taskId}`,
          createdAt: taskStarted,
          events: coderServerLogLines({ start: taskStarted, now, dbHost: db.host, dbPort: db.port }),
        },
      ],
    },
    {
      name: IDS.execLogGroupName,
      arn: `${ARNS.execLogGroup}:*`,
      createdAt: now - 150 * DAY,
      retentionInDays: 90,
      streams: [
        {
          name: 'ecs-execute-command-0a1b2c3d4e5f67890',
          createdAt: now - 26 * 60 * MINUTE,
          events: execSessionLogLines(now - 26 * 60 * MINUTE),
        },
      ],
    },
    // Empty until coderdb writes to it: one stream per operator and host (`user@host`).
    {
      name: IDS.auditLogGroupName,
      arn: `${ARNS.auditLogGroup}:*`,
      createdAt: now - 100 * DAY,
      retentionInDays: 400,
      streams: [],
    },
  ];

  return {
    scenario: 'healthy',
    builtAt: now,
    account,
    region,
    ...buildIam(now),
    cluster: {
      name: clusterName,
      arn: clusterArn,
      status: 'ACTIVE',
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      settings: [{ name: 'containerInsights', value: 'disabled' }],
      executeCommandConfiguration: {
        logging: 'OVERRIDE',
        logConfiguration: {
          cloudWatchLogGroupName: IDS.execLogGroupName,
          cloudWatchEncryptionEnabled: false,
        },
      },
    },
    service,
    tasks: [task],
    taskDefinitions: [taskDefinition],
    container: { hasPsql: true },
    secrets,
    kmsKeys,
    dbInstances,
    ...buildNetwork(now, db.port, taskStarted),
    logGroups,
  };
}

/** The world as JSON for `/_sandbox/world`, with secret values and credentials redacted. */
export function redactedWorld(world: World): unknown {
  const copy = structuredClone(world);
  for (const s of copy.secrets) s.secretString = '[redacted]';
  for (const td of copy.taskDefinitions) {
    for (const cd of td.containerDefinitions) {
      for (const e of cd.environment) {
        if (/SECRET|PASSWORD|TOKEN/i.test(e.name)) e.value = '[redacted]';
      }
    }
  }
  return copy;
}
