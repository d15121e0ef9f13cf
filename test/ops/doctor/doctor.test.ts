// runDoctor as a library call against the emulated AWS endpoint in this process, with the real SDK
// clients: how checks follow the profile's transport, --only with its dependencies, the stable
// list of ids, and a run against an endpoint that never answers, which must still end.

import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSession } from '../../../src/aws/session.js';
import { createTransport } from '../../../src/context.js';
import { DEFAULTS, type Profile, type TransportName } from '../../../src/core/config.js';
import { CoderdbError } from '../../../src/core/errors.js';
import { Secret } from '../../../src/core/secret.js';
import { CHECKS, type DoctorOptions, runDoctor } from '../../../src/ops/doctor/index.js';
import { DATABASE_URL, startTestEndpoint, type TestEndpoint } from '../../sandbox/aws/helpers.js';
import { DOCUMENTED_IDS } from './ids.js';

let t: TestEndpoint;

function profileFor(endpoint: string, transport: TransportName, url?: string): Profile {
  return {
    name: 'sandbox',
    ...DEFAULTS,
    awsEndpoint: endpoint,
    transport,
    ...(url ? { url: new Secret(url) } : {}),
  };
}

async function doctor(
  transport: TransportName,
  options: DoctorOptions,
  url?: string,
  endpoint = t.endpoint.url,
) {
  const profile = profileFor(endpoint, transport, url);
  const aws = new AwsSession(profile);
  try {
    const report = await runDoctor(
      { profile, aws, transport: createTransport(profile, aws), env: {} },
      options,
    );
    return { report, byId: Object.fromEntries(report.checks.map((c) => [c.id, c])) };
  } finally {
    aws.destroy();
  }
}

describe('runDoctor', () => {
  beforeAll(async () => {
    t = await startTestEndpoint();
  });
  afterAll(async () => {
    await t?.endpoint.close();
  });

  it('keeps its check ids stable and in report order', () => {
    expect(CHECKS.map((c) => c.id)).toEqual(DOCUMENTED_IDS);
  });

  it('runs the checks --only names plus what they depend on, and refuses unknown ids', async () => {
    t.endpoint.setScenario('healthy');
    const { report } = await doctor('exec', { only: ['ecs.exec-agent'] });
    expect(report.checks.map((c) => c.id)).toEqual([
      'aws.credentials',
      'ecs.cluster',
      'ecs.service',
      'ecs.task',
      'ecs.task-exec',
      'ecs.platform-version',
      'ecs.exec-agent',
    ]);
    expect(report.ok).toBe(true);
    await expect(doctor('exec', { only: ['ecs.nope'] })).rejects.toThrow(CoderdbError);
  });

  it('reports exec-only failures as warnings when the transport connects directly', async () => {
    t.endpoint.setScenario('exec-disabled');
    const only = ['ecs.exec-agent', 'ecs.service-exec', 'iam.caller'];
    const exec = await doctor('exec', { only });
    expect(exec.byId['ecs.service-exec']?.status).toBe('fail');
    expect(exec.report.ok).toBe(false);

    const direct = await doctor('direct', { only });
    expect(direct.byId['ecs.service-exec']?.status).toBe('warn');
    expect(direct.byId['ecs.service-exec']?.finding).toContain('this profile uses direct');
    // Downgraded, but what depends on it still cannot be checked.
    expect(direct.byId['ecs.exec-agent']?.status).toBe('skip');
    expect(direct.byId['iam.caller']).toMatchObject({ status: 'skip' });
    expect(direct.byId['iam.caller']?.finding).toContain(
      'needs neither ecs:ExecuteCommand nor ssm:StartSession',
    );
    expect(direct.report.ok).toBe(true);

    // auto with a URL of the profile's own connects directly; without one it needs the task.
    const autoUrl = await doctor('auto', { only }, DATABASE_URL);
    expect(autoUrl.byId['ecs.service-exec']?.status).toBe('warn');
    expect(autoUrl.byId['ecs.service-exec']?.finding).toContain('auto, which connects direct here');
    const auto = await doctor('auto', { only });
    expect(auto.byId['ecs.service-exec']?.status).toBe('fail');
  });

  it('asks for both session permissions with auto, and warns when only one is there', async () => {
    t.endpoint.setScenario('caller-missing-start-session');
    const { byId } = await doctor('auto', { only: ['iam.caller'] });
    expect(byId['iam.caller']?.status).toBe('warn');
    expect(byId['iam.caller']?.finding).toContain('auto will use exec');
    expect(byId['iam.caller']?.fix).toContain('"Action": "ssm:StartSession"');
    t.endpoint.setScenario('caller-missing-execute-command+caller-missing-start-session');
    const none = await doctor('auto', { only: ['iam.caller'] });
    expect(none.byId['iam.caller']?.status).toBe('fail');
    expect(none.byId['iam.caller']?.fix).toContain('"Action": "ecs:ExecuteCommand"');
  });

  it('turns a denied API call into the IAM statement that allows it', async () => {
    t.endpoint.setScenario('healthy');
    // The world is rebuilt by the next setScenario; take FilterLogEvents away from the operator.
    for (const policy of t.endpoint.world.managedPolicies) {
      for (const statement of policy.document.Statement) {
        if (Array.isArray(statement.Action)) {
          statement.Action = statement.Action.filter((a) => a !== 'logs:FilterLogEvents');
        }
      }
    }
    const { byId } = await doctor('exec', { only: ['logs.database-errors'] });
    const check = byId['logs.database-errors'];
    expect(check?.status).toBe('fail');
    expect(check?.finding).toBe(
      'logs:FilterLogEvents on arn:aws:logs:us-east-1:123456789012:log-group:/ecs/coder:* was denied to the caller arn:aws:iam::123456789012:user/operator',
    );
    expect(check?.fix).toContain('"Action": "logs:FilterLogEvents"');
    expect(check?.fix).toContain('"Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/coder:*"');
    t.endpoint.setScenario('healthy');
  });

  it('ends with timeouts when the AWS endpoint never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const { byId, report } = await doctor(
        'exec',
        { only: ['ecs.cluster', 'secret.value', 'rds.instance'], timeoutMs: 500 },
        undefined,
        `http://127.0.0.1:${port}`,
      );
      expect(byId['aws.credentials']).toMatchObject({ status: 'fail', finding: 'no answer within 0.5 s' });
      expect(byId['ecs.cluster']?.status).toBe('skip');
      expect(report.ok).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
