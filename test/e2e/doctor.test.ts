// coderdb doctor through the built CLI against one sandbox, switched between the emulated AWS
// scenarios at runtime: the healthy deployment passes, each ECS Exec prerequisite fails in the
// scenario that breaks it with the right finding and fix, the JSON is exactly the documented
// shape, and the checklist is coloured only on a terminal without NO_COLOR.

import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { switchScenario } from '../helpers/scenario.js';
import { DOCUMENTED_IDS } from '../ops/doctor/ids.js';
import { runDoctor, SEVERAL_RUNS, SLOW_MACHINE } from './doctor-helpers.js';

let sandbox: TestSandbox;

const scenario = (name: string) => switchScenario(sandbox.state.awsEndpoint, name);
const doctor = (...args: string[]) => runDoctor(sandbox, args);

/** Runs one check (and what it needs) over the exec transport in a scenario. */
async function check(name: string, id: string, ...args: string[]) {
  await scenario(name);
  const run = await doctor('--transport', 'exec', '--only', id, ...args);
  const found = run.byId[id];
  if (!found) throw new Error(`no ${id} in ${run.stdout}`);
  return { ...run, check: found };
}

describe('coderdb doctor: ECS Exec side', () => {
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('passes on the healthy sandbox with the JSON shape and ids documented', async () => {
    await scenario('healthy');
    const { code, checks, stdout } = await doctor();
    expect(code).toBe(0);
    expect(checks.map((c) => c.id)).toEqual(DOCUMENTED_IDS);
    expect(Object.keys(JSON.parse(stdout))).toEqual(['checks']);
    for (const c of checks) {
      expect(Object.keys(c)).toEqual(['id', 'title', 'status', 'finding', 'fix']);
      // The sandbox profile has a URL, so auto connects directly: no session permissions needed,
      // and the healthy cluster has no exec KMS key.
      // The sandbox's reads run as its superuser: no reader role, so reader.role warns.
      // No auditLogGroup in the profile: audit.sink has nothing to check.
      const expected =
        c.id === 'iam.caller' || c.id === 'exec-config.kms' || c.id === 'audit.sink'
          ? 'skip'
          : c.id === 'reader.role'
            ? 'warn'
            : 'pass';
      expect(c.status, `${c.id}: ${c.finding}`).toBe(expected);
      if (c.status === 'pass') expect(c.fix).toBeNull();
    }
    expect(checks.find((c) => c.id === 'probe.select')?.finding).toMatch(
      /^select 1 over [\w ()]+ answered in [\d.]+ ms/,
    );
  });

  it('passes over the exec transport too, probing end to end through the task', async () => {
    await scenario('healthy');
    const { code, checks } = await doctor('--transport', 'exec');
    expect(code).toBe(0);
    for (const c of checks) {
      if (c.id === 'exec-config.kms' || c.id === 'audit.sink') expect(c.status).toBe('skip');
      // Falls back to direct (a warning) only while the exec transport is not part of the build.
      else if (c.id === 'probe.select') expect(['pass', 'warn'], c.finding).toContain(c.status);
      else if (c.id === 'reader.role') expect(c.finding).toContain('a superuser');
      else expect(c.status, `${c.id}: ${c.finding}`).toBe('pass');
    }
    const caller = checks.find((c) => c.id === 'iam.caller');
    expect(caller?.finding).toBe('user operator may call ecs:ExecuteCommand on the task');
  });

  it(
    'prints a checklist, with details and fixes for failures and for everything with -v',
    async () => {
      await scenario('exec-disabled');
      const plain = await sandbox.run([
        'doctor',
        ...SLOW_MACHINE,
        '--transport',
        'exec',
        '--only',
        'ecs.service-exec,ecs.exec-agent',
      ]);
      expect(plain.code).toBe(5);
      expect(plain.stdout).not.toContain('\x1b[');
      const lines = plain.stdout.split('\n');
      expect(lines[0]).toBe('coderdb doctor: profile sandbox, transport exec, us-east-1');
      expect(lines).toContainEqual(
        expect.stringMatching(/^✓ AWS credentials and identity +arn:aws:iam::123456789012:user\/operator/),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^✗ ECS Exec enabled on the service +ECS Exec is disabled on service coder-service/,
        ),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^- ExecuteCommandAgent RUNNING in the container +skipped: needs ecs.task-exec/,
        ),
      );
      expect(plain.stdout).toContain(
        '    fix: enable it and start tasks that have it:\n         aws ecs update-service',
      );
      expect(plain.stdout).not.toContain('signed with a long-term access key');
      expect(lines.at(-2)).toMatch(/^8 checks: 5 passed, 0 warnings, 2 failed, 1 skipped in [\d.]+ s$/);

      const verbose = await sandbox.run([
        'doctor',
        '-v',
        ...SLOW_MACHINE,
        '--transport',
        'exec',
        '--only',
        'aws.credentials',
      ]);
      expect(verbose.code).toBe(0);
      expect(verbose.stdout).toContain('    signed with a long-term access key');
      expect(verbose.stdout).toMatch(/ {4}aws\.credentials, \d+ ms/);
    },
    SEVERAL_RUNS,
  );

  it(
    'colours the checklist on a terminal, unless NO_COLOR is set',
    async () => {
      await scenario('healthy');
      const onTerminal = (extra: Record<string, string>) =>
        new Promise<string>((resolve, reject) => {
          const env = { ...(sandbox.env as Record<string, string>), TERM: 'xterm', ...extra };
          const child = pty.spawn(
            process.execPath,
            [CLI, 'doctor', ...SLOW_MACHINE, '--only', 'aws.credentials'],
            {
              cols: 200,
              rows: 50,
              env,
            },
          );
          let output = '';
          const timer = setTimeout(() => {
            child.kill();
            reject(new Error(`no summary within 60 s: ${output}`));
          }, 60_000);
          child.onData((data) => {
            output += data;
            if (/\d+ checks?: .* in [\d.]+ s/.test(output)) {
              clearTimeout(timer);
              resolve(output);
            }
          });
        });
      expect(await onTerminal({})).toContain('\x1b[32m✓\x1b[0m AWS credentials and identity');
      expect(await onTerminal({ NO_COLOR: '1' })).not.toContain('\x1b[');
    },
    SEVERAL_RUNS,
  );

  it(
    'fails ecs.cluster and ecs.service for names that do not exist, listing the real ones',
    async () => {
      const cluster = await check('healthy', 'ecs.cluster', '--cluster', 'coder-clstr');
      expect(cluster.code).toBe(5);
      expect(cluster.check).toMatchObject({
        status: 'fail',
        finding: 'ECS cluster "coder-clstr" was not found in us-east-1',
      });
      expect(cluster.check.fix).toBe('check --cluster and --region (clusters in us-east-1: coder-cluster)');
      const service = await check('healthy', 'ecs.service', '--service', 'coder');
      expect(service.check.status).toBe('fail');
      expect(service.check.fix).toBe('check --service (services in coder-cluster: coder-service)');
    },
    SEVERAL_RUNS,
  );

  it('fails ecs.service-exec and ecs.task-exec when exec is disabled', async () => {
    const { code, byId } = await check('exec-disabled', 'ecs.exec-agent', '--only', 'ecs.service-exec');
    expect(code).toBe(5);
    expect(byId['ecs.service-exec']?.status).toBe('fail');
    expect(byId['ecs.service-exec']?.fix).toContain(
      'aws ecs update-service --cluster coder-cluster --service coder-service --enable-execute-command --force-new-deployment --region us-east-1',
    );
    expect(byId['ecs.task-exec']?.status).toBe('fail');
    expect(byId['ecs.task-exec']?.fix).toContain('--enable-execute-command --force-new-deployment');
    expect(byId['ecs.exec-agent']?.status).toBe('skip');
  });

  it('fails ecs.task-exec for a task started before exec was enabled: a new deployment fixes it', async () => {
    const { check: c } = await check('task-predates-exec', 'ecs.task-exec');
    expect(c.status).toBe('fail');
    expect(c.finding).toContain('before exec was enabled on the service');
    expect(c.fix).toContain('--force-new-deployment');
    expect(c.fix).not.toContain('--enable-execute-command');
  });

  it('fails ecs.task when the service is scaled to zero, with why the last task stopped', async () => {
    const { code, check: c } = await check('no-running-task', 'ecs.task');
    expect(code).toBe(5);
    expect(c.status).toBe('fail');
    expect(c.finding).toMatch(
      /^service coder-service is scaled to 0 tasks; the last task \(\w+\) stopped \d+ min ago: Scaling activity/,
    );
    expect(c.fix).toContain('--desired-count 1');
  });

  it('fails ecs.platform-version below Fargate 1.4.0', async () => {
    const { check: c } = await check('old-platform-version', 'ecs.platform-version');
    expect(c.status).toBe('fail');
    expect(c.finding).toContain('Fargate platform 1.3.0; ECS Exec needs 1.4.0 or later');
    expect(c.fix).toContain('--platform-version LATEST --force-new-deployment');
  });

  it('fails ecs.exec-agent when the agent stopped, with its reason', async () => {
    const { check: c } = await check('agent-not-running', 'ecs.exec-agent');
    expect(c.status).toBe('fail');
    expect(c.finding).toContain('is STOPPED: The ExecuteCommandAgent exited unexpectedly');
    expect(c.fix).toContain('--force-new-deployment');
  });

  it(
    'fails taskdef.readonly-root and taskdef.aws-keys, and warns for init process and pidMode',
    async () => {
      const readonly = await check('readonly-rootfs', 'taskdef.readonly-root');
      expect(readonly.check.status).toBe('fail');
      expect(readonly.check.fix).toContain('"readonlyRootFilesystem": false');
      expect(readonly.check.fix).toContain('--task-definition coder --force-new-deployment');

      const keys = await check('aws-keys-in-container-env', 'taskdef.aws-keys');
      expect(keys.check.status).toBe('fail');
      expect(keys.check.finding).toContain('sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
      // Names only: the values are credentials.
      expect(keys.stdout).not.toContain('AKIA2CODERLEGACY0001');
      expect(keys.stdout).not.toContain('legacy/Sandbox');

      const init = await check('init-process-disabled', 'taskdef.init-process');
      expect(init.code).toBe(0);
      expect(init.check.status).toBe('warn');
      expect(init.check.fix).toContain('"initProcessEnabled": true');

      const pid = await check('pid-mode-task', 'taskdef.pid-mode');
      expect(pid.code).toBe(0);
      expect(pid.check).toMatchObject({ status: 'warn' });
      expect(pid.check.finding).toContain('sets pidMode "task"');
    },
    SEVERAL_RUNS,
  );

  it('fails iam.task-role without the ssmmessages actions, with the statement to add', async () => {
    const { check: c } = await check('task-role-missing-ssmmessages', 'iam.task-role');
    expect(c.status).toBe('fail');
    expect(c.finding).toContain(
      'task role coder-ecs-task-role is not allowed ssmmessages:CreateControlChannel',
    );
    const statement = JSON.parse(c.fix?.slice(c.fix.indexOf('{'), c.fix.indexOf('}') + 1) ?? '{}');
    expect(statement).toEqual({
      Effect: 'Allow',
      Action: [
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      Resource: '*',
    });
    expect(c.fix).toContain(
      'aws iam put-role-policy --role-name coder-ecs-task-role --policy-name coderdb-ecs-exec',
    );
  });

  it(
    'reads the policies when the caller may not simulate them',
    async () => {
      const ok = await check('caller-cannot-simulate', 'iam.task-role', '--only', 'iam.caller');
      expect(ok.byId['iam.task-role']?.status).toBe('pass');
      expect(ok.byId['iam.task-role']?.finding).toContain('(read from its policies)');
      expect(ok.byId['iam.caller']?.status).toBe('pass');
      const broken = await check('caller-cannot-simulate+task-role-missing-ssmmessages', 'iam.task-role');
      expect(broken.check.status).toBe('fail');
      expect(broken.check.finding).toContain('(read from its policies)');
    },
    SEVERAL_RUNS,
  );

  it(
    'fails iam.caller for the permission the transport needs, and only that one',
    async () => {
      const exec = await check('caller-missing-execute-command', 'iam.caller');
      expect(exec.check.status).toBe('fail');
      expect(exec.check.finding).toMatch(
        /^user operator is not allowed ecs:ExecuteCommand on arn:aws:ecs:us-east-1:123456789012:task\/coder-cluster\//,
      );
      expect(exec.check.fix).toContain('"Action": "ecs:ExecuteCommand"');
      expect(exec.check.fix).toContain(
        '"Resource": "arn:aws:ecs:us-east-1:123456789012:task/coder-cluster/*"',
      );

      const tunnel = await check('caller-missing-start-session', 'iam.caller', '--transport', 'tunnel');
      expect(tunnel.check.status).toBe('fail');
      expect(tunnel.check.fix).toContain(
        'arn:aws:ssm:us-east-1::document/AWS-StartPortForwardingSessionToRemoteHost',
      );
      // exec does not need ssm:StartSession.
      const execOnly = await check('caller-missing-start-session', 'iam.caller');
      expect(execOnly.check.status).toBe('pass');
    },
    SEVERAL_RUNS,
  );

  it(
    'checks the exec KMS key: usable in kms-encrypted, not in kms-key-unusable',
    async () => {
      const ok = await check('kms-encrypted', 'exec-config.kms');
      expect(ok.check.status).toBe('pass');
      expect(ok.check.finding).toContain(
        'the caller may kms:GenerateDataKey and task role coder-ecs-task-role kms:Decrypt',
      );
      const { check: c } = await check('kms-key-unusable', 'exec-config.kms');
      expect(c.status).toBe('fail');
      expect(c.finding).toContain('user operator is not allowed kms:GenerateDataKey');
      expect(c.fix).toContain('"Action": "kms:GenerateDataKey"');
    },
    SEVERAL_RUNS,
  );

  it('fails exec-config.logging when the log group is missing', async () => {
    const { check: c } = await check('exec-logging-target-missing', 'exec-config.logging');
    expect(c.status).toBe('fail');
    expect(c.finding).toBe(
      'exec sessions are logged to log group /ecs/coder-exec, which does not exist in us-east-1',
    );
    expect(c.fix).toContain('aws logs create-log-group --log-group-name /ecs/coder-exec --region us-east-1');
  });

  it('fails network.ssm-route without a NAT route or ssmmessages endpoint', async () => {
    const { check: c } = await check('no-ssm-route', 'network.ssm-route');
    expect(c.status).toBe('fail');
    expect(c.finding).toContain('has no route to 0.0.0.0/0 and its VPC no ssmmessages endpoint');
    expect(c.fix).toContain('--service-name com.amazonaws.us-east-1.ssmmessages');
  });

  it('reports exec-only failures as warnings for a profile that connects directly', async () => {
    await scenario('exec-disabled');
    const { code, byId } = await doctor('--only', 'ecs.service-exec');
    expect(code).toBe(0);
    expect(byId['ecs.service-exec']?.status).toBe('warn');
    expect(byId['ecs.service-exec']?.finding).toContain('only the exec and tunnel transports need this');
  });
});
