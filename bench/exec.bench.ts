// The exec transport (psql in the task over ECS Exec) against baselines measured in the same run,
// against a sandbox (Debian PostgreSQL engine) whose data channel is paced like the real agent:
// 1 KiB messages about 1 ms apart, about 1 MB/s, and the agent's 1 s wait before a command's first
// output. Measured: a whole `coderdb query 'select 1'` command, opening a session, one `select 1`
// on an open session, 100 statements through one session against one session per statement, and
// the throughput of a 5 MB result (plain base64 and gzip in the container) against the channel's
// own throughput. Prints ratios (exec ÷ baseline: above 1 is slower) with the figures alongside.
//
// Needs dist/ (npm run build) and Debian's PostgreSQL 15 server.

import { rmSync } from 'node:fs';
import { cli, commandTime, isolatedHome, mbps, medianTime, ms, ratio, tableRow, timed } from './lib.js';

// An isolated coderdb home, set before any coderdb module reads the environment.
const home = isolatedHome('exec');
const { loadProfile } = await import('../src/core/config.js');
const { AwsSession } = await import('../src/aws/session.js');
const { findTask } = await import('../src/aws/tasks.js');
const { openExecChannel } = await import('../src/aws/sessions.js');
const { directTransport } = await import('../src/transport/direct.js');
const { resolveDirectTarget } = await import('../src/transport/resolve.js');
const { execTransport } = await import('../src/transport/exec/index.js');
type Transport = import('../src/transport/types.js').Transport;
type DbSession = import('../src/transport/types.js').DbSession;

async function drain(session: DbSession, sql: string): Promise<number> {
  let bytes = 0;
  for await (const event of session.execute(sql)) {
    if (event.kind !== 'rows') continue;
    for (const row of event.rows)
      for (const value of row) bytes += value === null ? 0 : Buffer.byteLength(value) + 1;
  }
  return bytes;
}

/** Median time of `runs` whole sessions doing `work`. */
function sessions(transport: Transport, runs: number, work: (s: DbSession) => Promise<unknown>) {
  return medianTime(runs, async () => {
    const session = await transport.open();
    try {
      await work(session);
    } finally {
      await session.close();
    }
  });
}

/** Median latency of `sql` on one open session. */
async function latency(transport: Transport, sql: string, runs: number): Promise<number> {
  const session = await transport.open();
  try {
    await drain(session, sql);
    return await medianTime(runs, () => drain(session, sql));
  } finally {
    await session.close();
  }
}

/** Result throughput in MB/s of the rows' text (values plus one separator each). */
async function throughput(transport: Transport, sql: string): Promise<{ rate: number; bytes: number }> {
  const session = await transport.open();
  try {
    let bytes = 0;
    const time = await timed(async () => {
      bytes = await drain(session, sql);
    });
    return { rate: bytes / 1e6 / (time / 1000), bytes };
  } finally {
    await session.close();
  }
}

/** The data channel's own throughput: raw bytes out of the pty, timed from the first byte. */
async function channelThroughput(
  aws: InstanceType<typeof AwsSession>,
  profile: ReturnType<typeof loadProfile>,
) {
  const target = await findTask(aws, profile);
  const bytes = 5 * 1024 * 1024;
  const channel = await openExecChannel(
    aws,
    profile,
    target,
    `sh -c 'stty raw -echo; head -c ${(bytes * 3) / 4} /dev/urandom | base64'`,
  );
  let received = 0;
  let first = 0;
  for await (const chunk of channel.output) {
    if (received === 0) first = performance.now();
    received += (chunk as Buffer).length;
  }
  const time = performance.now() - first;
  await channel.closed;
  return received / 1e6 / (time / 1000);
}

const RESULT_SQL =
  "select g as id, md5(g::text)::uuid as uuid, 'user' || (g % 500) as username, " +
  "'2025-01-01 00:00:00+00'::timestamptz - g * interval '1 minute' as created_at, (g % 7 = 0) as deleted, " +
  "'Template for ' || md5((g % 50)::text) as description from generate_series(1, 40000) g";

async function main(): Promise<void> {
  const started = cli(['sandbox', 'start', '--engine', 'postgres', '--realistic-pacing']);
  if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
  const profile = loadProfile({ profile: 'sandbox' });
  const aws = new AwsSession(profile);
  try {
    const exec = execTransport(profile, aws);
    const execPlain = execTransport(profile, aws, { compress: false });
    const direct = directTransport({ target: () => resolveDirectTarget(profile, aws) });

    const commandExec = commandTime(5, ['--transport', 'exec', 'query', 'select 1']);
    const commandDirect = commandTime(5, ['--transport', 'direct', 'query', 'select 1']);

    const openExec = await sessions(exec, 5, async () => undefined);
    const openDirect = await sessions(direct, 5, async () => undefined);
    const selectExec = await latency(exec, 'select 1', 20);
    const selectPlain = await latency(execPlain, 'select 1', 20);
    const selectDirect = await latency(direct, 'select 1', 20);

    const oneSession = await timed(async () => {
      const session = await exec.open();
      try {
        for (let i = 0; i < 100; i++) await drain(session, `select ${i} as n`);
      } finally {
        await session.close();
      }
    });
    const perSession = await sessions(exec, 10, (session) => drain(session, 'select 1 as n'));

    const channel = await channelThroughput(aws, profile);
    const plain = await throughput(execPlain, RESULT_SQL);
    const gzip = await throughput(exec, RESULT_SQL);
    const baseline = await throughput(direct, RESULT_SQL);

    const rows = [
      ['Measure', 'exec', 'baseline', 'exec ÷ baseline'],
      ['---', '---:', '---:', '---:'],
      [
        "`coderdb query 'select 1'` (whole command)",
        ms(commandExec),
        `${ms(commandDirect)} (direct)`,
        ratio(commandExec, commandDirect),
      ],
      ['open + close a session', ms(openExec), `${ms(openDirect)} (direct)`, ratio(openExec, openDirect)],
      [
        'one `select 1` on an open session',
        ms(selectExec),
        `${ms(selectDirect)} (direct)`,
        ratio(selectExec, selectDirect),
      ],
      [
        'one `select 1` on an open session, uncompressed',
        ms(selectPlain),
        `${ms(selectExec)} (compressed, the default)`,
        ratio(selectPlain, selectExec),
      ],
      [
        '100 statements: one session (per statement)',
        ms(oneSession / 100),
        `${ms(perSession)} (a session per statement)`,
        ratio(oneSession / 100, perSession),
      ],
      [
        `${(plain.bytes / 1e6).toFixed(1)} MB result, uncompressed (base64)`,
        mbps(plain.rate),
        `${mbps(channel)} (the channel itself)`,
        `${(plain.rate / channel).toFixed(2)}× the channel`,
      ],
      [
        `${(gzip.bytes / 1e6).toFixed(1)} MB result, gzip -1 + base64 (the default)`,
        mbps(gzip.rate),
        `${mbps(channel)} (the channel itself)`,
        `${(gzip.rate / channel).toFixed(2)}× the channel`,
      ],
      [
        `${(baseline.bytes / 1e6).toFixed(1)} MB result, direct (unpaced)`,
        mbps(baseline.rate),
        `${mbps(channel)} (the channel itself)`,
        `${(baseline.rate / channel).toFixed(2)}× the channel`,
      ],
    ];
    process.stdout.write(`${rows.map(tableRow).join('\n')}\n`);
  } finally {
    aws.destroy();
    cli(['sandbox', 'stop']);
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
