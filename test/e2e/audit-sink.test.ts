// The shared audit trail: with `auditLogGroup` every audit record also goes to CloudWatch Logs, the
// same JSON line as in the local file, in one stream per user and host, read back by the real AWS
// CLI (`aws logs filter-log-events`) and verified there with `audit verify`'s own chain logic. With
// `auditRequired` a write the sink did not take is rolled back (database fingerprint unchanged) and
// a read stops before it runs; without it, an unreachable sink is one warning line. Doctor's
// audit.sink check passes and fails with the deployment.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../sandbox/aws/world.js';
import { DEMO } from '../../sandbox/fixture/demo-data.js';
import type { AuditEntry } from '../../src/core/audit.js';
import { verifyChain } from '../../src/core/audit-chain.js';
import { writeFingerprint } from '../helpers/fingerprint.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { inScenario } from '../helpers/scenario.js';
import { type AwsCli, awsCli, awsCliTitle, hasAwsCli } from '../sandbox/aws/aws-cli.js';
import { runDoctor, SEVERAL_RUNS } from './doctor-helpers.js';

const GROUP = IDS.auditLogGroupName;
const SINK = { CODERDB_AUDIT_LOG_GROUP: GROUP };
const REQUIRED = { ...SINK, CODERDB_AUDIT_REQUIRED: 'true' };
const STREAM = `${userInfo().username}@${hostname()}`;
/** Org 1's docker template, by id (its name is not unique). */
const TEMPLATE = DEMO.docker.defaultOrg;

interface FilteredEvent {
  logStreamName: string;
  message: string;
  ingestionTime: number;
}

describe.skipIf(!hasAwsCli)(awsCliTitle('audit sink (CloudWatch Logs)'), () => {
  let sandbox: TestSandbox;
  let cli: AwsCli;
  let log: string;
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => sandbox.run(args, { env });
  const localLines = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);
  /** What the real AWS CLI reads back from the group. */
  const remoteEvents = async () =>
    ((await cli.json('logs', 'filter-log-events', '--log-group-name', GROUP)) as { events: FilteredEvent[] })
      .events;
  const scenario = <T>(name: string, work: () => Promise<T>) =>
    inScenario(sandbox.state.awsEndpoint, name, work);

  beforeAll(async () => {
    sandbox = await startSandbox();
    cli = awsCli(sandbox.state.awsEndpoint!);
    log = join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'audit.jsonl');
  });
  afterAll(async () => {
    cli?.remove();
    await sandbox?.stop();
  });

  it('sends every record, unchanged and chained, in one batch per command', async () => {
    expect((await run(['query', 'select 1 as one'], SINK)).code).toBe(0);
    expect((await run(['templates', 'list'], SINK)).code).toBe(0);
    const written = await run(
      ['templates', 'set-description', TEMPLATE, 'sent to the trail', '--yes', '--reason', 'sink test'],
      REQUIRED,
    );
    expect(written.code, written.stderr).toBe(0);

    const events = await remoteEvents();
    expect(new Set(events.map((e) => e.logStreamName))).toEqual(new Set([STREAM]));
    // Byte for byte the local file's lines, in the same order.
    expect(events.map((e) => e.message)).toEqual(localLines());
    const records = events.map((e) => JSON.parse(e.message) as AuditEntry);
    expect(records.map((r) => r.outcome)).toContain('committed');
    // Records of one best-effort command arrive in one PutLogEvents call (one ingestion time).
    const ingestion = (command: string) =>
      new Set(events.filter((_, i) => records[i]!.command === command).map((e) => e.ingestionTime));
    expect(ingestion('query').size).toBe(1);
    expect(ingestion('templates list').size).toBe(1);

    // `audit verify`'s logic over what the trail holds: an unbroken chain from seq 1.
    const dir = mkdtempSync(join(tmpdir(), 'coderdb-trail-'));
    try {
      const copy = join(dir, 'trail.jsonl');
      writeFileSync(copy, `${events.map((e) => e.message).join('\n')}\n`);
      const report = await verifyChain(copy);
      expect(report.findings).toEqual([]);
      expect(report.chained).toBe(records.length);
      expect(records[0]!.seq).toBe(1);
      const verified = await run(['audit', 'verify', '--file', copy]);
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.stdout).toContain(`intact, ${records.length} chained records`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries a throttled sink and then goes on', async () => {
    const result = await scenario('audit-sink-throttled', () => run(['query', 'select 2 as two'], REQUIRED));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/warning|audit sink/);
    expect((await remoteEvents()).map((e) => e.message)).toEqual(localLines());
  });

  it('auditRequired: a write the sink did not take is rolled back, and leaves no undo file', async () => {
    const before = await writeFingerprint(sandbox.state.databaseUrl);
    const undoDir = join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'undo');
    const undoFiles = () => (existsSync(undoDir) ? readdirSync(undoDir) : []);
    const undoBefore = undoFiles();
    const result = await scenario('audit-sink-unreachable', () =>
      run(['templates', 'set-description', TEMPLATE, 'must not commit', '--yes'], REQUIRED),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.split('\n')[0]).toMatch(
      /^coderdb: the audit sink CloudWatch Logs \/coderdb\/audit .* did not accept the audit record, so nothing was run or committed: .*ServiceUnavailable/,
    );
    expect(await writeFingerprint(sandbox.state.databaseUrl)).toEqual(before);
    expect(undoFiles()).toEqual(undoBefore);
    const last = JSON.parse(localLines().at(-1)!) as AuditEntry;
    expect(last).toMatchObject({ outcome: 'rolled-back', code: 'audit.sink-unavailable' });
  });

  it('auditRequired: a read stops with one line before it runs', async () => {
    const result = await scenario('audit-sink-unreachable', () =>
      run(['query', 'select 3 as three'], REQUIRED),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^coderdb: the audit sink .* did not accept the audit record/);
    expect(lines.filter((line) => line.startsWith('coderdb:'))).toHaveLength(1);
    const outcomes = localLines()
      .map((line) => JSON.parse(line) as AuditEntry)
      .filter((r) => r.statement === 'select 3 as three')
      .map((r) => r.outcome);
    expect(outcomes).toEqual(['started', 'error']);
  });

  it('auditRequired: no command starts in the container when the sink is unreachable', async () => {
    const marker = join(sandbox.dir, 'ran');
    const result = await scenario('audit-sink-unreachable', () =>
      run(['exec', '-n', '--', 'touch', marker], REQUIRED),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.split('\n')[0]).toMatch(
      /^coderdb: the audit sink .* did not accept the audit record/,
    );
    expect(existsSync(marker)).toBe(false);
    // The same command runs once the sink takes its line.
    const healthy = await run(['exec', '-n', '--', 'touch', marker], REQUIRED);
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('auditRequired: a backup reads nothing and writes no archive when the sink is unreachable', async () => {
    const out = mkdtempSync(join(tmpdir(), 'coderdb-sink-backup-'));
    try {
      const result = await scenario('audit-sink-unreachable', () =>
        run(['backup', '--transport', 'direct', '--out', `${out}/`], REQUIRED),
      );
      expect(result.code).not.toBe(0);
      expect(result.stderr.split('\n')[0]).toMatch(
        /^coderdb: the audit sink .* did not accept the audit record/,
      );
      expect(readdirSync(out)).toEqual([]);
      const lines = localLines()
        .map((line) => JSON.parse(line) as AuditEntry)
        .filter((r) => r.command === 'backup');
      expect(lines.map((r) => r.outcome)).toEqual(['started', 'error']);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('without auditRequired, an unreachable sink is one warning and the read goes on', async () => {
    const result = await scenario('audit-sink-unreachable', () => run(['query', 'select 4 as four'], SINK));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('four');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^coderdb: warning: the audit sink .* did not accept 2 audit record\(s\), kept only in /,
    );
  });

  it(
    'doctor: audit.sink passes on a healthy deployment and fails without the group or the permission',
    async () => {
      const only = ['--only', 'audit.sink'];
      const healthy = await runDoctor(sandbox, only, SINK);
      expect(healthy.byId['audit.sink']?.status, healthy.output).toBe('pass');
      expect(healthy.byId['audit.sink']?.finding).toMatch(
        /exists and .* may create stream .* logs:PutLogEvents/,
      );

      const denied = await scenario('audit-sink-denied', () => runDoctor(sandbox, only, SINK));
      expect(denied.code).not.toBe(0);
      expect(denied.byId['audit.sink']).toMatchObject({ status: 'fail' });
      expect(denied.byId['audit.sink']?.finding).toMatch(/may not logs:CreateLogStream or logs:PutLogEvents/);
      expect(denied.byId['audit.sink']?.fix).toContain('logs:PutLogEvents');

      const missing = await scenario('audit-group-missing', () => runDoctor(sandbox, only, SINK));
      expect(missing.byId['audit.sink']).toMatchObject({ status: 'fail' });
      expect(missing.byId['audit.sink']?.finding).toMatch(/log group \/coderdb\/audit does not exist/);

      const unset = await runDoctor(sandbox, only);
      expect(unset.byId['audit.sink']?.status).toBe('skip');
    },
    SEVERAL_RUNS,
  );
});
