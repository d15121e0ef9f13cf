// Amazon CloudWatch Logs (awsJson1_1, target prefix Logs_20140328): DescribeLogGroups,
// DescribeLogStreams, FilterLogEvents (filter patterns, time range, pagination) and GetLogEvents
// (forward/backward tokens) over the seeded log groups.

import { AwsError } from '../errors.js';
import type { JsonInput } from '../protocol/json-input.js';
import type { LogEvent, LogGroup } from '../world.js';
import { compileFilterPattern } from './logs-filter.js';
import type { JsonService, ServiceContext } from './types.js';

const MAX_EVENTS = 10_000;

function groupArn(group: LogGroup): string {
  return group.arn.replace(/:\*$/, '');
}

function requireGroup(input: JsonInput, ctx: ServiceContext, action: string): LogGroup {
  const name = input.string('logGroupName');
  const identifier = input.string('logGroupIdentifier');
  if (name !== undefined && identifier !== undefined) {
    throw new AwsError(
      'InvalidParameterException',
      'LogGroup name and LogGroup ARN are mutually exclusive parameters.',
    );
  }
  const ref = name ?? identifier;
  if (ref === undefined)
    throw new AwsError('InvalidParameterException', 'Either logGroupName or logGroupIdentifier is required.');
  const group = ctx.world.logGroups.find((g) => g.name === ref || groupArn(g) === ref || g.arn === ref);
  const arn = group ? group.arn : `arn:aws:logs:${ctx.world.region}:${ctx.world.account}:log-group:${ref}:*`;
  ctx.authorize(action, arn);
  if (!group) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
  return group;
}

function pageToken(token: string | undefined): number {
  if (token === undefined) return 0;
  const n = Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^o:/, ''));
  if (!Number.isInteger(n) || n < 0)
    throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
  return n;
}

const makeToken = (offset: number) => Buffer.from(`o:${offset}`, 'utf8').toString('base64url');

function limitOf(input: JsonInput, max: number, fallback: number): number {
  const limit = input.number('limit') ?? fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new AwsError('InvalidParameterException', `limit must be between 1 and ${max}.`);
  }
  return limit;
}

function describeLogGroups(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('logs:DescribeLogGroups');
  const prefix = input.string('logGroupNamePrefix');
  const pattern = input.string('logGroupNamePattern');
  const limit = limitOf(input, 50, 50);
  const all = ctx.world.logGroups
    .filter((g) => prefix === undefined || g.name.startsWith(prefix))
    .filter((g) => pattern === undefined || g.name.toLowerCase().includes(pattern.toLowerCase()))
    .sort((a, b) => a.name.localeCompare(b.name));
  const from = pageToken(input.string('nextToken'));
  const page = all.slice(from, from + limit);
  return {
    logGroups: page.map((g) => ({
      logGroupName: g.name,
      creationTime: g.createdAt,
      retentionInDays: g.retentionInDays,
      metricFilterCount: 0,
      arn: g.arn,
      storedBytes: g.streams.reduce((n, s) => n + s.events.reduce((m, e) => m + e.message.length, 0), 0),
      logGroupClass: 'STANDARD',
      logGroupArn: groupArn(g),
    })),
    nextToken: from + limit < all.length ? makeToken(from + limit) : undefined,
  };
}

function describeLogStreams(input: JsonInput, ctx: ServiceContext): unknown {
  const group = requireGroup(input, ctx, 'logs:DescribeLogStreams');
  const prefix = input.string('logStreamNamePrefix');
  const orderBy = input.string('orderBy') ?? 'LogStreamName';
  if (orderBy === 'LastEventTime' && prefix !== undefined) {
    throw new AwsError(
      'InvalidParameterException',
      'Cannot order by LastEventTime with a logStreamNamePrefix.',
    );
  }
  const last = (s: LogGroup['streams'][number]) => s.events[s.events.length - 1]?.timestamp ?? 0;
  const streams = group.streams
    .filter((s) => prefix === undefined || s.name.startsWith(prefix))
    .sort((a, b) => (orderBy === 'LastEventTime' ? last(a) - last(b) : a.name.localeCompare(b.name)));
  if (input.boolean('descending')) streams.reverse();
  const limit = limitOf(input, 50, 50);
  const from = pageToken(input.string('nextToken'));
  return {
    logStreams: streams.slice(from, from + limit).map((s) => ({
      logStreamName: s.name,
      creationTime: s.createdAt,
      firstEventTimestamp: s.events[0]?.timestamp,
      lastEventTimestamp: s.events[s.events.length - 1]?.timestamp,
      lastIngestionTime: s.events[s.events.length - 1]?.ingestionTime,
      uploadSequenceToken: '49039859613988222229122786367925347419431342066297683298',
      arn: `${groupArn(group)}:log-stream:${s.name}`,
      storedBytes: 0,
    })),
    nextToken: from + limit < streams.length ? makeToken(from + limit) : undefined,
  };
}

function inRange(e: LogEvent, start: number | undefined, end: number | undefined): boolean {
  return (start === undefined || e.timestamp >= start) && (end === undefined || e.timestamp <= end);
}

function filterLogEvents(input: JsonInput, ctx: ServiceContext): unknown {
  const group = requireGroup(input, ctx, 'logs:FilterLogEvents');
  const names = input.stringList('logStreamNames');
  const prefix = input.string('logStreamNamePrefix');
  if (names !== undefined && prefix !== undefined) {
    throw new AwsError(
      'InvalidParameterException',
      'logStreamNames and logStreamNamePrefix are mutually exclusive.',
    );
  }
  const matches = compileFilterPattern(input.string('filterPattern'));
  const start = input.number('startTime');
  const end = input.number('endTime');
  const limit = limitOf(input, MAX_EVENTS, MAX_EVENTS);
  const streams = group.streams.filter(
    (s) =>
      (names === undefined || names.includes(s.name)) && (prefix === undefined || s.name.startsWith(prefix)),
  );
  const all = streams
    .flatMap((s, si) =>
      s.events.map((e, ei) => ({
        stream: s.name,
        e,
        eventId: `${String(e.timestamp).padStart(20, '0')}${si}${ei}`,
      })),
    )
    .filter(({ e }) => inRange(e, start, end) && matches(e.message))
    .sort((a, b) => a.e.timestamp - b.e.timestamp);
  const from = pageToken(input.string('nextToken'));
  const page = all.slice(from, from + limit);
  return {
    events: page.map(({ stream, e, eventId }) => ({
      logStreamName: stream,
      timestamp: e.timestamp,
      message: e.message,
      ingestionTime: e.ingestionTime,
      eventId,
    })),
    searchedLogStreams: streams.map((s) => ({ logStreamName: s.name, searchedCompletely: true })),
    nextToken: from + limit < all.length ? makeToken(from + limit) : undefined,
  };
}

function getLogEvents(input: JsonInput, ctx: ServiceContext): unknown {
  const group = requireGroup(input, ctx, 'logs:GetLogEvents');
  const name = input.requiredString('logStreamName');
  const stream = group.streams.find((s) => s.name === name);
  if (!stream) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
  const events = stream.events.filter((e) => inRange(e, input.number('startTime'), input.number('endTime')));
  const limit = limitOf(input, MAX_EVENTS, MAX_EVENTS);
  const token = input.string('nextToken');
  const m = token === undefined ? undefined : /^([fb])\/(\d+)$/.exec(token);
  if (token !== undefined && !m)
    throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
  const forward = m ? m[1] === 'f' : input.boolean('startFromHead') === true;
  const at = m ? Math.min(Number(m[2]), events.length) : forward ? 0 : events.length;
  const from = forward ? at : Math.max(0, at - limit);
  const to = forward ? Math.min(events.length, at + limit) : at;
  return {
    events: events
      .slice(from, to)
      .map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
    nextForwardToken: `f/${to}`,
    nextBackwardToken: `b/${from}`,
  };
}

export const logsService: JsonService = {
  protocol: 'json',
  targetPrefix: 'Logs_20140328',
  signingName: 'logs',
  invalidInputCode: 'InvalidParameterException',
  operations: {
    DescribeLogGroups: describeLogGroups,
    DescribeLogStreams: describeLogStreams,
    FilterLogEvents: filterLogEvents,
    GetLogEvents: getLogEvents,
  },
};
