// Named broken deployments. Each scenario mutates a freshly built healthy world into one
// misconfiguration an operator meets in practice; the emulated APIs then fail (or report) exactly
// what the real ones would. Names can be combined with `+` (`kms-encrypted+db-errors-in-logs`).

import { type BuildWorldOptions, buildWorld, IDS, parseDatabaseUrl, type World } from './world.js';
import { databaseErrorLogLines } from './world-logs.js';

export interface Scenario {
  description: string;
  apply(world: World): void;
}

function runningTask(world: World) {
  const task = world.tasks[0];
  if (!task) throw new Error('the healthy world has no task');
  return task;
}

function taskDefinition(world: World) {
  const td = world.taskDefinitions[0];
  if (!td) throw new Error('the healthy world has no task definition');
  return td;
}

function coderContainerDefinition(world: World) {
  const cd = taskDefinition(world).containerDefinitions.find((c) => c.name === IDS.containerName);
  if (!cd) throw new Error('the healthy world has no coder container definition');
  return cd;
}

function role(world: World, name: string) {
  const r = world.roles.find((x) => x.name === name);
  if (!r) throw new Error(`the healthy world has no role ${name}`);
  return r;
}

function callerStatements(world: World) {
  const doc = world.caller.inlinePolicies.CoderDatabaseAccess;
  if (!doc) throw new Error('the healthy world has no CoderDatabaseAccess policy');
  return doc;
}

function dropStatement(world: World, sid: string): void {
  const doc = callerStatements(world);
  doc.Statement = doc.Statement.filter((s) => s.Sid !== sid);
}

function disableExecOnTask(world: World): void {
  const task = runningTask(world);
  task.enableExecuteCommand = false;
  for (const c of task.containers) c.managedAgents = [];
}

function enableKms(world: World): void {
  const key = world.kmsKeys.find((k) => k.keyId === IDS.execKmsKeyId);
  if (!key || !world.cluster.executeCommandConfiguration)
    throw new Error('the healthy world has no exec key');
  world.cluster.executeCommandConfiguration.kmsKeyId = key.arn;
  const policy = role(world, IDS.taskRoleName).inlinePolicies[IDS.execPolicyName];
  policy?.Statement.push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: key.arn });
}

export const SCENARIOS: Record<string, Scenario> = {
  healthy: {
    description: 'Everything works: exec enabled, agent running, permissions, network, database and secret.',
    apply() {},
  },
  'exec-disabled': {
    description: 'ECS Exec is disabled on the service and on the running task (no ExecuteCommandAgent).',
    apply(world) {
      world.service.enableExecuteCommand = false;
      disableExecOnTask(world);
    },
  },
  'task-predates-exec': {
    description: 'The service has exec enabled, but the running task was started before that (no agent).',
    apply: disableExecOnTask,
  },
  'no-running-task': {
    description: 'The service was scaled to 0; its last task is STOPPED with a stoppedReason.',
    apply(world) {
      const task = runningTask(world);
      const stoppedAt = world.builtAt - 40 * 60_000;
      world.service.desiredCount = 0;
      world.service.runningCount = 0;
      for (const d of world.service.deployments) {
        d.desiredCount = 0;
        d.runningCount = 0;
      }
      world.service.events.unshift({
        id: '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f',
        createdAt: stoppedAt - 30_000,
        message: `(service ${IDS.serviceName}) has stopped 1 running tasks: (task ${task.taskId}).`,
      });
      task.lastStatus = 'STOPPED';
      task.desiredStatus = 'STOPPED';
      task.stoppingAt = stoppedAt - 30_000;
      task.stoppedAt = stoppedAt;
      task.stopCode = 'ServiceSchedulerInitiated';
      task.stoppedReason = 'Scaling activity initiated by (deployment ecs-svc/8936215520391846201)';
      task.healthStatus = 'UNKNOWN';
      task.eni.status = 'DELETED';
      for (const c of task.containers) {
        c.lastStatus = 'STOPPED';
        c.exitCode = 0;
        c.healthStatus = 'UNKNOWN';
        for (const a of c.managedAgents) a.lastStatus = 'STOPPED';
      }
      world.networkInterfaces = world.networkInterfaces.filter((n) => n.id !== task.eni.networkInterfaceId);
    },
  },
  'agent-not-running': {
    description: 'The task has exec enabled but its ExecuteCommandAgent is STOPPED (with a reason).',
    apply(world) {
      for (const c of runningTask(world).containers) {
        c.managedAgents = [
          {
            name: 'ExecuteCommandAgent',
            lastStatus: 'STOPPED',
            lastStartedAt: runningTask(world).startedAt,
            reason: 'The ExecuteCommandAgent exited unexpectedly. Restart the task to start it again.',
          },
        ];
      }
    },
  },
  'old-platform-version': {
    description: 'The service and task run Fargate platform 1.3.0, which has no ExecuteCommandAgent.',
    apply(world) {
      world.service.platformVersion = '1.3.0';
      const task = runningTask(world);
      task.platformVersion = '1.3.0';
      for (const c of task.containers) c.managedAgents = [];
    },
  },
  'task-role-missing-ssmmessages': {
    description: 'ECSExecPolicy grants ssm:* instead of ssmmessages:*, so the agent cannot connect.',
    apply(world) {
      role(world, IDS.taskRoleName).inlinePolicies[IDS.execPolicyName] = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'ssm:*', Resource: '*' }],
      };
    },
  },
  'caller-missing-execute-command': {
    description: 'The operator has no ecs:ExecuteCommand permission (the EcsExec statement is gone).',
    apply: (world) => dropStatement(world, 'EcsExec'),
  },
  'caller-missing-start-session': {
    description: 'The operator has no ssm:StartSession permission (the PortForwarding statement is gone).',
    apply: (world) => dropStatement(world, 'PortForwarding'),
  },
  'caller-cannot-simulate': {
    description:
      'The operator may not call iam:SimulatePrincipalPolicy; tools must read the policies instead.',
    apply(world) {
      for (const p of world.managedPolicies) {
        p.document.Statement = p.document.Statement.filter((s) => s.Sid !== 'SimulatePolicies');
      }
    },
  },
  'sg-blocks-db': {
    description: "The RDS security group admits only a bastion's group, not the service's, on the DB port.",
    apply(world) {
      const bastion = 'sg-0a1b2c3d4e5f60789';
      world.securityGroups.push({
        id: bastion,
        name: 'coder-bastion-sg',
        description: 'Bastion host (decommissioned)',
        vpcId: IDS.vpcId,
        ingress: [],
        egress: [{ protocol: '-1', cidrs: [{ cidr: '0.0.0.0/0' }], groups: [] }],
      });
      const sg = world.securityGroups.find((g) => g.id === IDS.rdsSecurityGroupId);
      for (const r of sg?.ingress ?? []) r.groups = [{ groupId: bastion, description: 'Bastion host' }];
    },
  },
  'rds-stopped': {
    description: 'The RDS instance coder-postgres is stopped.',
    apply(world) {
      for (const db of world.dbInstances) db.status = 'stopped';
    },
  },
  'secret-missing': {
    description: 'The secret coder-postgres-url does not exist (GetSecretValue: ResourceNotFoundException).',
    apply(world) {
      world.secrets = world.secrets.filter((s) => s.name !== IDS.secretName);
    },
  },
  'secret-malformed': {
    description: 'The secret coder-postgres-url has an unsubstituted DB_HOST placeholder as its host.',
    apply(world) {
      const secret = world.secrets.find((s) => s.name === IDS.secretName);
      if (!secret) return;
      const db = parseDatabaseUrl(secret.secretString);
      const auth = `${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}`;
      secret.secretString = `postgres://${auth}@\${DB_HOST}:${db.port}/${db.dbname}?sslmode=require`;
    },
  },
  'no-ssm-route': {
    description: 'Private subnets with no NAT route, no ssmmessages VPC endpoint and no public IP.',
    apply(world) {
      for (const t of world.routeTables) t.routes = t.routes.filter((r) => !r.natGatewayId);
      const natEnis = new Set(world.natGateways.map((n) => n.networkInterfaceId));
      world.natGateways = [];
      world.networkInterfaces = world.networkInterfaces.filter((n) => !natEnis.has(n.id));
      world.vpcEndpoints = world.vpcEndpoints.filter((e) => !e.serviceName.endsWith('.ssmmessages'));
      world.service.networkConfiguration.assignPublicIp = 'DISABLED';
    },
  },
  'readonly-rootfs': {
    description: 'The coder container has readonlyRootFilesystem, so the exec agent cannot start.',
    apply(world) {
      coderContainerDefinition(world).readonlyRootFilesystem = true;
    },
  },
  'init-process-disabled': {
    description: 'linuxParameters.initProcessEnabled is false (exec works; orphaned processes linger).',
    apply(world) {
      coderContainerDefinition(world).linuxParameters.initProcessEnabled = false;
    },
  },
  'aws-keys-in-container-env': {
    description: 'The container sets AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, overriding the task role.',
    apply(world) {
      coderContainerDefinition(world).environment.push(
        { name: 'AWS_ACCESS_KEY_ID', value: 'AKIA2CODERLEGACY0001' },
        { name: 'AWS_SECRET_ACCESS_KEY', value: 'legacy/Sandbox+Example+Secret+Key00000000' },
      );
    },
  },
  'kms-encrypted': {
    description: "Healthy, but the cluster's exec configuration has a KMS key: sessions must be encrypted.",
    apply: enableKms,
  },
  'kms-key-unusable': {
    description: 'Sessions must be encrypted, but the operator lacks kms:GenerateDataKey on the key.',
    apply(world) {
      enableKms(world);
      for (const s of callerStatements(world).Statement) {
        if (s.Sid === 'ExecSessionKey') s.Action = 'kms:Decrypt';
      }
    },
  },
  'exec-logging-target-missing': {
    description: "The cluster's exec logging points at /ecs/coder-exec, which does not exist.",
    apply(world) {
      world.logGroups = world.logGroups.filter((g) => g.name !== IDS.execLogGroupName);
    },
  },
  'db-errors-in-logs': {
    description: 'The Coder log group has recent database errors (connection refused, password rejected).',
    apply(world) {
      const db = world.dbInstances[0];
      const stream = world.logGroups.find((g) => g.name === IDS.logGroupName)?.streams[0];
      if (!db || !stream) return;
      const ctx = {
        start: world.builtAt,
        now: world.builtAt,
        dbHost: db.endpoint.address,
        dbPort: db.endpoint.port,
      };
      stream.events = [...stream.events, ...databaseErrorLogLines(ctx)].sort(
        (a, b) => a.timestamp - b.timestamp,
      );
    },
  },
  'audit-sink-unreachable': {
    description:
      'CloudWatch Logs answers every call with 503 ServiceUnavailable: the audit sink cannot take records.',
    apply(world) {
      world.logsUnavailable = true;
    },
  },
  'audit-sink-throttled': {
    description:
      'CloudWatch Logs throttles the next two PutLogEvents calls (ThrottlingException), then takes them.',
    apply(world) {
      world.logsThrottledPuts = 2;
    },
  },
  'audit-sink-denied': {
    description: 'The operator may not write to /coderdb/audit (the AuditTrail statement is gone).',
    apply: (world) => dropStatement(world, 'AuditTrail'),
  },
  'audit-group-missing': {
    description: "coderdb's audit log group /coderdb/audit does not exist.",
    apply(world) {
      world.logGroups = world.logGroups.filter((g) => g.name !== IDS.auditLogGroupName);
    },
  },
  'pid-mode-task': {
    description:
      'The task definition sets pidMode "task": ECS Exec runs one agent per PID namespace, in one container.',
    apply(world) {
      taskDefinition(world).pidMode = 'task';
    },
  },
  'mfa-required': {
    description:
      "The operator's policies deny everything but MFA set-up unless the credentials were issued with MFA.",
    apply(world) {
      world.caller.inlinePolicies.ForceMFA = {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'DenyAllExceptListedIfNoMFA',
            Effect: 'Deny',
            NotAction: [
              'iam:CreateVirtualMFADevice',
              'iam:EnableMFADevice',
              'iam:GetUser',
              'iam:ListMFADevices',
              'iam:ListVirtualMFADevices',
              'iam:ResyncMFADevice',
              'sts:GetSessionToken',
            ],
            Resource: '*',
            Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } },
          },
        ],
      };
    },
  },
  'secret-endpoint-mismatch': {
    description: "The secret names the runbook's old RDS host and another port, not the instance's endpoint.",
    apply(world) {
      const secret = world.secrets.find((s) => s.name === IDS.secretName);
      if (!secret) return;
      const db = parseDatabaseUrl(secret.secretString);
      const auth = `${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}`;
      const host = 'coder-postgres.cunxsqwqr7rg.us-east-1.rds.amazonaws.com';
      secret.secretString = `postgres://${auth}@${host}:${db.port + 1}/${db.dbname}?sslmode=require`;
    },
  },
  'psql-missing': {
    description: 'The AWS side is healthy; the container has no psql (world.container.hasPsql is false).',
    apply(world) {
      world.container.hasPsql = false;
    },
  },
};

export function scenarioNames(): string[] {
  return Object.keys(SCENARIOS);
}

/** Applies a scenario (or `a+b+…`) to a world built healthy; throws on an unknown name. */
export function applyScenario(world: World, name: string): World {
  const parts = name
    .split('+')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const part of parts) {
    if (!SCENARIOS[part]) {
      throw new Error(`Unknown sandbox scenario "${part}". Known: ${scenarioNames().join(', ')}`);
    }
  }
  for (const part of parts) SCENARIOS[part]!.apply(world);
  world.scenario = parts.length > 0 ? parts.join('+') : 'healthy';
  return world;
}

/** A fresh world for a scenario. */
export function buildScenarioWorld(options: BuildWorldOptions, name = 'healthy'): World {
  return applyScenario(buildWorld(options), name);
}
