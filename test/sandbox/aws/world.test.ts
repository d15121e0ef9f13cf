// The world, scenarios and pure helpers without HTTP: every scenario applies and changes
// something, the derived verdicts (exec agent connectivity, database reachability) follow the
// world, the policy evaluator's decisions, and the Query codec's list and filter decoding.

import { describe, expect, it } from 'vitest';
import { execAgentConnectivity, taskCanReachDatabase } from '../../../sandbox/aws/derive.js';
import { evaluate } from '../../../sandbox/aws/iam-policy.js';
import { QueryInput } from '../../../sandbox/aws/protocol/query.js';
import { xmlDocument } from '../../../sandbox/aws/protocol/xml.js';
import { applyScenario, buildScenarioWorld, SCENARIOS } from '../../../sandbox/aws/scenarios.js';
import { buildWorld, type World } from '../../../sandbox/aws/world.js';
import { globMatch } from '../../../src/aws/iam-policy.js';
import { DATABASE_URL } from './helpers.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const healthy = () => buildWorld({ databaseUrl: DATABASE_URL, now: NOW });
const task = (w: World) => w.tasks[0]!;

describe('scenarios', () => {
  it('has a one-line description for each and every one changes the world', () => {
    const baseline = JSON.stringify(healthy());
    for (const [name, scenario] of Object.entries(SCENARIOS)) {
      expect(scenario.description.length, name).toBeGreaterThan(20);
      expect(scenario.description, name).not.toContain('\n');
      const w = buildScenarioWorld({ databaseUrl: DATABASE_URL, now: NOW }, name);
      expect(w.scenario).toBe(name);
      const { scenario: _s, ...rest } = w;
      const { scenario: _b, ...base } = JSON.parse(baseline) as World;
      if (name === 'healthy') expect(rest).toEqual(base);
      else expect(JSON.stringify(rest), name).not.toBe(JSON.stringify(base));
    }
  });

  it('includes the required scenarios', () => {
    expect(Object.keys(SCENARIOS)).toEqual(
      expect.arrayContaining([
        'healthy',
        'exec-disabled',
        'task-predates-exec',
        'no-running-task',
        'agent-not-running',
        'old-platform-version',
        'task-role-missing-ssmmessages',
        'caller-missing-execute-command',
        'caller-missing-start-session',
        'caller-cannot-simulate',
        'sg-blocks-db',
        'rds-stopped',
        'secret-missing',
        'secret-malformed',
        'no-ssm-route',
        'readonly-rootfs',
        'init-process-disabled',
        'aws-keys-in-container-env',
        'kms-encrypted',
        'kms-key-unusable',
        'exec-logging-target-missing',
        'db-errors-in-logs',
        'psql-missing',
        'audit-sink-unreachable',
        'audit-sink-throttled',
        'audit-sink-denied',
        'audit-group-missing',
      ]),
    );
  });

  it('rejects unknown names and combines with +', () => {
    expect(() => applyScenario(healthy(), 'nope')).toThrow(/Unknown sandbox scenario "nope"/);
    const w = applyScenario(healthy(), 'rds-stopped+psql-missing');
    expect(w.dbInstances[0]?.status).toBe('stopped');
    expect(w.container.hasPsql).toBe(false);
  });

  it('takes the RDS endpoint and secret from the database URL', () => {
    const w = healthy();
    expect(w.dbInstances[0]?.endpoint).toMatchObject({ address: '127.0.0.1', port: 54329 });
    expect(w.secrets[0]?.secretString).toBe(DATABASE_URL);
    expect(task(w).taskId).toMatch(/^[0-9a-f]{32}$/);
    expect(task(w).containers[0]?.runtimeId).toMatch(new RegExp(`^${task(w).taskId}-\\d+$`));
  });
});

describe('derived verdicts', () => {
  it('connects the exec agent only when role, credentials, filesystem and route allow', () => {
    expect(execAgentConnectivity(healthy(), task(healthy()))).toEqual({ ok: true, reasons: [] });
    for (const name of [
      'task-role-missing-ssmmessages',
      'no-ssm-route',
      'readonly-rootfs',
      'aws-keys-in-container-env',
    ]) {
      const w = buildScenarioWorld({ databaseUrl: DATABASE_URL, now: NOW }, name);
      const v = execAgentConnectivity(w, task(w));
      expect(v.ok, name).toBe(false);
      expect(v.reasons.length, name).toBe(1);
    }
    const viaEndpoint = buildScenarioWorld({ databaseUrl: DATABASE_URL, now: NOW }, 'no-ssm-route');
    viaEndpoint.vpcEndpoints.push({
      id: 'vpce-0aaaaaaaaaaaaaaaa',
      vpcId: viaEndpoint.vpc.id,
      serviceName: 'com.amazonaws.us-east-1.ssmmessages',
      type: 'Interface',
      state: 'available',
      subnetIds: [],
      securityGroupIds: [],
      routeTableIds: [],
      privateDnsEnabled: true,
      createdAt: NOW,
    });
    expect(execAgentConnectivity(viaEndpoint, task(viaEndpoint)).ok).toBe(true);
  });

  it('reaches the database unless the instance is stopped or the security group blocks it', () => {
    expect(taskCanReachDatabase(healthy()).ok).toBe(true);
    for (const name of ['sg-blocks-db', 'rds-stopped', 'no-running-task']) {
      expect(
        taskCanReachDatabase(buildScenarioWorld({ databaseUrl: DATABASE_URL, now: NOW }, name)).ok,
        name,
      ).toBe(false);
    }
  });
});

describe('policy evaluator', () => {
  const policies = [
    {
      id: 'P',
      type: 'user' as const,
      document: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow' as const, Action: 'ssmmessages:*', Resource: '*' },
          { Effect: 'Allow' as const, NotAction: 'iam:*', Resource: 'arn:aws:ecs:*:*:task/coder-cluster/*' },
          { Effect: 'Deny' as const, Action: 'ecs:StopTask', Resource: '*' },
        ],
      },
    },
  ];

  it('matches wildcards and NotAction, and lets an explicit deny win', () => {
    expect(evaluate(policies, 'SSMMessages:OpenDataChannel', '*').decision).toBe('allowed');
    expect(
      evaluate(policies, 'ecs:ExecuteCommand', 'arn:aws:ecs:us-east-1:1:task/coder-cluster/abc').decision,
    ).toBe('allowed');
    expect(evaluate(policies, 'iam:GetRole', 'arn:aws:ecs:us-east-1:1:task/coder-cluster/abc').decision).toBe(
      'implicitDeny',
    );
    expect(
      evaluate(policies, 'ecs:StopTask', 'arn:aws:ecs:us-east-1:1:task/coder-cluster/abc'),
    ).toMatchObject({
      decision: 'explicitDeny',
      matched: [{ sourcePolicyId: 'P', statementIndex: 2 }],
    });
    expect(globMatch('a?c*', 'abcdef', false)).toBe(true);
    expect(globMatch('A*', 'abc', false)).toBe(false);
  });

  it('reports statement positions in the pretty-printed policy', () => {
    const m = evaluate(policies, 'ssmmessages:x', '*').matched[0];
    expect(m?.start).toEqual({ line: 4, column: 5 });
    expect(m?.end.line).toBeGreaterThan(4);
  });
});

describe('Query codec', () => {
  it('reads member lists and every filter encoding', () => {
    const q = new QueryInput(
      new URLSearchParams(
        'ActionNames.member.2=b&ActionNames.member.1=a' +
          '&Filter.1.Name=vpc-id&Filter.1.Value.1=v1&Filter.1.Value.2=v2' +
          '&Filters.Filter.2.Name=engine&Filters.Filter.2.Values.Value.1=postgres',
      ),
    );
    expect(q.list('ActionNames')).toEqual(['a', 'b']);
    expect(q.filters()).toEqual([
      { name: 'vpc-id', values: ['v1', 'v2'] },
      { name: 'engine', values: ['postgres'] },
    ]);
  });

  it('escapes text and names list items per list', () => {
    const xml = xmlDocument('R', 'urn:x', { A: ['<&>'], B: { C: [1] } }, (list) =>
      list === 'C' ? 'Item' : 'member',
    );
    expect(xml).toContain(
      '<R xmlns="urn:x"><A><member>&lt;&amp;&gt;</member></A><B><C><Item>1</Item></C></B></R>',
    );
  });
});
