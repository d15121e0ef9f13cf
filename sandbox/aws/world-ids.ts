// Fixed identifiers and ARNs of the emulated deployment, so tests, scenarios and the orchestrator
// can name things without lookups, plus the parsing of the sandbox database URL.

/** Fixed identifiers, exported so tests and the orchestrator can name things without lookups. */
export const IDS = {
  account: '123456789012',
  region: 'us-east-1',
  clusterName: 'coder-cluster',
  serviceName: 'coder-service',
  containerName: 'coder',
  taskId: '7d3f9b1e2c4a4e8f9a6b5c0d1e2f3a4b',
  runtimeId: '7d3f9b1e2c4a4e8f9a6b5c0d1e2f3a4b-2531612879',
  taskDefinitionFamily: 'coder',
  taskDefinitionRevision: 42,
  taskRoleName: 'coder-ecs-task-role',
  executionRoleName: 'coder-ecs-execution-role',
  execPolicyName: 'ECSExecPolicy',
  callerUserName: 'operator',
  secretName: 'coder-postgres-url',
  rdsSecretName: 'coder-postgres-rds',
  dbInstanceIdentifier: 'coder-postgres',
  /** The RDS endpoint a private sandbox advertises (secret, RDS): resolvable only inside the task. */
  dbEndpointAddress: 'coder-postgres.c8q2xk4mbt7e.us-east-1.rds.amazonaws.com',
  rdsSecurityGroupId: 'sg-0b2b0521f178fdb73',
  serviceSecurityGroupId: 'sg-0f3e2d1c0b9a87654',
  vpcId: 'vpc-0e4c8a2f1b3d5a7c9',
  privateSubnetA: 'subnet-0a1b2c3d4e5f60718',
  privateSubnetB: 'subnet-0b2c3d4e5f6071829',
  publicSubnetA: 'subnet-0c3d4e5f607182930',
  privateRouteTable: 'rtb-0d4e5f6a7b8c9d0e1',
  publicRouteTable: 'rtb-0e5f6a7b8c9d0e1f2',
  natGatewayId: 'nat-0123456789abcdef0',
  internetGatewayId: 'igw-0a9b8c7d6e5f40312',
  taskEniId: 'eni-0a7b6c5d4e3f21098',
  taskPrivateIp: '10.20.1.57',
  execKmsKeyId: 'f3c1b2a4-5d6e-4f70-8a9b-0c1d2e3f4a5b',
  execKmsAlias: 'alias/coder-ecs-exec',
  secretsKmsKeyId: '0e9d8c7b-6a5f-4e3d-9c1b-0a9f8e7d6c5b',
  logGroupName: '/ecs/coder',
  execLogGroupName: '/ecs/coder-exec',
  /** Where coderdb's shared audit trail goes (profile `auditLogGroup`); created by the platform team. */
  auditLogGroupName: '/coderdb/audit',
} as const;

export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

export function arn(service: string, resource: string, region: string = IDS.region): string {
  return `arn:aws:${service}:${region}:${IDS.account}:${resource}`;
}

export function taskArnFor(cluster: string, taskId: string): string {
  return arn('ecs', `task/${cluster}/${taskId}`);
}

/** Host, port, user, password and database name of the sandbox URL (fallbacks when it is odd). */
export function parseDatabaseUrl(url: string): {
  host: string;
  port: number;
  user: string;
  password: string;
  dbname: string;
} {
  try {
    const u = new URL(url);
    return {
      host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: u.port ? Number(u.port) : 5432,
      user: decodeURIComponent(u.username) || 'coder',
      password: decodeURIComponent(u.password),
      dbname: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'coder',
    };
  } catch {
    return { host: '127.0.0.1', port: 5432, user: 'coder', password: '', dbname: 'coder' };
  }
}

/** ARNs derived from the identifiers. */
export const ARNS = {
  cluster: arn('ecs', `cluster/${IDS.clusterName}`),
  task: taskArnFor(IDS.clusterName, IDS.taskId),
  taskDefinition: arn('ecs', `task-definition/${IDS.taskDefinitionFamily}:${IDS.taskDefinitionRevision}`),
  service: arn('ecs', `service/${IDS.clusterName}/${IDS.serviceName}`),
  taskRole: `arn:aws:iam::${IDS.account}:role/${IDS.taskRoleName}`,
  executionRole: `arn:aws:iam::${IDS.account}:role/${IDS.executionRoleName}`,
  caller: `arn:aws:iam::${IDS.account}:user/${IDS.callerUserName}`,
  secret: arn('secretsmanager', `secret:${IDS.secretName}-Xy7Qp2`),
  rdsSecret: arn('secretsmanager', `secret:${IDS.rdsSecretName}-Ab3Cd4`),
  execKey: arn('kms', `key/${IDS.execKmsKeyId}`),
  secretsKey: arn('kms', `key/${IDS.secretsKmsKeyId}`),
  execLogGroup: arn('logs', `log-group:${IDS.execLogGroupName}`),
  auditLogGroup: arn('logs', `log-group:${IDS.auditLogGroupName}`),
} as const;

/** The task's network attachment (ECS attachment id and ENI MAC address). */
export const TASK_ATTACHMENT = {
  id: '5c2e8f1a-3b4d-4c6e-9f7a-1b2c3d4e5f60',
  macAddress: '0a:1b:2c:3d:4e:5f',
} as const;
