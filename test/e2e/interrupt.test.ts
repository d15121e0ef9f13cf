// Ctrl-C on a command whose statement is still running, and a reader that closes the pipe while
// rows still stream (`| head`): coderdb ends its SSM session (TerminateSession) before it exits, so
// psql in the task or the agent's connection to the database does not linger until the service
// times the session out, holding the transaction (and any locks) open; and the server stops the
// statement itself once its client is gone, on every transport. A write transaction also has a
// server-side idle limit for when coderdb dies without the chance to say so.

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/context.js';
import { loadProfile } from '../../src/core/config.js';
import { CoderdbError } from '../../src/core/errors.js';
import { createWriter } from '../../src/core/output/formats.js';
import { StringSink } from '../../src/core/output/sink.js';
import { Db } from '../../src/ops/db.js';
import { runReadQuery } from '../../src/ops/query.js';
import { CLI } from '../helpers/cli.js';
import { ssmSessions, startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { sql } from '../ops/backup/helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Ctrl-C ends the remote session', () => {
  let sandbox: TestSandbox;
  let activeSessions: () => Promise<Set<string>>;
  let destroy: () => void;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    ({ active: activeSessions, destroy } = await ssmSessions(sandbox.state));
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    // The interrupted statements sleep on in the server: nothing told them their client had gone.
    if (sandbox)
      await sql(
        sandbox.state.databaseUrl,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
      ).catch(() => undefined);
    destroy?.();
    await sandbox?.stop();
  });

  // Backends in pg_sleep: psql in the task runs statements through a cursor (FETCH …), so the
  // statement's text is not what pg_stat_activity shows.
  const sleepers = async () =>
    new Set(
      (
        await sql<{ pid: number }>(
          sandbox.state.databaseUrl,
          "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name = 'coderdb'",
        )
      ).map((row) => row.pid),
    );

  /** The built CLI against the sandbox, its stderr collected; `exitCode` waits at most 15 s. */
  const launch = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...sandbox.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (bytes: Buffer) => {
      stderr += bytes.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return {
      child,
      stderr: () => stderr,
      exitCode: () => Promise.race([exited, sleep(15_000).then(() => 'still running' as const)]),
    };
  };

  /** A library context on the sandbox's database URL, with nothing from the user's config. */
  const directContext = (signal?: AbortSignal) => {
    const configFile = join(sandbox.dir, 'empty-config.json');
    writeFileSync(configFile, '{}');
    return createContext({
      resolvedProfile: loadProfile({ configFile, env: {}, overrides: { url: sandbox.state.databaseUrl } }),
      ...(signal ? { signal } : {}),
    });
  };

  for (const transport of ['direct', 'exec', 'tunnel'] as const) {
    it(`over ${transport}: the session and the statement end, then exit 130 with one line`, async () => {
      const before = await activeSessions();
      const sleepingBefore = await sleepers();
      const { child, stderr, exitCode } = launch(['--transport', transport, 'query', 'select pg_sleep(120)']);

      // The statement is running in the database, through a session coderdb opened.
      const backend = await until('the statement to run', async () =>
        [...(await sleepers())].find((pid) => !sleepingBefore.has(pid)),
      );
      const opened = [...(await activeSessions())].filter((id) => !before.has(id));
      expect(opened).toHaveLength(transport === 'direct' ? 0 : 1);

      child.kill('SIGINT');
      expect(await exitCode(), stderr()).toBe(130);
      expect(stderr().trim()).toBe('interrupted');
      if (opened[0]) expect((await activeSessions()).has(opened[0])).toBe(false);
      // PostgreSQL 14+ notices the vanished client mid-statement (client_connection_check_interval)
      // instead of sleeping on for two minutes.
      await until(
        'the statement to end',
        async () => ((await sleepers()).has(backend) ? undefined : true),
        15_000,
      );
    });
  }

  it('through a warm session (tunnel, reused): exit 130, the statement ends, the holder and its session stay', async () => {
    const env = { XDG_RUNTIME_DIR: join(sandbox.dir, 'run') };
    const connected = await sandbox.run(['--transport', 'tunnel', 'connect', '-o', 'json', '--for', '5m'], {
      env,
    });
    expect(connected.code, connected.stderr).toBe(0);
    const holder = JSON.parse(connected.stdout) as { pid: number; sessionId: string };
    try {
      const sleepingBefore = await sleepers();
      const { child, stderr, exitCode } = launch(
        ['--transport', 'tunnel', '-v', 'query', 'select pg_sleep(120)'],
        env,
      );
      const backend = await until('the statement to run', async () =>
        [...(await sleepers())].find((pid) => !sleepingBefore.has(pid)),
      );
      expect(stderr()).toContain('tunnel (reused)');
      child.kill('SIGINT');
      expect(await exitCode(), stderr()).toBe(130);
      expect(stderr().trim().split('\n').at(-1)).toBe('interrupted');
      await until(
        'the statement to end',
        async () => ((await sleepers()).has(backend) ? undefined : true),
        15_000,
      );
      // The warm session outlives the command it served, and serves the next one.
      expect((await activeSessions()).has(holder.sessionId)).toBe(true);
      const next = await sandbox.run(['--transport', 'tunnel', '-v', 'query', 'select 41 + 1'], { env });
      expect(next.code, next.stderr).toBe(0);
      expect(next.stdout).toContain('42');
      expect(next.stderr).toContain(`warm session, pid ${holder.pid}`);
    } finally {
      await sandbox.run(['disconnect', '--all'], { env });
    }
    await until('the warm session to end', async () =>
      (await activeSessions()).has(holder.sessionId) ? undefined : true,
    );
  });

  it('over exec: a reader that stops reading (| head) ends the session too, with status 0', async () => {
    const before = await activeSessions();
    const { child, stderr, exitCode } = launch([
      '--transport',
      'exec',
      'query',
      'select md5(g::text) || md5((g + 1)::text) from generate_series(1, 2000000) g',
    ]);
    // Like `head -1`: the first output, then the pipe is closed under it.
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const opened = [...(await activeSessions())].filter((id) => !before.has(id));
    expect(opened).toHaveLength(1);
    child.stdout.destroy();
    expect(await exitCode(), stderr()).toBe(0);
    expect(stderr()).toBe('');
    expect((await activeSessions()).has(opened[0]!)).toBe(false);
  });

  it('a library caller aborts a direct session through the context: interrupted, and the statement ends', async () => {
    const controller = new AbortController();
    const context = directContext(controller.signal);
    try {
      const sleepingBefore = await sleepers();
      const running = runReadQuery(context, 'select pg_sleep(120)', createWriter('json', new StringSink()));
      running.catch(() => undefined);
      const backend = await until('the statement to run', async () =>
        [...(await sleepers())].find((pid) => !sleepingBefore.has(pid)),
      );
      controller.abort();
      const outcome = await Promise.race([
        running.then(
          () => 'finished',
          (error: unknown) => error,
        ),
        sleep(10_000),
      ]);
      expect(outcome).toBeInstanceOf(CoderdbError);
      expect((outcome as CoderdbError).kind).toBe('interrupted');
      await until(
        'the statement to end',
        async () => ((await sleepers()).has(backend) ? undefined : true),
        15_000,
      );
    } finally {
      context.dispose();
    }
  });

  it('write transactions carry an idle-in-transaction limit, read ones do not', async () => {
    const context = directContext();
    const setting = "SELECT current_setting('idle_in_transaction_session_timeout') AS idle";
    try {
      for (const [mode, expected] of [
        ['write', '1min'],
        ['read', '0'],
      ] as const) {
        const db = await Db.begin(context, mode);
        try {
          expect(await db.objects(setting)).toEqual([{ idle: expected }]);
        } finally {
          await db.close();
        }
      }
    } finally {
      context.dispose();
    }
  });
});
