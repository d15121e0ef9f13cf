// coderdb doctor through the built CLI against one sandbox, for the database side and the caller:
// the secret, the RDS instance and its endpoint, the security group, Coder's own log lines, the
// end-to-end probe, and credentials (none, an AWS profile that wants an MFA code without a
// terminal, and policies that deny everything without MFA, fixed with an MFA session token).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { switchScenario } from '../helpers/scenario.js';
import { runDoctor, SEVERAL_RUNS } from './doctor-helpers.js';

let sandbox: TestSandbox;
let dbPort: number;
let dbPassword: string;

/** Runs doctor in scenario `name`. */
async function doctor(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  await switchScenario(sandbox.state.awsEndpoint, name);
  return runDoctor(sandbox, args, env);
}

/** A config file with a profile that uses the sandbox's AWS endpoint but not its fixed keys. */
function boxProfile(extra: Record<string, string> = {}): string {
  const file = join(sandbox.dir, 'doctor-config.json');
  const box = { awsEndpoint: sandbox.state.awsEndpoint, transport: 'exec', ...extra };
  writeFileSync(file, JSON.stringify({ profiles: { box } }));
  return file;
}

describe('coderdb doctor: database side and credentials', () => {
  beforeAll(async () => {
    sandbox = await startSandbox();
    const url = new URL(sandbox.state.databaseUrl);
    dbPort = Number(url.port);
    dbPassword = decodeURIComponent(url.password);
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('fails secret.value for a missing secret, and skips what needs it', async () => {
    const { code, byId } = await doctor('secret-missing', ['--only', 'rds.endpoint']);
    expect(code).toBe(5);
    expect(byId['secret.value']).toMatchObject({
      status: 'fail',
      finding: 'secret "coder-postgres-url" does not exist in us-east-1',
    });
    expect(byId['secret.value']?.fix).toContain('aws secretsmanager create-secret --name coder-postgres-url');
    expect(byId['rds.endpoint']).toMatchObject({
      status: 'skip',
      finding: 'skipped: needs secret.value (Database secret readable and valid), which failed',
    });
    expect(byId['rds.instance']?.status).toBe('pass');
  });

  it('fails secret.value for a malformed secret without printing it', async () => {
    const { code, byId, output } = await doctor('secret-malformed', ['--only', 'secret.value']);
    expect(code).toBe(5);
    expect(byId['secret.value']?.status).toBe('fail');
    const placeholder = '$' + '{DB_HOST}';
    expect(byId['secret.value']?.finding).toBe(
      `secret "coder-postgres-url" names the host "${placeholder}", which is not a host name (an unsubstituted placeholder?)`,
    );
    expect(byId['secret.value']?.fix).toContain(
      'aws secretsmanager put-secret-value --secret-id coder-postgres-url',
    );
    if (dbPassword.length >= 4) expect(output).not.toContain(dbPassword);
  });

  it('fails rds.endpoint when the secret points elsewhere than the instance', async () => {
    const { code, byId, output } = await doctor('secret-endpoint-mismatch', ['--only', 'rds.endpoint']);
    expect(code).toBe(5);
    expect(byId['rds.endpoint']).toMatchObject({
      status: 'fail',
      finding: `the secret says coder-postgres.cunxsqwqr7rg.us-east-1.rds.amazonaws.com:${dbPort + 1} but coder-postgres listens on 127.0.0.1:${dbPort}`,
    });
    expect(byId['rds.endpoint']?.fix).toContain(`postgres://USER:***@127.0.0.1:${dbPort}/`);
    if (dbPassword.length >= 4) expect(output).not.toContain(dbPassword);
  });

  it('fails rds.instance when the instance is stopped, with the command that starts it', async () => {
    const { code, byId } = await doctor('rds-stopped', ['--only', 'network.db-ingress']);
    expect(code).toBe(5);
    expect(byId['rds.instance']).toMatchObject({
      status: 'fail',
      finding: 'coder-postgres is stopped, so it refuses connections',
    });
    expect(byId['rds.instance']?.fix).toContain(
      'aws rds start-db-instance --db-instance-identifier coder-postgres --region us-east-1',
    );
    expect(byId['network.db-ingress']?.status).toBe('skip');
  });

  it('fails network.db-ingress when the RDS security group does not admit the service', async () => {
    const { code, byId } = await doctor('sg-blocks-db', ['--only', 'network.db-ingress']);
    expect(code).toBe(5);
    expect(byId['network.db-ingress']).toMatchObject({
      status: 'fail',
      finding: `no ingress rule of sg-0b2b0521f178fdb73 admits the service's security group sg-0f3e2d1c0b9a87654 on tcp/${dbPort}`,
      fix: `aws ec2 authorize-security-group-ingress --group-id sg-0b2b0521f178fdb73 --protocol tcp --port ${dbPort} --source-group sg-0f3e2d1c0b9a87654 --region us-east-1`,
    });
  });

  it(
    'warns about recent database errors in the log group, with the latest line',
    async () => {
      const { code, byId } = await doctor('db-errors-in-logs', ['--only', 'logs.database-errors']);
      expect(code).toBe(0);
      expect(byId['logs.database-errors']?.status).toBe('warn');
      expect(byId['logs.database-errors']?.finding).toMatch(
        /^5 database error\(s\) in \/ecs\/coder in the last hour; latest 6 min ago: \[erro\] coderd: failed to acquire database connection/,
      );
      expect(byId['logs.database-errors']?.fix).toContain(
        'aws logs filter-log-events --log-group-name /ecs/coder',
      );
      const healthy = await doctor('healthy', ['--only', 'logs.database-errors']);
      expect(healthy.byId['logs.database-errors']?.finding).toMatch(
        /^no database errors in \/ecs\/coder in the last hour/,
      );
    },
    SEVERAL_RUNS,
  );

  it(
    'fails probe.select when the database cannot be reached, passes with its latency when it can',
    async () => {
      const refused = await doctor('healthy', [
        '--only',
        'probe.select',
        '--url',
        `postgres://coder:not-the-password@127.0.0.1:1/coder`,
      ]);
      expect(refused.code).toBe(5);
      expect(refused.byId['probe.select']?.status).toBe('fail');
      expect(refused.byId['probe.select']?.finding).toContain('connection refused');
      expect(refused.output).not.toContain('not-the-password');
      const ok = await doctor('healthy', ['--only', 'probe.select']);
      expect(ok.code).toBe(0);
      expect(ok.byId['probe.select']?.finding).toMatch(
        /^select 1 over [\w ()]+ answered in [\d.]+ ms \(session opened in [\d.]+ ms\)$/,
      );
    },
    SEVERAL_RUNS,
  );

  it(
    'fails aws.credentials without credentials, and for an AWS profile that wants MFA off a terminal',
    async () => {
      const none = await doctor('healthy', [
        '--config',
        boxProfile(),
        '--profile',
        'box',
        '--only',
        'ecs.cluster',
      ]);
      expect(none.code).toBe(5);
      expect(none.byId['aws.credentials']?.status).toBe('fail');
      expect(none.byId['aws.credentials']?.finding).toContain('no usable AWS credentials');
      expect(none.byId['aws.credentials']?.fix).toContain('aws sso login');
      expect(none.byId['ecs.cluster']?.status).toBe('skip');

      writeFileSync(
        join(sandbox.dir, 'aws-config'),
        [
          '[profile base]',
          'region = us-east-1',
          '[profile needs-mfa]',
          'role_arn = arn:aws:iam::123456789012:role/coder-operator',
          'source_profile = base',
          'mfa_serial = arn:aws:iam::123456789012:mfa/operator',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(sandbox.dir, 'aws-credentials'),
        `[base]\naws_access_key_id = ${SANDBOX_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${SANDBOX_CREDENTIALS.secretAccessKey}\n`,
      );
      const mfa = await doctor('healthy', [
        '--config',
        boxProfile({ awsProfile: 'needs-mfa' }),
        '--profile',
        'box',
        '--only',
        'aws.credentials',
      ]);
      expect(mfa.code).toBe(5);
      expect(mfa.byId['aws.credentials']?.finding).toBe(
        'the AWS profile needs-mfa needs an MFA code (arn:aws:iam::123456789012:mfa/operator) and there is no terminal to ask on',
      );
      expect(mfa.byId['aws.credentials']?.fix).toContain(
        'aws sts get-session-token --serial-number arn:aws:iam::123456789012:mfa/operator',
      );
    },
    SEVERAL_RUNS,
  );

  it(
    'fails aws.credentials when policies require MFA, and passes with an MFA session token',
    async () => {
      const denied = await doctor('mfa-required', ['--transport', 'exec', '--only', 'ecs.cluster']);
      expect(denied.code).toBe(5);
      expect(denied.byId['aws.credentials']?.status).toBe('fail');
      expect(denied.byId['aws.credentials']?.finding).toContain(
        'is denied without MFA: ecs:DescribeClusters was refused by an explicit Deny',
      );
      expect(denied.byId['aws.credentials']?.fix).toContain(
        'aws sts get-session-token --serial-number arn:aws:iam::123456789012:mfa/operator',
      );
      expect(denied.byId['ecs.cluster']?.status).toBe('skip');

      const sts = new STSClient({
        endpoint: sandbox.state.awsEndpoint,
        region: 'us-east-1',
        credentials: SANDBOX_CREDENTIALS,
        maxAttempts: 1,
      });
      let credentials: NodeJS.ProcessEnv;
      try {
        const { Credentials } = await sts.send(
          new GetSessionTokenCommand({
            SerialNumber: 'arn:aws:iam::123456789012:mfa/operator',
            TokenCode: '123456',
          }),
        );
        credentials = {
          AWS_ACCESS_KEY_ID: Credentials?.AccessKeyId,
          AWS_SECRET_ACCESS_KEY: Credentials?.SecretAccessKey,
          AWS_SESSION_TOKEN: Credentials?.SessionToken,
        };
      } finally {
        sts.destroy();
      }
      const allowed = await doctor(
        'mfa-required',
        ['--config', boxProfile(), '--profile', 'box', '--only', 'ecs.cluster'],
        credentials,
      );
      expect(allowed.code).toBe(0);
      expect(allowed.byId['aws.credentials']?.status).toBe('pass');
      expect(allowed.byId['ecs.cluster']?.status).toBe('pass');
    },
    SEVERAL_RUNS,
  );

  it('refuses an unknown check id', async () => {
    const result = await sandbox.run(['doctor', '--only', 'nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('there is no check named "nope"');
  });
});
