// ECS and SSM through the real SDK v3 clients: task discovery, ExecuteCommand with every check it
// makes, and Session Manager port forwarding, in the healthy world and the broken scenarios.

import {
  DescribeClustersCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ExecuteCommandCommand,
  ListClustersCommand,
  ListServicesCommand,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import {
  DescribeSessionsCommand,
  ResumeSessionCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { rejection, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let ecs: ECSClient;
let ssm: SSMClient;
const cluster = IDS.clusterName;
const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/${cluster}/${IDS.taskId}`;
const target = `ecs:${cluster}_${IDS.taskId}_${IDS.runtimeId}`;
const exec = (extra: Partial<ConstructorParameters<typeof ExecuteCommandCommand>[0]> = {}) =>
  ecs.send(
    new ExecuteCommandCommand({
      cluster,
      task: taskArn,
      container: 'coder',
      command: '/bin/sh',
      interactive: true,
      ...extra,
    }),
  );
const portForward = (
  parameters: Record<string, string[]> = { host: ['db.internal'], portNumber: ['5432'] },
) =>
  ssm.send(
    new StartSessionCommand({
      Target: target,
      DocumentName: 'AWS-StartPortForwardingSessionToRemoteHost',
      Parameters: { localPortNumber: ['15432'], ...parameters },
    }),
  );

beforeAll(async () => {
  t = await startTestEndpoint();
  ecs = new ECSClient(t.config);
  ssm = new SSMClient(t.config);
});

afterAll(async () => {
  ecs?.destroy();
  ssm?.destroy();
  await t?.endpoint.close();
});

afterEach(() => t.endpoint.setScenario('healthy'));

describe('ECS discovery', () => {
  it('lists the running task of the service', async () => {
    const out = await ecs.send(new ListTasksCommand({ cluster, serviceName: IDS.serviceName }));
    expect(out.taskArns).toEqual([taskArn]);
    const stopped = await ecs.send(new ListTasksCommand({ cluster, desiredStatus: 'STOPPED' }));
    expect(stopped.taskArns).toEqual([]);
  });

  it('rejects an unknown cluster or service', async () => {
    const e1 = await rejection(ecs.send(new ListTasksCommand({ cluster: 'nope' })));
    expect(e1.name).toBe('ClusterNotFoundException');
    const e2 = await rejection(ecs.send(new ListTasksCommand({ cluster, serviceName: 'nope' })));
    expect(e2.name).toBe('ServiceNotFoundException');
  });

  it('describes the task with the fields exec needs', async () => {
    const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn, 'f'.repeat(32)] }));
    const task = out.tasks?.[0];
    expect(task?.lastStatus).toBe('RUNNING');
    expect(task?.launchType).toBe('FARGATE');
    expect(task?.platformVersion).toBe('1.4.0');
    expect(task?.enableExecuteCommand).toBe(true);
    expect(task?.startedAt).toBeInstanceOf(Date);
    expect(task?.createdAt).toBeInstanceOf(Date);
    expect(task?.taskDefinitionArn).toMatch(/:task-definition\/coder:42$/);
    const container = task?.containers?.[0];
    expect(container?.runtimeId).toBe(IDS.runtimeId);
    expect(container?.runtimeId).toMatch(/^[0-9a-f]{32}-\d+$/);
    expect(container?.managedAgents?.[0]).toMatchObject({
      name: 'ExecuteCommandAgent',
      lastStatus: 'RUNNING',
    });
    const details = Object.fromEntries((task?.attachments?.[0]?.details ?? []).map((d) => [d.name, d.value]));
    expect(details).toMatchObject({ subnetId: IDS.privateSubnetA, privateIPv4Address: IDS.taskPrivateIp });
    expect(out.failures?.[0]?.reason).toBe('MISSING');
  });

  it('describes the service with its network configuration and deployments', async () => {
    const out = await ecs.send(
      new DescribeServicesCommand({ cluster, services: [IDS.serviceName, 'ghost'] }),
    );
    const service = out.services?.[0];
    expect(service?.enableExecuteCommand).toBe(true);
    expect(service?.networkConfiguration?.awsvpcConfiguration).toEqual({
      subnets: [IDS.privateSubnetA, IDS.privateSubnetB],
      securityGroups: [IDS.serviceSecurityGroupId],
      assignPublicIp: 'DISABLED',
    });
    expect(service?.deployments?.[0]).toMatchObject({ status: 'PRIMARY', runningCount: 1 });
    expect(out.failures?.[0]?.reason).toBe('MISSING');
  });

  it('returns the exec configuration only with include CONFIGURATIONS', async () => {
    const plain = await ecs.send(new DescribeClustersCommand({ clusters: [cluster] }));
    expect(plain.clusters?.[0]?.configuration).toBeUndefined();
    const full = await ecs.send(
      new DescribeClustersCommand({ clusters: [cluster], include: ['CONFIGURATIONS'] }),
    );
    expect(full.clusters?.[0]?.configuration?.executeCommandConfiguration).toEqual({
      logging: 'OVERRIDE',
      logConfiguration: { cloudWatchLogGroupName: IDS.execLogGroupName, cloudWatchEncryptionEnabled: false },
    });
    expect(full.clusters?.[0]?.runningTasksCount).toBe(1);
  });

  it('describes the task definition', async () => {
    const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'coder' }));
    const td = out.taskDefinition;
    expect(td?.revision).toBe(42);
    expect(td?.taskRoleArn).toBe(`arn:aws:iam::123456789012:role/${IDS.taskRoleName}`);
    expect(td?.executionRoleArn).toBe(`arn:aws:iam::123456789012:role/${IDS.executionRoleName}`);
    const cd = td?.containerDefinitions?.[0];
    expect(cd?.secrets?.[0]?.name).toBe('CODER_PG_CONNECTION_URL');
    expect(cd?.readonlyRootFilesystem).toBe(false);
    expect(cd?.linuxParameters?.initProcessEnabled).toBe(true);
    const e = await rejection(ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'coder:7' })));
    expect(e.name).toBe('ClientException');
  });

  it('lists services and clusters', async () => {
    expect((await ecs.send(new ListServicesCommand({ cluster }))).serviceArns).toHaveLength(1);
    expect((await ecs.send(new ListClustersCommand({}))).clusterArns).toEqual([
      `arn:aws:ecs:us-east-1:123456789012:cluster/${cluster}`,
    ]);
  });
});

describe('ECS ExecuteCommand', () => {
  it('opens an exec session through the broker', async () => {
    const out = await exec({ command: 'psql -c "select 1"' });
    expect(out).toMatchObject({ containerName: 'coder', interactive: true, taskArn });
    expect(out.session?.sessionId).toMatch(/^ecs-execute-command-/);
    expect(out.session?.streamUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/data-channel\//);
    expect(out.session?.tokenValue).toBeTruthy();
    expect(t.broker.opened.at(-1)).toEqual({
      kind: 'exec',
      cluster,
      taskArn,
      taskId: IDS.taskId,
      container: 'coder',
      runtimeId: IDS.runtimeId,
      command: 'psql -c "select 1"',
    });
  });

  it('passes the cluster KMS key when sessions must be encrypted', async () => {
    t.endpoint.setScenario('kms-encrypted');
    await exec();
    expect(t.broker.opened.at(-1)).toMatchObject({
      kind: 'exec',
      kmsKeyId: expect.stringContaining(IDS.execKmsKeyId),
    });
  });

  it('supports only interactive sessions', async () => {
    const e = await rejection(exec({ interactive: false }));
    expect(e.name).toBe('InvalidParameterException');
    expect(e.message).toBe('Interactive is the only mode supported currently.');
  });

  it('rejects an unknown container', async () => {
    const e = await rejection(exec({ container: 'sidecar' }));
    expect(e.name).toBe('InvalidParameterException');
  });

  it.each(['exec-disabled', 'task-predates-exec', 'agent-not-running', 'old-platform-version'])(
    'fails as not enabled in %s',
    async (scenario) => {
      t.endpoint.setScenario(scenario);
      const before = t.broker.opened.length;
      const e = await rejection(exec());
      expect(e.name).toBe('InvalidParameterException');
      expect(e.message).toContain('execute command was not enabled');
      expect(t.broker.opened.length).toBe(before);
    },
  );

  it.each(['task-role-missing-ssmmessages', 'no-ssm-route', 'readonly-rootfs', 'aws-keys-in-container-env'])(
    'fails as not connected in %s',
    async (scenario) => {
      t.endpoint.setScenario(scenario);
      const e = await rejection(exec());
      expect(e.name).toBe('TargetNotConnectedException');
    },
  );

  it('denies a caller without ecs:ExecuteCommand', async () => {
    t.endpoint.setScenario('caller-missing-execute-command');
    const e = await rejection(exec());
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain(
      'arn:aws:iam::123456789012:user/operator is not authorized to perform: ecs:ExecuteCommand',
    );
    expect(e.message).toContain(taskArn);
  });

  it('reports a stopped task when the service was scaled to zero', async () => {
    t.endpoint.setScenario('no-running-task');
    expect(
      (await ecs.send(new ListTasksCommand({ cluster, serviceName: IDS.serviceName }))).taskArns,
    ).toEqual([]);
    const stopped = await ecs.send(new ListTasksCommand({ cluster, desiredStatus: 'STOPPED' }));
    expect(stopped.taskArns).toEqual([taskArn]);
    const task = (await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }))).tasks?.[0];
    expect(task?.lastStatus).toBe('STOPPED');
    expect(task?.stoppedReason).toContain('Scaling activity');
    const service = (await ecs.send(new DescribeServicesCommand({ cluster, services: [IDS.serviceName] })))
      .services?.[0];
    expect(service?.desiredCount).toBe(0);
    expect((await rejection(exec())).name).toBe('InvalidParameterException');
  });
});

describe('SSM port forwarding', () => {
  it('starts a port session through the broker', async () => {
    const out = await portForward();
    expect(out.SessionId).toBeTruthy();
    expect(out.TokenValue).toBeTruthy();
    expect(out.StreamUrl).toMatch(/^ws:\/\//);
    expect(t.broker.opened.at(-1)).toEqual({
      kind: 'port',
      target,
      documentName: 'AWS-StartPortForwardingSessionToRemoteHost',
      parameters: { host: ['db.internal'], portNumber: ['5432'], localPortNumber: ['15432'] },
    });
    const local = await ssm.send(
      new StartSessionCommand({
        Target: target,
        DocumentName: 'AWS-StartPortForwardingSession',
        Parameters: { portNumber: ['3000'] },
      }),
    );
    expect(local.SessionId).toBeTruthy();
  });

  it('validates the document, parameters and target', async () => {
    // The caller may use AWS-StartPortForwardingSession*, so this one passes IAM and is then unknown.
    const doc = await rejection(
      ssm.send(new StartSessionCommand({ Target: target, DocumentName: 'AWS-StartPortForwardingSessionX' })),
    );
    expect(doc.name).toBe('InvalidDocument');
    const denied = await rejection(
      ssm.send(new StartSessionCommand({ Target: target, DocumentName: 'AWS-Nope' })),
    );
    expect(denied.name).toBe('AccessDeniedException');
    const params = await rejection(portForward({ host: [] }));
    expect(params.name).toBe('InvalidParameters');
    const bad = await rejection(
      ssm.send(
        new StartSessionCommand({
          Target: `ecs:${cluster}_${IDS.taskId}_${IDS.taskId}-1`,
          DocumentName: 'AWS-StartPortForwardingSession',
          Parameters: { portNumber: ['5432'] },
        }),
      ),
    );
    expect(bad.name).toBe('TargetNotConnected');
  });

  it('denies a caller without ssm:StartSession', async () => {
    t.endpoint.setScenario('caller-missing-start-session');
    const e = await rejection(portForward());
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain('ssm:StartSession');
  });

  it('reports the target not connected when exec is off', async () => {
    t.endpoint.setScenario('exec-disabled');
    expect((await rejection(portForward())).name).toBe('TargetNotConnected');
  });

  it('resumes, terminates and describes sessions', async () => {
    const { SessionId } = await portForward();
    const resumed = await ssm.send(new ResumeSessionCommand({ SessionId }));
    expect(resumed.TokenValue).toBeTruthy();
    expect(resumed.StreamUrl).toContain(SessionId);
    const active = await ssm.send(new DescribeSessionsCommand({ State: 'Active' }));
    expect(active.Sessions?.some((s) => s.SessionId === SessionId && s.Target === target)).toBe(true);
    expect((await ssm.send(new TerminateSessionCommand({ SessionId }))).SessionId).toBe(SessionId);
    expect(t.broker.terminated).toContain(SessionId);
    const gone = await ssm.send(new ResumeSessionCommand({ SessionId }));
    expect(gone.SessionId).toBe(SessionId);
    expect(gone.TokenValue).toBeUndefined();
    const history = await ssm.send(new DescribeSessionsCommand({ State: 'History' }));
    expect(history.Sessions?.find((s) => s.SessionId === SessionId)?.Status).toBe('Terminated');
    const unknown = await rejection(ssm.send(new ResumeSessionCommand({ SessionId: 'never-opened' })));
    expect(unknown.name).toBe('DoesNotExistException');
  });
});
