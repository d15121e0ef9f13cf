// RDS, EC2, Secrets Manager and CloudWatch Logs through the real SDK v3 clients: the database
// endpoint and secret match the sandbox database, the network objects a diagnosis walks, and the
// Coder server's logs with filter patterns and pagination.

import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeNatGatewaysCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcEndpointsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { DATABASE_URL, rejection, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let rds: RDSClient;
let ec2: EC2Client;
let secrets: SecretsManagerClient;
let logs: CloudWatchLogsClient;

beforeAll(async () => {
  t = await startTestEndpoint();
  rds = new RDSClient(t.config);
  ec2 = new EC2Client(t.config);
  secrets = new SecretsManagerClient(t.config);
  logs = new CloudWatchLogsClient(t.config);
});

afterAll(async () => {
  for (const c of [rds, ec2, secrets, logs]) c?.destroy();
  await t?.endpoint.close();
});

afterEach(() => t.endpoint.setScenario('healthy'));

describe('RDS', () => {
  it('describes the instance with the sandbox database as its endpoint', async () => {
    const out = await rds.send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: IDS.dbInstanceIdentifier }),
    );
    const db = out.DBInstances?.[0];
    expect(db?.DBInstanceStatus).toBe('available');
    expect(db?.Endpoint).toMatchObject({ Address: '127.0.0.1', Port: 54329 });
    expect(db?.Engine).toBe('postgres');
    expect(db?.EngineVersion).toMatch(/^16\./);
    expect(db?.VpcSecurityGroups).toEqual([{ VpcSecurityGroupId: IDS.rdsSecurityGroupId, Status: 'active' }]);
    expect(db?.DBSubnetGroup?.VpcId).toBe(IDS.vpcId);
    expect(db?.DBSubnetGroup?.Subnets?.map((s) => s.SubnetIdentifier)).toEqual([
      IDS.privateSubnetA,
      IDS.privateSubnetB,
    ]);
    expect(db?.PubliclyAccessible).toBe(false);
    expect(db?.IAMDatabaseAuthenticationEnabled).toBe(false);
    expect(db?.InstanceCreateTime).toBeInstanceOf(Date);
    expect(db?.TagList).toEqual([{ Key: 'Project', Value: 'coder' }]);
  });

  it('reports a stopped instance and an unknown one', async () => {
    t.endpoint.setScenario('rds-stopped');
    const out = await rds.send(new DescribeDBInstancesCommand({}));
    expect(out.DBInstances?.[0]?.DBInstanceStatus).toBe('stopped');
    const e = await rejection(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'ghost' })));
    expect(e.name).toBe('DBInstanceNotFoundFault');
    const filtered = await rds.send(
      new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-instance-id', Values: ['ghost'] }] }),
    );
    expect(filtered.DBInstances).toEqual([]);
  });
});

describe('EC2', () => {
  it('shows the RDS security group admitting the service group on the database port', async () => {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [IDS.rdsSecurityGroupId] }));
    const rule = out.SecurityGroups?.[0]?.IpPermissions?.[0];
    expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 54329, ToPort: 54329 });
    expect(rule?.UserIdGroupPairs?.[0]?.GroupId).toBe(IDS.serviceSecurityGroupId);
    t.endpoint.setScenario('sg-blocks-db');
    const blocked = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [IDS.rdsSecurityGroupId] }));
    expect(blocked.SecurityGroups?.[0]?.IpPermissions?.[0]?.UserIdGroupPairs?.[0]?.GroupId).not.toBe(
      IDS.serviceSecurityGroupId,
    );
    const e = await rejection(
      ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-00000000000000000'] })),
    );
    expect(e.name).toBe('InvalidGroup.NotFound');
  });

  it('filters subnets and finds the NAT route of the task subnet', async () => {
    const subnets = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [IDS.vpcId] }] }),
    );
    expect(subnets.Subnets).toHaveLength(3);
    const one = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [IDS.privateSubnetA] }));
    expect(one.Subnets?.[0]).toMatchObject({ CidrBlock: '10.20.1.0/24', MapPublicIpOnLaunch: false });
    const query = { Filters: [{ Name: 'association.subnet-id', Values: [IDS.privateSubnetA] }] };
    const tables = await ec2.send(new DescribeRouteTablesCommand(query));
    const routes = tables.RouteTables?.[0]?.Routes ?? [];
    expect(routes.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.NatGatewayId).toBe(IDS.natGatewayId);
    const nats = await ec2.send(new DescribeNatGatewaysCommand({}));
    expect(nats.NatGateways?.[0]).toMatchObject({ NatGatewayId: IDS.natGatewayId, State: 'available' });
    const endpoints = await ec2.send(new DescribeVpcEndpointsCommand({}));
    expect(endpoints.VpcEndpoints?.map((e) => e.ServiceName)).toEqual(['com.amazonaws.us-east-1.s3']);

    t.endpoint.setScenario('no-ssm-route');
    const cut = await ec2.send(new DescribeRouteTablesCommand(query));
    expect(cut.RouteTables?.[0]?.Routes?.some((r) => r.DestinationCidrBlock === '0.0.0.0/0')).toBe(false);
    expect((await ec2.send(new DescribeNatGatewaysCommand({}))).NatGateways).toEqual([]);
    const wildcard = await ec2.send(
      new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: ['*ssmmessages'] }] }),
    );
    expect(wildcard.VpcEndpoints).toEqual([]);
  });

  it('describes the task ENI without a public IP', async () => {
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [IDS.taskEniId] }),
    );
    const eni = out.NetworkInterfaces?.[0];
    expect(eni).toMatchObject({ PrivateIpAddress: IDS.taskPrivateIp, SubnetId: IDS.privateSubnetA });
    expect(eni?.Groups?.[0]?.GroupId).toBe(IDS.serviceSecurityGroupId);
    expect(eni?.Association).toBeUndefined();
    const byGroup = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'group-id', Values: [IDS.serviceSecurityGroupId] }],
      }),
    );
    expect(byGroup.NetworkInterfaces?.map((n) => n.NetworkInterfaceId)).toEqual([IDS.taskEniId]);
    const e = await rejection(
      ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })),
    );
    expect(e.name).toBe('InvalidParameterValue');
  });
});

describe('Secrets Manager', () => {
  it('returns the database URL by name, ARN and partial ARN', async () => {
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: IDS.secretName }));
    expect(out.SecretString).toBe(DATABASE_URL);
    expect(out.VersionStages).toEqual(['AWSCURRENT']);
    const byArn = await secrets.send(new GetSecretValueCommand({ SecretId: out.ARN }));
    expect(byArn.Name).toBe(IDS.secretName);
    const partial = await secrets.send(new GetSecretValueCommand({ SecretId: out.ARN?.slice(0, -7) }));
    expect(partial.Name).toBe(IDS.secretName);
    const rdsStyle = await secrets.send(new GetSecretValueCommand({ SecretId: IDS.rdsSecretName }));
    expect(JSON.parse(rdsStyle.SecretString ?? '{}')).toMatchObject({
      username: 'coder',
      password: 's3cret-Pa55',
      engine: 'postgres',
      host: '127.0.0.1',
      port: 54329,
      dbname: 'coder',
    });
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: IDS.secretName }));
    expect(described.VersionIdsToStages?.[out.VersionId ?? '']).toEqual(['AWSCURRENT']);
    const listed = await secrets.send(new ListSecretsCommand({}));
    expect(listed.SecretList?.map((x) => x.Name)).toEqual([IDS.secretName, IDS.rdsSecretName]);
  });

  it('fails for a missing secret and serves a malformed one', async () => {
    t.endpoint.setScenario('secret-missing');
    const e = await rejection(secrets.send(new GetSecretValueCommand({ SecretId: IDS.secretName })));
    expect(e.name).toBe('ResourceNotFoundException');
    t.endpoint.setScenario('secret-malformed');
    const bad = await secrets.send(new GetSecretValueCommand({ SecretId: IDS.secretName }));
    expect(bad.SecretString).toContain(`@\${DB_HOST}:`);
  });
});

describe('CloudWatch Logs', () => {
  const group = IDS.logGroupName;

  it('lists the log groups and streams', async () => {
    const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/ecs/' }));
    expect(groups.logGroups?.map((g) => g.logGroupName)).toEqual([IDS.logGroupName, IDS.execLogGroupName]);
    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
    expect(streams.logStreams?.[0]?.logStreamName).toBe(`ecs/coder/${IDS.taskId}`);
    t.endpoint.setScenario('exec-logging-target-missing');
    const after = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/ecs/' }));
    expect(after.logGroups?.map((g) => g.logGroupName)).toEqual([IDS.logGroupName]);
  });

  it('filters by term, time and pages with nextToken', async () => {
    const all = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'database' }),
    );
    expect(all.events?.length).toBeGreaterThan(1);
    expect(all.events?.every((e) => e.message?.includes('database'))).toBe(true);
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName: group, limit: 2, nextToken }));
      seen.push(...(page.events ?? []).map((e) => e.eventId ?? ''));
      nextToken = page.nextToken;
      pages += 1;
    } while (nextToken && pages < 100);
    const everything = await logs.send(new FilterLogEventsCommand({ logGroupName: group }));
    expect(seen).toEqual(everything.events?.map((e) => e.eventId));
    expect(pages).toBeGreaterThan(1);
    const now = Date.now();
    const recent = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, startTime: now - 30 * 60_000 }),
    );
    expect(recent.events?.every((e) => (e.timestamp ?? 0) >= now - 30 * 60_000)).toBe(true);
  });

  it('finds the database errors in db-errors-in-logs', async () => {
    const healthy = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, filterPattern: '?refused ?pq:' }),
    );
    expect(healthy.events).toEqual([]);
    t.endpoint.setScenario('db-errors-in-logs');
    const quoted = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, filterPattern: '"password authentication failed"' }),
    );
    expect(quoted.events?.length).toBe(2);
    const either = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, filterPattern: '?refused ?pq:' }),
    );
    expect(either.events?.length).toBe(5);
    expect(
      either.events?.some((e) =>
        e.message?.includes('dial tcp 127.0.0.1:54329: connect: connection refused'),
      ),
    ).toBe(true);
    const excluded = await logs.send(
      new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'erro -pubsub' }),
    );
    expect(excluded.events?.every((e) => !e.message?.includes('pubsub'))).toBe(true);
  });

  it('reads a stream forwards and backwards', async () => {
    const logStreamName = `ecs/coder/${IDS.taskId}`;
    const head = await logs.send(
      new GetLogEventsCommand({ logGroupName: group, logStreamName, startFromHead: true, limit: 3 }),
    );
    expect(head.events?.[0]?.message).toContain('Coder v2');
    const next = await logs.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName,
        limit: 3,
        nextToken: head.nextForwardToken,
      }),
    );
    expect(next.events?.[0]?.timestamp).toBeGreaterThan(head.events?.[2]?.timestamp ?? 0);
    const tail = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName, limit: 2 }));
    expect(tail.events).toHaveLength(2);
    const e = await rejection(logs.send(new FilterLogEventsCommand({ logGroupName: '/ecs/nope' })));
    expect(e.name).toBe('ResourceNotFoundException');
  });
});
