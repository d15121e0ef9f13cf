// The CloudWatch Logs audit sink with the real SDK client against the sandbox's Logs service (in
// process): records larger together than one PutLogEvents call allows arrive whole and in order,
// deliveries never send a record twice, a missing group stops a required sink with one error (and
// nothing more); and the emulated service refuses what the real one refuses.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IDS } from '../../sandbox/aws/world.js';
import { auditStreamName, cloudWatchAuditSink } from '../../src/aws/audit-sink.js';
import { AuditLog } from '../../src/core/audit.js';
import { DEFAULTS, type Profile } from '../../src/core/config.js';
import { CoderdbError } from '../../src/core/errors.js';
import { rejection, startTestEndpoint, type TestEndpoint } from '../sandbox/aws/helpers.js';

const GROUP = IDS.auditLogGroupName;

let t: TestEndpoint;
let logs: CloudWatchLogsClient;
let dir: string;
let n = 0;

function profile(required: boolean): Profile {
  // The built-in sandbox profile's name gives the sandbox's credentials.
  return {
    name: 'sandbox',
    ...DEFAULTS,
    awsEndpoint: t.endpoint.url,
    auditLogGroup: GROUP,
    auditRequired: required,
  };
}

/** A log in a fresh file writing to its own stream, and the warnings it printed. */
function auditLog(required = false) {
  const stream = `tester@host-${++n}`;
  const warnings: string[] = [];
  const file = join(dir, `${stream}.jsonl`);
  const log = new AuditLog(file, cloudWatchAuditSink(profile(required), GROUP, stream), (line) =>
    warnings.push(line),
  );
  const localLines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const remote = async () =>
    (
      (
        await logs.send(
          new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, startFromHead: true }),
        )
      ).events ?? []
    ).map((e) => e.message);
  return { log, stream, warnings, localLines, remote };
}

const append = (log: AuditLog, statement: string) =>
  log.append({ profile: 'sandbox', transport: 'direct', command: 'query', statement, outcome: 'ok' });

beforeAll(async () => {
  t = await startTestEndpoint();
  logs = new CloudWatchLogsClient(t.config);
  dir = mkdtempSync(join(tmpdir(), 'coderdb-sink-'));
});
beforeEach(() => t.endpoint.setScenario('healthy'));
afterAll(async () => {
  logs?.destroy();
  await t?.endpoint.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CloudWatch Logs audit sink', () => {
  it('splits records over PutLogEvents calls by the 1 MB limit, all arriving in order', async () => {
    const { log, warnings, localLines, remote } = auditLog();
    // Five records of 300 kB: 1.5 MB, more than one call may carry (the endpoint refuses it).
    for (let i = 0; i < 5; i++) append(log, `select '${String(i).repeat(300_000)}'`);
    await log.settle();
    expect(warnings).toEqual([]);
    expect(await remote()).toEqual(localLines());
  });

  it('sends each record once when deliveries overlap', async () => {
    const { log, warnings, localLines, remote } = auditLog();
    append(log, 'select 1');
    const first = log.settle();
    append(log, 'select 2');
    const second = log.settle();
    append(log, 'select 3');
    await Promise.all([first, second, log.settle()]);
    expect(warnings).toEqual([]);
    expect(await remote()).toEqual(localLines());
  });

  it('names its stream user@host without the characters CloudWatch forbids', () => {
    expect(auditStreamName('ann', 'laptop.local')).toBe('ann@laptop.local');
    expect(auditStreamName('a:b', 'h*st')).toBe('a_b@h_st');
  });

  it('stops a required sink with one error when the group does not exist, and says nothing more', async () => {
    t.endpoint.setScenario('audit-group-missing');
    const { log, warnings } = auditLog(true);
    append(log, 'select 1');
    const error = await rejection(log.accepted());
    expect(error).toBeInstanceOf(CoderdbError);
    expect((error as CoderdbError).code).toBe('audit.sink-unavailable');
    expect(error.message).toMatch(
      /did not accept the audit record.*log group \/coderdb\/audit does not exist/,
    );
    append(log, 'select 2');
    await log.settle();
    expect(warnings).toEqual([]);
  });

  it('warns once for a best-effort sink that is denied', async () => {
    t.endpoint.setScenario('audit-sink-denied');
    const { log, warnings } = auditLog(false);
    append(log, 'select 1');
    await log.accepted(); // not required: nothing to wait for
    await log.settle();
    append(log, 'select 2');
    await log.settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^coderdb: warning: .* did not accept 1 audit record\(s\), kept only in .*denied/,
    );
  });
});

describe('the sandbox Logs service refuses what CloudWatch Logs refuses', () => {
  const stream = 'refusals@host';

  it("streams exist once, groups are not the operator's to create, events go in time order into an existing stream", async () => {
    await logs.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: stream }));
    const again = await rejection(
      logs.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: stream })),
    );
    expect(again.name).toBe('ResourceAlreadyExistsException');
    // The operator may not create log groups: the group is the platform team's.
    const group = await rejection(logs.send(new CreateLogGroupCommand({ logGroupName: '/coderdb/mine' })));
    expect(group.name).toBe('AccessDeniedException');
    const unordered = await rejection(
      logs.send(
        new PutLogEventsCommand({
          logGroupName: GROUP,
          logStreamName: stream,
          logEvents: [
            { timestamp: 2_000, message: 'b' },
            { timestamp: 1_000, message: 'a' },
          ],
        }),
      ),
    );
    expect(unordered.name).toBe('InvalidParameterException');
    expect(unordered.message).toMatch(/chronological order/);
    const missing = await rejection(
      logs.send(
        new PutLogEventsCommand({
          logGroupName: GROUP,
          logStreamName: 'nobody@nowhere',
          logEvents: [{ timestamp: Date.now(), message: 'x' }],
        }),
      ),
    );
    expect(missing.name).toBe('ResourceNotFoundException');
  });

  it('answers 503 ServiceUnavailable in the audit-sink-unreachable scenario', async () => {
    t.endpoint.setScenario('audit-sink-unreachable');
    const error = await rejection(
      logs.send(
        new PutLogEventsCommand({
          logGroupName: GROUP,
          logStreamName: stream,
          logEvents: [{ timestamp: Date.now(), message: 'x' }],
        }),
      ),
    );
    expect(error.name).toBe('ServiceUnavailableException');
    expect(error.$metadata?.httpStatusCode).toBe(503);
  });
});
