// Realistic CloudWatch log lines for the seeded log groups: the Coder server's own output in
// `/ecs/coder` (slog format, timestamps relative to the world's clock) and a recorded ECS Exec
// session in `/ecs/coder-exec`. The database error lines are separate so a scenario can add them.

import type { LogEvent } from './world.js';

const MINUTE = 60_000;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function event(ms: number, text: string): LogEvent {
  return { timestamp: ms, ingestionTime: ms + 250, message: `${stamp(ms)} ${text}` };
}

export interface LogContext {
  /** When the task started. */
  start: number;
  now: number;
  dbHost: string;
  dbPort: number;
}

/** Start-up and steady-state lines of a healthy Coder server. */
export function coderServerLogLines(ctx: LogContext): LogEvent[] {
  const { start, now } = ctx;
  const lines: LogEvent[] = [
    event(
      start + 1_000,
      '[info]  coderd: Coder v2.15.1+2b9c5d8 - Your Self-Hosted Remote Development Platform',
    ),
    event(start + 1_200, '[info]  coderd: Started HTTP listener at http://0.0.0.0:3000'),
    event(start + 1_500, '[info]  coderd: connecting to postgres database  database=coder'),
    event(start + 2_100, '[info]  coderd: database migrations complete  version=000254'),
    event(start + 2_400, '[info]  coderd.pubsub: pubsub connected to postgres'),
    event(start + 2_600, '[info]  coderd: View the Web UI: https://coder.example.com'),
    event(start + 3_000, '[info]  coderd.provisionerd-coder-0: provisioner daemon started'),
  ];
  const steady = [
    '[info]  coderd.metrics_cache: deployment stats refreshed  took=38ms',
    '[info]  coderd: GET /api/v2/buildinfo 200  took=1.2ms',
    '[info]  coderd.provisionerd-coder-0: acquired job  template=docker-workspace',
    '[info]  coderd.dbpurge: purged old database entries  workspace_agent_stats=1284',
    '[info]  coderd: POST /api/v2/workspaceagents/me/report-stats 200  took=4.8ms',
  ];
  for (let t = start + 10 * MINUTE, i = 0; t < now - MINUTE; t += 10 * MINUTE, i++) {
    lines.push(event(t, steady[i % steady.length]!));
  }
  return lines;
}

/** Database failures over the last half hour: refused connections and a password rejection. */
export function databaseErrorLogLines(ctx: LogContext): LogEvent[] {
  const { now, dbHost, dbPort } = ctx;
  const dial = `dial tcp ${dbHost}:${dbPort}: connect: connection refused`;
  const auth = 'error="pq: password authentication failed for user \\"coder\\""';
  return [
    event(now - 28 * MINUTE, `[erro]  coderd.pubsub: pubsub dial failed  error="${dial}"`),
    event(now - 27 * MINUTE, `[warn]  coderd: database ping failed, retrying  error="${dial}"`),
    event(now - 20 * MINUTE, `[erro]  coderd: open database  ${auth}`),
    event(now - 12 * MINUTE, `[erro]  coderd.pubsub: pubsub dial failed  error="${dial}"`),
    event(now - 6 * MINUTE, `[erro]  coderd: failed to acquire database connection  ${auth}`),
  ];
}

/** A short recorded ECS Exec session, as the agent uploads it when logging is on. */
export function execSessionLogLines(start: number): LogEvent[] {
  return [
    {
      timestamp: start,
      ingestionTime: start + 900,
      message: `Script started on ${stamp(start).slice(0, 19)}+00:00`,
    },
    { timestamp: start + 2_000, ingestionTime: start + 2_900, message: '/ # which psql' },
    { timestamp: start + 2_100, ingestionTime: start + 2_900, message: '/usr/bin/psql' },
    { timestamp: start + 5_000, ingestionTime: start + 5_900, message: '/ # exit' },
  ];
}
