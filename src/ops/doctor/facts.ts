// The AWS lookups the checks are built on, each made once per run (memoized on the context) and
// each answering the question as the runbook's commands would: `describe-clusters --include
// CONFIGURATIONS`, `describe-services`, `list-tasks` + `describe-tasks`, `describe-task-definition`,
// `get-secret-value`, `describe-db-instances`, the EC2 describe calls. Absence is an answer here
// (undefined), not an error; the checks decide what absence means.

import type { DescribeLogGroupsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import type {
  NatGateway,
  NetworkInterface,
  RouteTable,
  SecurityGroup,
  Subnet,
  VpcEndpoint,
} from '@aws-sdk/client-ec2';
import type { Cluster, ContainerDefinition, Service, Task, TaskDefinition } from '@aws-sdk/client-ecs';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import type { DBInstance } from '@aws-sdk/client-rds';
import { awsModule, awsSettings } from '../../aws/clients.js';
import { parseDatabaseSecret } from '../../aws/database-secret.js';
import { isCoderdbError } from '../../core/errors.js';
import { rememberSecret } from '../../core/secret.js';
import { parsePgUrl } from '../../transport/pg-url.js';
import { awsCallFailure } from './aws-failure.js';
import type { DoctorContext } from './context.js';
import { CheckFailure } from './types.js';

export interface CallerIdentity {
  arn: string;
  account: string;
  userId: string;
}

/** What the database secret says, without its password. */
export interface SecretFacts {
  arn: string | undefined;
  format: 'url' | 'rds-json';
  host: string;
  port: number;
  database: string;
  user: string;
}

export class Facts {
  constructor(private readonly ctx: DoctorContext) {}

  identity(): Promise<CallerIdentity> {
    return this.ctx.memo('identity', async () => {
      const { GetCallerIdentityCommand } = await awsModule('sts');
      const sts = await this.ctx.aws.sts();
      const answer = await this.ctx.call('sts:GetCallerIdentity', '*', (abortSignal) =>
        sts.send(new GetCallerIdentityCommand({}), { abortSignal }),
      );
      this.ctx.callerArn = answer.Arn;
      return { arn: answer.Arn ?? 'unknown', account: answer.Account ?? '', userId: answer.UserId ?? '' };
    });
  }

  /** The access key id the credentials carry (AKIA… long-term, ASIA… temporary). */
  accessKeyId(): Promise<string | undefined> {
    return this.ctx.memo('access-key', async () => {
      try {
        return (await awsSettings(this.ctx.profile).credentials()).accessKeyId;
      } catch {
        return undefined;
      }
    });
  }

  cluster(): Promise<Cluster | undefined> {
    return this.ctx.memo('cluster', async () => {
      const { DescribeClustersCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const answer = await this.ctx.call('ecs:DescribeClusters', this.clusterArnGuess(), (abortSignal) =>
        ecs.send(
          new DescribeClustersCommand({ clusters: [this.ctx.profile.cluster], include: ['CONFIGURATIONS'] }),
          { abortSignal },
        ),
      );
      return answer.clusters?.[0];
    });
  }

  clusterNames(): Promise<string[]> {
    return this.ctx.memo('cluster-names', async () => {
      const { ListClustersCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const answer = await this.ctx.call('ecs:ListClusters', '*', (abortSignal) =>
        ecs.send(new ListClustersCommand({ maxResults: 100 }), { abortSignal }),
      );
      return (answer.clusterArns ?? []).map(lastSegment);
    });
  }

  service(): Promise<Service | undefined> {
    return this.ctx.memo('service', async () => {
      const { DescribeServicesCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const { cluster, service } = this.ctx.profile;
      const answer = await this.ctx.call('ecs:DescribeServices', '*', (abortSignal) =>
        ecs.send(new DescribeServicesCommand({ cluster, services: [service] }), { abortSignal }),
      );
      return answer.services?.[0];
    });
  }

  serviceNames(): Promise<string[]> {
    return this.ctx.memo('service-names', async () => {
      const { ListServicesCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const answer = await this.ctx.call('ecs:ListServices', '*', (abortSignal) =>
        ecs.send(new ListServicesCommand({ cluster: this.ctx.profile.cluster, maxResults: 100 }), {
          abortSignal,
        }),
      );
      return (answer.serviceArns ?? []).map(lastSegment);
    });
  }

  /** The service's RUNNING tasks (or the --task task, whatever its state), newest first. */
  tasks(): Promise<Task[]> {
    return this.ctx.memo('tasks', async () => {
      const { ListTasksCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const { cluster, service, task } = this.ctx.profile;
      let arns: string[];
      if (task) {
        arns = [task];
      } else {
        const listed = await this.ctx.call('ecs:ListTasks', '*', (abortSignal) =>
          ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'RUNNING' }), {
            abortSignal,
          }),
        );
        arns = listed.taskArns ?? [];
      }
      const tasks = await this.describeTasks(arns);
      return tasks.sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0));
    });
  }

  /** The task exec would use: the newest RUNNING one (or the --task task). */
  async task(): Promise<Task | undefined> {
    const tasks = await this.tasks();
    if (this.ctx.profile.task) return tasks[0];
    return tasks.find((task) => task.lastStatus === 'RUNNING');
  }

  /** The service's most recently stopped task, for why nothing runs. */
  lastStoppedTask(): Promise<Task | undefined> {
    return this.ctx.memo('stopped-task', async () => {
      const { ListTasksCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const { cluster, service } = this.ctx.profile;
      const listed = await this.ctx.call('ecs:ListTasks', '*', (abortSignal) =>
        ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'STOPPED' }), {
          abortSignal,
        }),
      );
      const tasks = await this.describeTasks((listed.taskArns ?? []).slice(0, 10));
      return tasks.sort((a, b) => (b.stoppedAt?.getTime() ?? 0) - (a.stoppedAt?.getTime() ?? 0))[0];
    });
  }

  private async describeTasks(arns: string[]): Promise<Task[]> {
    if (arns.length === 0) return [];
    const { DescribeTasksCommand } = await awsModule('ecs');
    const ecs = await this.ctx.aws.ecs();
    const answer = await this.ctx.call('ecs:DescribeTasks', '*', (abortSignal) =>
      ecs.send(new DescribeTasksCommand({ cluster: this.ctx.profile.cluster, tasks: arns }), { abortSignal }),
    );
    return answer.tasks ?? [];
  }

  /** The task definition of the running task, else the one the service deploys. */
  taskDefinition(): Promise<TaskDefinition> {
    return this.ctx.memo('task-definition', async () => {
      const task = await this.task().catch(() => undefined);
      const arn = task?.taskDefinitionArn ?? (await this.service())?.taskDefinition;
      if (!arn) {
        throw new CheckFailure(
          'doctor.no-task-definition',
          `neither a running task nor service ${this.ctx.profile.service} names a task definition`,
          null,
        );
      }
      const { DescribeTaskDefinitionCommand } = await awsModule('ecs');
      const ecs = await this.ctx.aws.ecs();
      const answer = await this.ctx.call('ecs:DescribeTaskDefinition', '*', (abortSignal) =>
        ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }), { abortSignal }),
      );
      if (!answer.taskDefinition) {
        throw new CheckFailure('doctor.no-task-definition', `task definition ${arn} was not found`, null);
      }
      return answer.taskDefinition;
    });
  }

  /** The configured container's definition; a CheckFailure naming the others when it is absent. */
  async containerDefinition(): Promise<{ taskDefinition: TaskDefinition; container: ContainerDefinition }> {
    const taskDefinition = await this.taskDefinition();
    const name = this.ctx.profile.container;
    const container = taskDefinition.containerDefinitions?.find((c) => c.name === name);
    if (!container) {
      const names = (taskDefinition.containerDefinitions ?? []).map((c) => c.name).join(', ') || 'none';
      throw new CheckFailure(
        'doctor.no-container',
        `task definition ${taskDefinitionLabel(taskDefinition)} has no container named "${name}" (it has: ${names})`,
        `set the container with --container <name> or CODERDB_CONTAINER`,
      );
    }
    return { taskDefinition, container };
  }

  /** The database secret, parsed; CheckFailures for a missing, unreadable or malformed one. */
  secret(): Promise<SecretFacts> {
    return this.ctx.memo('secret', async () => {
      const { GetSecretValueCommand } = await awsModule('secrets');
      const secrets = await this.ctx.aws.secrets();
      const { secretId } = this.ctx.profile;
      let value: string | undefined;
      let arn: string | undefined;
      try {
        const answer = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }), {
          abortSignal: this.ctx.signal,
        });
        value = answer.SecretString;
        arn = answer.ARN;
      } catch (error) {
        if ((error as { name?: string }).name === 'ResourceNotFoundException') {
          throw new CheckFailure(
            'doctor.secret-missing',
            `secret "${secretId}" does not exist in ${this.ctx.region}`,
            [
              `check --secret-id and --region; if it really is gone, create it with the database URL Coder uses (*** is the password):`,
              `aws secretsmanager create-secret --name ${secretId} --secret-string 'postgres://USER:***@HOST:5432/coder?sslmode=require' ${this.ctx.regionFlag}`,
            ].join('\n'),
          );
        }
        throw awsCallFailure(
          error,
          'secretsmanager:GetSecretValue',
          `arn:${this.ctx.partition}:secretsmanager:${this.ctx.region}:${this.ctx.account}:secret:${secretId}-*`,
          this.ctx.callerArn,
        );
      }
      if (!value) {
        throw new CheckFailure(
          'doctor.secret-empty',
          `secret "${secretId}" has no string value (a binary secret?)`,
          putSecretFix(secretId, this.ctx.regionFlag),
        );
      }
      rememberSecret(value);
      return { arn, ...parseSecret(value, secretId, this.ctx.regionFlag) };
    });
  }

  dbInstance(): Promise<DBInstance | undefined> {
    return this.ctx.memo('db-instance', async () => {
      const { DescribeDBInstancesCommand } = await awsModule('rds');
      const rds = await this.ctx.aws.rds();
      try {
        const answer = await rds.send(
          new DescribeDBInstancesCommand({ DBInstanceIdentifier: this.ctx.profile.rdsInstance }),
          { abortSignal: this.ctx.signal },
        );
        return answer.DBInstances?.[0];
      } catch (error) {
        if ((error as { name?: string }).name === 'DBInstanceNotFoundFault') return undefined;
        if ((error as { name?: string }).name === 'DBInstanceNotFound') return undefined;
        throw awsCallFailure(
          error,
          'rds:DescribeDBInstances',
          `arn:${this.ctx.partition}:rds:${this.ctx.region}:${this.ctx.account}:db:${this.ctx.profile.rdsInstance}`,
          this.ctx.callerArn,
        );
      }
    });
  }

  securityGroups(ids: readonly string[]): Promise<SecurityGroup[]> {
    return this.ctx.memo(`sg:${[...ids].sort().join(',')}`, async () => {
      if (ids.length === 0) return [];
      const { DescribeSecurityGroupsCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      const answer = await this.ctx.call('ec2:DescribeSecurityGroups', '*', (abortSignal) =>
        ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [...ids] }), { abortSignal }),
      );
      return answer.SecurityGroups ?? [];
    });
  }

  subnets(ids: readonly string[]): Promise<Subnet[]> {
    return this.ctx.memo(`subnets:${[...ids].sort().join(',')}`, async () => {
      if (ids.length === 0) return [];
      const { DescribeSubnetsCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      const answer = await this.ctx.call('ec2:DescribeSubnets', '*', (abortSignal) =>
        ec2.send(new DescribeSubnetsCommand({ SubnetIds: [...ids] }), { abortSignal }),
      );
      return answer.Subnets ?? [];
    });
  }

  /** The route table a subnet uses: its own association, else the VPC's main table. */
  routeTableFor(subnetId: string, vpcId: string): Promise<RouteTable | undefined> {
    return this.ctx.memo(`rtb:${subnetId}`, async () => {
      const { DescribeRouteTablesCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      const describe = (filters: { Name: string; Values: string[] }[]) =>
        this.ctx.call('ec2:DescribeRouteTables', '*', (abortSignal) =>
          ec2.send(new DescribeRouteTablesCommand({ Filters: filters }), { abortSignal }),
        );
      const own = await describe([{ Name: 'association.subnet-id', Values: [subnetId] }]);
      if (own.RouteTables?.[0]) return own.RouteTables[0];
      const main = await describe([
        { Name: 'vpc-id', Values: [vpcId] },
        { Name: 'association.main', Values: ['true'] },
      ]);
      return main.RouteTables?.[0];
    });
  }

  natGateway(id: string): Promise<NatGateway | undefined> {
    return this.ctx.memo(`nat:${id}`, async () => {
      const { DescribeNatGatewaysCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      try {
        const answer = await this.ctx.call('ec2:DescribeNatGateways', '*', (abortSignal) =>
          ec2.send(new DescribeNatGatewaysCommand({ NatGatewayIds: [id] }), { abortSignal }),
        );
        return answer.NatGateways?.[0];
      } catch (error) {
        if (isCoderdbError(error) && /NatGatewayNotFound/.test(error.code)) return undefined;
        throw error;
      }
    });
  }

  vpcEndpoints(vpcId: string): Promise<VpcEndpoint[]> {
    return this.ctx.memo(`vpce:${vpcId}`, async () => {
      const { DescribeVpcEndpointsCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      const answer = await this.ctx.call('ec2:DescribeVpcEndpoints', '*', (abortSignal) =>
        ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }), {
          abortSignal,
        }),
      );
      return answer.VpcEndpoints ?? [];
    });
  }

  networkInterface(id: string): Promise<NetworkInterface | undefined> {
    return this.ctx.memo(`eni:${id}`, async () => {
      const { DescribeNetworkInterfacesCommand } = await awsModule('ec2');
      const ec2 = await this.ctx.aws.ec2();
      try {
        const answer = await this.ctx.call('ec2:DescribeNetworkInterfaces', '*', (abortSignal) =>
          ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [id] }), { abortSignal }),
        );
        return answer.NetworkInterfaces?.[0];
      } catch (error) {
        if (isCoderdbError(error) && /NotFound/.test(error.code)) return undefined;
        throw error;
      }
    });
  }

  /** Whether a CloudWatch log group of exactly this name exists. */
  logGroupExists(name: string): Promise<boolean> {
    return this.ctx.memo(`log-group:${name}`, async () => {
      const { DescribeLogGroupsCommand } = await awsModule('logs');
      const logs = await this.ctx.aws.logs();
      let nextToken: string | undefined;
      for (let page = 0; page < 5; page++) {
        const answer: DescribeLogGroupsCommandOutput = await this.ctx.call(
          'logs:DescribeLogGroups',
          '*',
          (abortSignal) =>
            logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name, nextToken }), { abortSignal }),
        );
        if (answer.logGroups?.some((group) => group.logGroupName === name)) return true;
        nextToken = answer.nextToken;
        if (!nextToken) break;
      }
      return false;
    });
  }

  kmsKey(keyId: string): Promise<KeyMetadata | undefined> {
    return this.ctx.memo(`kms:${keyId}`, async () => {
      const { DescribeKeyCommand } = await awsModule('kms');
      const kms = await this.ctx.aws.kms();
      try {
        const answer = await kms.send(new DescribeKeyCommand({ KeyId: keyId }), {
          abortSignal: this.ctx.signal,
        });
        return answer.KeyMetadata;
      } catch (error) {
        if ((error as { name?: string }).name === 'NotFoundException') return undefined;
        throw awsCallFailure(error, 'kms:DescribeKey', keyId, this.ctx.callerArn);
      }
    });
  }

  /** The serial numbers of a user's MFA devices. */
  mfaDevices(userName: string): Promise<string[]> {
    return this.ctx.memo(`mfa:${userName}`, async () => {
      const { ListMFADevicesCommand } = await awsModule('iam');
      const iam = await this.ctx.aws.iam();
      const answer = await this.ctx.call('iam:ListMFADevices', '*', (abortSignal) =>
        iam.send(new ListMFADevicesCommand({ UserName: userName }), { abortSignal }),
      );
      return (answer.MFADevices ?? []).map((device) => device.SerialNumber ?? '').filter(Boolean);
    });
  }

  private clusterArnGuess(): string {
    return `arn:${this.ctx.partition}:ecs:${this.ctx.region}:${this.ctx.account}:cluster/${this.ctx.profile.cluster}`;
  }
}

export function lastSegment(arn: string): string {
  return arn.split('/').at(-1) ?? arn;
}

export function taskDefinitionLabel(taskDefinition: TaskDefinition): string {
  return `${taskDefinition.family ?? lastSegment(taskDefinition.taskDefinitionArn ?? '?')}:${taskDefinition.revision ?? '?'}`;
}

function putSecretFix(secretId: string, regionFlag: string): string {
  return `store the database URL Coder uses in it (*** is the password):\naws secretsmanager put-secret-value --secret-id ${secretId} --secret-string 'postgres://USER:***@HOST:5432/coder?sslmode=require' ${regionFlag}`;
}

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A DNS name, an IPv4 or IPv6 address, or a Unix socket directory. */
export function isValidHost(host: string): boolean {
  return HOST_NAME.test(host) || /^[0-9a-fA-F:.]+$/.test(host) || host.startsWith('/');
}

/** Parses the secret's value as coderdb would use it; never echoes the value. */
function parseSecret(value: string, secretId: string, regionFlag: string): Omit<SecretFacts, 'arn'> {
  const format = /^\s*postgres(ql)?:\/\//i.test(value) ? 'url' : 'rds-json';
  let target: ReturnType<typeof parsePgUrl>;
  try {
    target = parsePgUrl(parseDatabaseSecret(value, secretId));
  } catch {
    throw new CheckFailure(
      'doctor.secret-malformed',
      `secret "${secretId}" is neither a postgres:// URL nor RDS JSON with host, username and password`,
      putSecretFix(secretId, regionFlag),
    );
  }
  if (!isValidHost(target.host)) {
    const placeholder = /[${}<>]/.test(target.host) ? ' (an unsubstituted placeholder?)' : '';
    throw new CheckFailure(
      'doctor.secret-malformed',
      `secret "${secretId}" names the host "${target.host}", which is not a host name${placeholder}`,
      putSecretFix(secretId, regionFlag),
    );
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new CheckFailure(
      'doctor.secret-malformed',
      `secret "${secretId}" names the port "${target.port}", which is not a TCP port`,
      putSecretFix(secretId, regionFlag),
    );
  }
  return { format, host: target.host, port: target.port, database: target.database, user: target.user };
}
