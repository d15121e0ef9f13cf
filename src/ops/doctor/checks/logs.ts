// What Coder itself said about its database lately: the runbook's
// `aws logs tail /ecs/coder --since 10m | grep -i database`, over the last hour and through
// FilterLogEvents (which AWS CLI v1 also has), summarised as a count and the most recent line.
// Lines are scrubbed of credentials before they are shown.

import type { FilteredLogEvent, FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { awsModule } from '../../../aws/clients.js';
import { scrub } from '../../../core/secret.js';
import { AwsCallFailure } from '../aws-failure.js';
import type { DoctorContext } from '../context.js';
import { type CheckSpec, pass, warn } from '../types.js';
import { ago, clip } from './common.js';

export const LOG_WINDOW_MS = 60 * 60_000;

/** CloudWatch matches terms case-sensitively; `?` makes each one an alternative. */
export const DATABASE_FILTER =
  '?database ?Database ?DATABASE ?postgres ?Postgres ?postgresql ?pq ?pgx ?pubsub';

const ERROR_MARKERS =
  /\[(erro|error|crit|fatal|warn)\]|\b(error|errors|fatal|panic|failed|failure|refused|timeout|timed out|denied|could not|unable to|too many connections|no such host|no pg_hba)\b/i;

export function isDatabaseError(message: string): boolean {
  return ERROR_MARKERS.test(message);
}

/** Drops a leading timestamp, which the summary states separately. */
function withoutTimestamp(message: string): string {
  return message.replace(/^\s*\d{4}-\d{2}-\d{2}[T ][\d:.]+Z?\s+/, '');
}

export const databaseErrorsCheck: CheckSpec<DoctorContext> = {
  id: 'logs.database-errors',
  title: 'No recent database errors in the logs',
  dependsOn: ['aws.credentials'],
  scope: 'deployment',
  async run(ctx) {
    const group = ctx.profile.logGroup;
    const startTime = Date.now() - LOG_WINDOW_MS;
    let events: FilteredLogEvent[];
    try {
      events = await databaseLines(ctx, group, startTime);
    } catch (error) {
      if (error instanceof AwsCallFailure && error.awsName === 'ResourceNotFoundException') {
        return warn(
          `log group ${group} does not exist in ${ctx.region}, so Coder's own database errors cannot be read`,
          "set logGroup in the profile (or CODERDB_LOG_GROUP) to the coder container's awslogs-group",
        );
      }
      throw error;
    }
    const errors = events.filter((event) => isDatabaseError(event.message ?? ''));
    if (errors.length === 0) {
      return pass(`no database errors in ${group} in the last hour (${events.length} database line(s) read)`);
    }
    const latest = errors.at(-1)!;
    const when = ago(latest.timestamp === undefined ? undefined : new Date(latest.timestamp));
    return warn(
      `${errors.length} database error(s) in ${group} in the last hour; latest ${when}: ${clip(scrub(withoutTimestamp(latest.message ?? '')))}`,
      [
        'the other checks point at the cause (rds.instance, network.db-ingress, secret.value); read the lines with:',
        `aws logs filter-log-events --log-group-name ${group} --start-time ${startTime} --filter-pattern '${DATABASE_FILTER}' ${ctx.regionFlag}`,
      ].join('\n'),
      errors.slice(-5).map((event) => clip(scrub(event.message ?? ''), 240)),
    );
  },
};

async function databaseLines(
  ctx: DoctorContext,
  group: string,
  startTime: number,
): Promise<FilteredLogEvent[]> {
  const { FilterLogEventsCommand } = await awsModule('logs');
  const logs = await ctx.aws.logs();
  const events: FilteredLogEvent[] = [];
  let nextToken: string | undefined;
  // Bounded: five pages of up to 10,000 events is far more than an hour of database lines.
  for (let page = 0; page < 5; page++) {
    const answer: FilterLogEventsCommandOutput = await ctx.call(
      'logs:FilterLogEvents',
      `arn:${ctx.partition}:logs:${ctx.region}:${ctx.account}:log-group:${group}:*`,
      (abortSignal) =>
        logs.send(
          new FilterLogEventsCommand({
            logGroupName: group,
            startTime,
            filterPattern: DATABASE_FILTER,
            nextToken,
          }),
          { abortSignal },
        ),
    );
    events.push(...(answer.events ?? []));
    nextToken = answer.nextToken;
    if (!nextToken) break;
  }
  return events.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
}
