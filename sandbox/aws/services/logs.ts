// Amazon CloudWatch Logs (awsJson1_1, target prefix Logs_20140328): DescribeLogGroups,
// DescribeLogStreams, FilterLogEvents (filter patterns, time range, pagination) and GetLogEvents
// (forward/backward tokens) over the seeded log groups, and the writes coderdb's audit sink makes:
// CreateLogGroup, CreateLogStream and PutLogEvents, with the real service's batch limits.

import { AwsError } from '../errors.js';
import type { JsonInput } from '../protocol/json-input.js';
import type { LogEvent, LogGroup } from '../world.js';
import { compileFilterPattern } from './logs-filter.js';
import type { JsonOperation, JsonService, ServiceContext } from './types.js';

const MAX_EVENTS = 10_000;
/** PutLogEvents: at most 1,048,576 bytes a batch, counted as each message's UTF-8 bytes plus 26. */
const MAX_BATCH_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
const MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD;
const NAME_PATTERN = /^[^:*]{1,512}$/;

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

function createLogGroup(input: JsonInput, ctx: ServiceContext): unknown {
  const name = input.requiredString('logGroupName');
  if (!/^[\w#\-./]{1,512}$/.test(name)) {
    throw new AwsError(
      'InvalidParameterException',
      `1 validation error detected: Value '${name}' at 'logGroupName' failed to satisfy constraint`,
    );
  }
  const arn = `arn:aws:logs:${ctx.world.region}:${ctx.world.account}:log-group:${name}:*`;
  ctx.authorize('logs:CreateLogGroup', arn);
  if (ctx.world.logGroups.some((g) => g.name === name)) {
    throw new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists');
  }
  ctx.world.logGroups.push({ name, arn, createdAt: Date.now(), streams: [], createdByCaller: true });
  return {};
}

function streamArn(group: LogGroup, stream: string): string {
  return `${groupArn(group)}:log-stream:${stream}`;
}

function createLogStream(input: JsonInput, ctx: ServiceContext): unknown {
  const name = input.requiredString('logStreamName');
  const group = requireGroupFor(input, ctx, 'logs:CreateLogStream', name);
  if (!NAME_PATTERN.test(name)) {
    throw new AwsError(
      'InvalidParameterException',
      `1 validation error detected: Value '${name}' at 'logStreamName' failed to satisfy constraint`,
    );
  }
  if (group.streams.some((s) => s.name === name)) {
    throw new AwsError('ResourceAlreadyExistsException', 'The specified log stream already exists');
  }
  group.streams.push({ name, createdAt: Date.now(), events: [] });
  return {};
}

/** Like requireGroup, but authorizes on the stream's ARN (as IAM does for stream-level actions). */
function requireGroupFor(input: JsonInput, ctx: ServiceContext, action: string, stream: string): LogGroup {
  const name = input.requiredString('logGroupName');
  const group = ctx.world.logGroups.find((g) => g.name === name);
  const arn = group
    ? streamArn(group, stream)
    : `arn:aws:logs:${ctx.world.region}:${ctx.world.account}:log-group:${name}:log-stream:${stream}`;
  ctx.authorize(action, arn);
  if (!group) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
  return group;
}

function putLogEvents(input: JsonInput, ctx: ServiceContext): unknown {
  const streamName = input.requiredString('logStreamName');
  const group = requireGroupFor(input, ctx, 'logs:PutLogEvents', streamName);
  const stream = group.streams.find((s) => s.name === streamName);
  if (!stream) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
  if (ctx.world.logsThrottledPuts) {
    ctx.world.logsThrottledPuts--;
    throw new AwsError('ThrottlingException', 'Rate exceeded');
  }
  const raw = input.raw.logEvents;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_EVENTS) {
    throw new AwsError(
      'InvalidParameterException',
      `logEvents must hold between 1 and ${MAX_EVENTS} events.`,
    );
  }
  let bytes = 0;
  let previous = -Infinity;
  const events: LogEvent[] = [];
  const now = Date.now();
  for (const item of raw as unknown[]) {
    const { timestamp, message } = (item ?? {}) as { timestamp?: unknown; message?: unknown };
    if (
      typeof timestamp !== 'number' ||
      !Number.isInteger(timestamp) ||
      typeof message !== 'string' ||
      message === ''
    ) {
      throw new AwsError(
        'InvalidParameterException',
        'Each log event needs a timestamp and a non-empty message.',
      );
    }
    if (timestamp < previous) {
      throw new AwsError(
        'InvalidParameterException',
        'Log events in a single PutLogEvents request must be in chronological order.',
      );
    }
    previous = timestamp;
    const size = Buffer.byteLength(message, 'utf8');
    if (size > MAX_EVENT_BYTES) {
      throw new AwsError(
        'InvalidParameterException',
        `Log event too large: ${size} bytes exceeds limit of ${MAX_EVENT_BYTES}`,
      );
    }
    bytes += size + EVENT_OVERHEAD;
    events.push({ timestamp, message, ingestionTime: now });
  }
  if (bytes > MAX_BATCH_BYTES) {
    throw new AwsError(
      'InvalidParameterException',
      `Upload too large: ${bytes} bytes exceeds limit of ${MAX_BATCH_BYTES}`,
    );
  }
  stream.events.push(...events);
  // FilterLogEvents and GetLogEvents read streams in time order, as the service stores them.
  stream.events.sort((a, b) => a.timestamp - b.timestamp);
  return { nextSequenceToken: makeToken(stream.events.length) };
}

/** Every operation fails as an unavailable service would while the world says so (a scenario). */
function unlessUnavailable(operation: JsonOperation): JsonOperation {
  return (input, ctx) => {
    if (ctx.world.logsUnavailable) {
      throw new AwsError(
        'ServiceUnavailableException',
        'The service is unavailable. Please try again later.',
        503,
        'Receiver',
      );
    }
    return operation(input, ctx);
  };
}

const operations: Record<string, JsonOperation> = {
  CreateLogGroup: createLogGroup,
  CreateLogStream: createLogStream,
  DescribeLogGroups: describeLogGroups,
  DescribeLogStreams: describeLogStreams,
  FilterLogEvents: filterLogEvents,
  GetLogEvents: getLogEvents,
  PutLogEvents: putLogEvents,
};

export const logsService: JsonService = {
  protocol: 'json',
  targetPrefix: 'Logs_20140328',
  signingName: 'logs',
  invalidInputCode: 'InvalidParameterException',
  operations: Object.fromEntries(
    Object.entries(operations).map(([name, op]) => [name, unlessUnavailable(op)]),
  ),
};
