// The endpoint itself: authentication and error shapes per protocol on the raw wire, the
// `/_sandbox/*` control routes (health, world, scenario switching, orchestrator routes), and the
// hand-off of data-channel WebSocket upgrades to the agent side.

import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient, ExecuteCommandCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { rejection, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
const upgrades: string[] = [];
const SIGNED =
  'AWS4-HMAC-SHA256 Credential=AKIASANDBOXEXAMPLE00/20240101/us-east-1/SERVICE/aws4_request, ' +
  'SignedHeaders=host;x-amz-date, Signature=0000';

beforeAll(async () => {
  t = await startTestEndpoint({
    onUpgrade(req, socket: Duplex) {
      upgrades.push(req.url ?? '');
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    },
    control(req, res) {
      if (req.url !== '/_sandbox/agent/faults') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"faults":[]}');
      return true;
    },
  });
});

afterAll(async () => {
  await t?.endpoint.close();
});

afterEach(() => t.endpoint.setScenario('healthy'));

async function post(headers: Record<string, string>, body: string) {
  const res = await fetch(t.endpoint.url, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('wire protocol', () => {
  it('answers JSON calls with a request id and rejects missing or unknown credentials', async () => {
    const target = { 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.ListClusters' };
    const json = { 'content-type': 'application/x-amz-json-1.1', ...target };
    const ok = await post({ ...json, authorization: SIGNED.replace('SERVICE', 'ecs') }, '{}');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(ok.text).clusterArns).toHaveLength(1);
    const missing = await post(json, '{}');
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.text).__type).toBe('MissingAuthenticationTokenException');
    const unknownOp = await post(
      {
        ...json,
        authorization: SIGNED.replace('SERVICE', 'ecs'),
        'x-amz-target': 'AmazonEC2ContainerServiceV20141113.Nope',
      },
      '{}',
    );
    expect(JSON.parse(unknownOp.text).__type).toBe('UnknownOperationException');
    const garbage = await post({ ...json, authorization: SIGNED.replace('SERVICE', 'ecs') }, '{not json');
    expect(JSON.parse(garbage.text).__type).toBe('SerializationException');
  });

  it('uses the Query and EC2 error shapes', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const sts = await post(form, 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(sts.status).toBe(403);
    expect(sts.text).toContain('<ErrorResponse');
    expect(sts.text).toContain('<Code>MissingAuthenticationToken</Code>');
    const iam = await post(
      { ...form, authorization: SIGNED.replace('SERVICE', 'iam') },
      'Action=Nope&Version=2010-05-08',
    );
    expect(iam.text).toContain('<Code>InvalidAction</Code>');
    const ec2 = await post(
      { ...form, authorization: SIGNED.replace('SERVICE', 'ec2') },
      'Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=subnet-0000',
    );
    expect(ec2.status).toBe(400);
    expect(ec2.text).toMatch(/<Response><Errors><Error><Code>InvalidSubnetID.NotFound<\/Code>/);
    expect(ec2.text).toContain('<RequestID>');
    // Routed by Version when the credential scope names no known service.
    const byVersion = await post(
      { ...form, authorization: SIGNED.replace('SERVICE', 'other') },
      'Action=GetCallerIdentity&Version=2011-06-15',
    );
    expect(byVersion.status).toBe(200);
    expect(byVersion.text).toContain('<GetCallerIdentityResult><UserId>AIDASANDBOXOPERATOR01</UserId>');
  });

  it('rejects foreign access keys the way each service does', async () => {
    const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' };
    const cfg = { ...t.config, credentials };
    const ecs = new ECSClient(cfg);
    const sts = new STSClient(cfg);
    const ec2 = new EC2Client(cfg);
    try {
      expect((await rejection(ecs.send(new ListTasksCommand({ cluster: IDS.clusterName })))).name).toBe(
        'UnrecognizedClientException',
      );
      expect((await rejection(sts.send(new GetCallerIdentityCommand({})))).name).toBe('InvalidClientTokenId');
      expect((await rejection(ec2.send(new DescribeSubnetsCommand({})))).name).toBe('AuthFailure');
    } finally {
      for (const c of [ecs, sts, ec2]) c.destroy();
    }
  });
});

describe('sandbox routes', () => {
  it('reports health and the world with secrets redacted', async () => {
    const health = await fetch(`${t.endpoint.url}/_sandbox/health`);
    expect(await health.json()).toMatchObject({ ok: true, scenario: 'healthy', url: t.endpoint.url });
    const world = await (await fetch(`${t.endpoint.url}/_sandbox/world`)).text();
    expect(JSON.parse(world).cluster.name).toBe(IDS.clusterName);
    expect(world).not.toContain('s3cret-Pa55');
    const list = (await (await fetch(`${t.endpoint.url}/_sandbox/scenarios`)).json()) as { name: string }[];
    expect(list.map((s) => s.name)).toContain('psql-missing');
  });

  it('switches scenario at runtime', async () => {
    const ecs = new ECSClient(t.config);
    const exec = () =>
      ecs.send(
        new ExecuteCommandCommand({
          cluster: IDS.clusterName,
          task: IDS.taskId,
          command: 'sh',
          interactive: true,
        }),
      );
    try {
      await exec();
      const res = await fetch(`${t.endpoint.url}/_sandbox/scenario`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'exec-disabled' }),
      });
      expect(await res.json()).toEqual({ scenario: 'exec-disabled' });
      expect(t.endpoint.world.scenario).toBe('exec-disabled');
      expect((await rejection(exec())).name).toBe('InvalidParameterException');
      const combined = await fetch(`${t.endpoint.url}/_sandbox/scenario`, {
        method: 'POST',
        body: JSON.stringify({ name: 'kms-encrypted+psql-missing' }),
      });
      expect(combined.status).toBe(200);
      expect(t.endpoint.world.container.hasPsql).toBe(false);
      expect(t.endpoint.world.cluster.executeCommandConfiguration?.kmsKeyId).toContain(IDS.execKmsKeyId);
      const unknown = await fetch(`${t.endpoint.url}/_sandbox/scenario`, {
        method: 'POST',
        body: JSON.stringify({ name: 'nope' }),
      });
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { error: string }).error).toContain('Unknown sandbox scenario');
      expect(() => t.endpoint.setScenario('nope')).toThrow(/Unknown sandbox scenario/);
    } finally {
      ecs.destroy();
    }
  });

  it('delegates other routes to the orchestrator and 404s the rest', async () => {
    expect(await (await fetch(`${t.endpoint.url}/_sandbox/agent/faults`)).json()).toEqual({ faults: [] });
    expect((await fetch(`${t.endpoint.url}/_sandbox/unknown`)).status).toBe(404);
  });

  it('hands data-channel upgrades to the agent and refuses others', async () => {
    const upgrade = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${t.endpoint.url}${path}`, {
          headers: { Connection: 'Upgrade', Upgrade: 'websocket' },
          timeout: 5_000,
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error('upgrade timed out')));
        req.on('error', reject);
        req.end();
      });
    expect(await upgrade('/v1/data-channel/sess-1?role=publish_subscribe')).toBe(101);
    expect(upgrades).toEqual(['/v1/data-channel/sess-1?role=publish_subscribe']);
    expect(await upgrade('/elsewhere')).toBe(404);
  });
});
