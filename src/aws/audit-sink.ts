// The CloudWatch Logs audit sink: every audit record, the same JSON line as in the local file (hash
// chain included), goes to the profile's `auditLogGroup`, in one stream per operator and machine
// (`user@host`), created on first use. Records go with PutLogEvents in as few calls as the
// service's limits allow; throttling, 5xx answers and network errors are retried a bounded number
// of times by the SDK's standard retry strategy, and each attempt has a time limit, so an
// unreachable sink costs seconds, not minutes. The group itself is the platform team's to create
// (with its retention and who may write to it); coderdb never creates it.

import { hostname, userInfo } from 'node:os';
import type { CloudWatchLogsClient, InputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import type { AuditEntry, AuditSink } from '../core/audit.js';
import type { Profile } from '../core/config.js';
import { awsModule, awsSettings } from './clients.js';
import { fromAwsError } from './errors.js';

/** PutLogEvents limits: events and bytes a call (each event counts its UTF-8 bytes plus 26). */
const MAX_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
/** A first attempt and three retries; each with these time limits. */
const MAX_ATTEMPTS = 4;
const CONNECT_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** `ann@laptop`: stream names may hold anything but `:` and `*`. */
export function auditStreamName(user = currentUser(), host = hostname()): string {
  return `${user}@${host}`.replace(/[:*]/g, '_').slice(0, 512);
}

export function cloudWatchAuditSink(profile: Profile, group: string, stream = auditStreamName()): AuditSink {
  let client: Promise<CloudWatchLogsClient> | undefined;
  let streamReady = false;
  let lastTimestamp = 0;
  const logs = () => {
    client ??= awsModule('logs').then(
      ({ CloudWatchLogsClient }) =>
        new CloudWatchLogsClient({
          ...awsSettings(profile),
          maxAttempts: MAX_ATTEMPTS,
          requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
        }),
    );
    return client;
  };

  async function put(events: InputLogEvent[]): Promise<void> {
    const { PutLogEventsCommand, CreateLogStreamCommand } = await awsModule('logs');
    const client = await logs();
    const putEvents = () =>
      client.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: events }));
    try {
      const answer = await putEvents().catch(async (error: unknown) => {
        // A new operator or machine: its stream does not exist yet (the group does).
        if (streamReady || !isMissingStream(error)) throw error;
        await client
          .send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }))
          .catch((created: unknown) => {
            if ((created as Error).name !== 'ResourceAlreadyExistsException') throw created;
          });
        return putEvents();
      });
      const rejected = answer.rejectedLogEventsInfo;
      if (rejected && Object.values(rejected).some((index) => index !== undefined)) {
        throw new Error(`CloudWatch Logs rejected records of the batch (${JSON.stringify(rejected)})`);
      }
      streamReady = true;
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') {
        throw new Error(`log group ${group} does not exist in ${profile.region}`);
      }
      throw fromAwsError(error, 'logs:PutLogEvents');
    }
  }

  return {
    label: `CloudWatch Logs ${group} (stream ${stream})`,
    required: profile.auditRequired,
    async send(entries: readonly AuditEntry[]) {
      let accepted = 0;
      for (const batch of batches(entries)) {
        const events = batch.map((entry) => {
          // PutLogEvents wants a batch in time order; a clock stepping back must not break it.
          lastTimestamp = Math.max(lastTimestamp, Date.parse(entry.time) || Date.now());
          return { timestamp: lastTimestamp, message: JSON.stringify(entry) };
        });
        try {
          await put(events);
        } catch (error) {
          return { accepted, error: error as Error };
        }
        accepted += batch.length;
      }
      return { accepted };
    },
  };
}

/** Consecutive runs of records that each fit one PutLogEvents call. */
function* batches(entries: readonly AuditEntry[]): Generator<AuditEntry[]> {
  let batch: AuditEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(JSON.stringify(entry), 'utf8') + EVENT_OVERHEAD;
    if (batch.length > 0 && (batch.length === MAX_EVENTS || bytes + size > MAX_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

function isMissingStream(error: unknown): boolean {
  const { name, message } = error as Error;
  return name === 'ResourceNotFoundException' && /stream/i.test(message ?? '');
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
