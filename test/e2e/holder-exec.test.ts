// Warm exec sessions (coderdb connect --transport exec) against the sandbox's PostgreSQL: the holder
// is a real detached process lending real psql sessions in the task; commands run the built CLI.
// Output is compared byte for byte with cold exec commands (--no-reuse); isolation between the
// commands a held psql serves is checked on the database side (same backend, nothing left over);
// the read-only boundary by a fingerprint; the end by the sandbox's list of active SSM sessions.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/core/process.js';
import type { HolderInfo } from '../../src/holder/protocol.js';
import { CLI, REPO } from '../helpers/cli.js';
import { fingerprint } from '../helpers/fingerprint.js';
import { ssmSessions, startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { until } from '../helpers/wait.js';
import { sql } from '../ops/backup/helpers.js';
import { control } from './tunnel-helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('coderdb connect --transport exec: warm exec sessions', () => {
  let sandbox: TestSandbox;
  let runtime: string;
  let activeSessions: () => Promise<Set<string>>;
  let destroy: () => void;
  const started = new Set<number>();
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ XDG_RUNTIME_DIR: runtime, ...extra });
  const exec = (...args: string[]) =>
    sandbox.run(['--transport', 'exec', ...args], { timeoutMs: 120_000, env: env() });

  async function connect(...args: string[]): Promise<HolderInfo> {
    const result = await sandbox.run(['--transport', 'exec', 'connect', '-o', 'json', ...args], {
      timeoutMs: 120_000,
      env: env({ CODERDB_HOLDER_POLL_MS: '500', CODERDB_HOLDER_KEEPALIVE_MS: '1000' }),
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout) as HolderInfo;
    started.add(info.pid);
    return info;
  }

  /** The holder exited and left no SSM session behind. */
  async function expectGone(info: HolderInfo): Promise<void> {
    await until(() => !isProcessAlive(info.pid), 30_000, `holder ${info.pid} to exit`);
    started.delete(info.pid);
    const deadline = Date.now() + 10_000;
    while ((await activeSessions()).size > 0 && Date.now() < deadline) await sleep(200);
    expect([...(await activeSessions())]).toEqual([]);
  }

  const audit = () =>
    readFileSync(join(sandbox.dir, 'state', 'coderdb', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { transport: string; command: string; outcome: string });

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    runtime = join(sandbox.dir, 'run');
    ({ active: activeSessions, destroy } = await ssmSessions(sandbox.state));
  });
  afterAll(async () => {
    if (sandbox) await sandbox.run(['disconnect', '--all'], { env: env() }).catch(() => undefined);
    for (const pid of started) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    destroy?.();
    await sandbox?.stop();
  });

  it('serves commands byte-equal to cold exec, isolated from each other, read-only, interruptible', async () => {
    const info = await connect('--for', '10m');
    expect(info).toMatchObject({ transport: 'exec', served: 0, active: 0, sessions: 1 });

    // Byte-equal to a cold exec command: NULLs, Unicode, a multi-batch result, an SQL error.
    const queries = [
      "select null::text as a, 'é😀\u00a0x' as b, E'tab\\there' as c, 1.50::numeric as d, '\\x00ff'::bytea as e",
      'select g, md5(g::text), case when g % 7 = 0 then null else g::text end from generate_series(1, 20000) g',
      'select 1/0',
      'select * from no_such_table',
    ];
    for (const query of queries) {
      const reused = await exec('query', query);
      const cold = await exec('--no-reuse', 'query', query);
      expect({ ...reused, query }).toEqual({ ...cold, query });
    }
    const verbose = await exec('-v', 'query', 'select 1');
    expect(verbose.stderr).toContain('via exec (reused) ');
    expect(verbose.stderr).toContain(`warm session, pid ${info.pid}`);
    expect(
      audit()
        .filter((line) => line.command === 'query' && line.outcome !== 'started')
        .map((line) => line.transport),
    ).toEqual([...queries.flatMap(() => ['exec (reused)', 'exec']), 'exec (reused)']);

    // Client A: a write session through the holder (the library, as a program would), leaving all
    // the state it can in the psql session.
    const clientA = join(sandbox.dir, 'client-a.mjs');
    writeFileSync(
      clientA,
      `import { createContext } from ${JSON.stringify(join(REPO, 'dist', 'index.js'))};
const context = createContext({ reuseWarmSession: true, overrides: { transport: 'exec' } });
const session = await context.transport.open({ applicationName: 'client-a' });
const rows = [];
for (const sql of [
  'SET ROLE pg_read_all_data',
  "SET search_path = 'nowhere'",
  'CREATE TEMP TABLE a_temp (x int)',
  'PREPARE a_plan AS SELECT 1',
  'SELECT pg_advisory_lock(4242)',
  'SET default_transaction_read_only = off',
  'SELECT pg_backend_pid()',
]) {
  for await (const event of session.execute(sql)) if (event.kind === 'rows') rows.push(...event.rows);
}
process.stdout.write(JSON.stringify({ transport: session.transport, pid: rows.at(-1)[0] }));
await session.close();
context.dispose();
`,
    );
    const a = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [clientA], { env: { ...sandbox.env, ...env() } });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk;
      });
      child.once('exit', (code) => resolve({ code, out, err }));
    });
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    const clientAResult = JSON.parse(a.out) as { transport: string; pid: string };
    expect(clientAResult.transport).toBe('exec (reused)');

    // Client B, a read command, gets the same backend with none of it.
    const probe = `select pg_backend_pid() as pid, current_user = session_user as own_role,
      current_setting('search_path') as search_path,
      current_setting('default_transaction_read_only') as read_only,
      current_setting('transaction_read_only') as tx_read_only,
      current_setting('application_name') as app,
      (select count(*) from pg_prepared_statements) as prepared,
      (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as advisory,
      to_regclass('pg_temp.a_temp') is null as no_temp`;
    const b = await exec('query', '-o', 'json', probe);
    expect(b.stderr).toBe('');
    const [seen] = JSON.parse(b.stdout) as Record<string, unknown>[];
    expect(seen).toMatchObject({
      pid: Number(clientAResult.pid),
      own_role: true,
      search_path: '"$user", public',
      read_only: 'on',
      tx_read_only: 'on',
      prepared: 0,
      advisory: 0,
      no_temp: true,
    });
    const cold = await exec(
      '--no-reuse',
      'query',
      '-o',
      'json',
      "select current_setting('application_name') as app",
    );
    expect(seen?.app).toBe((JSON.parse(cold.stdout) as { app: string }[])[0]?.app);
    // The database agrees: no advisory lock is held by anyone.
    expect(
      await sql(sandbox.state.databaseUrl, "select * from pg_locks where locktype = 'advisory'"),
    ).toEqual([]);

    // The read-only boundary holds through the warm session: the write is refused, nothing changed.
    const before = await fingerprint(sandbox.state.databaseUrl);
    const write = await exec('query', "update users set name = 'pwned'; select 1");
    expect(write.code).not.toBe(0);
    const sneaky = await exec('query', "select set_config('default_transaction_read_only', 'off', false)");
    const after = await exec('query', 'select 1 as ok');
    expect(after.code).toBe(0);
    expect(sneaky.code).not.toBe(0);
    expect(await fingerprint(sandbox.state.databaseUrl)).toEqual(before);

    // Ctrl-C on a reused long statement: exits as a cold command does, the backend ends, the holder
    // survives and the next command works.
    const child = spawn(process.execPath, [CLI, '--transport', 'exec', 'query', 'select pg_sleep(120)'], {
      env: { ...sandbox.env, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const sleepers = async () =>
      (
        await sql<{ pid: number }>(
          sandbox.state.databaseUrl,
          "select pid from pg_stat_activity where wait_event = 'PgSleep'",
        )
      ).map((row) => row.pid);
    let backend: number | undefined;
    const deadline = Date.now() + 30_000;
    while (backend === undefined && Date.now() < deadline) {
      backend = (await sleepers())[0];
      if (backend === undefined) await sleep(100);
    }
    expect(backend).toBeDefined();
    child.kill('SIGINT');
    expect(await Promise.race([exited, sleep(15_000).then(() => 'still running')])).toBe(130);
    expect(stderr.trim()).toBe('interrupted');
    const ends = Date.now() + 15_000;
    while ((await sleepers()).includes(backend!) && Date.now() < ends) await sleep(200);
    expect(await sleepers()).not.toContain(backend);
    expect(isProcessAlive(info.pid)).toBe(true);
    const next = await exec('-v', 'query', 'select 2 as two');
    expect(next.code).toBe(0);
    expect(next.stderr).toContain('exec (reused)');

    // Two commands at once: the second gets a psql session of its own, closed once it is done.
    const both = await Promise.all([
      exec('query', 'select pg_sleep(1), 1 as one'),
      exec('query', 'select pg_sleep(1), 2 as two'),
    ]);
    expect(both.map((result) => result.code)).toEqual([0, 0]);
    const hello = async () =>
      (
        JSON.parse(
          (await sandbox.run(['connect', '--status', '-o', 'json'], { env: env() })).stdout,
        ) as HolderInfo[]
      )[0]!;
    const settled = Date.now() + 15_000;
    while ((await hello()).sessions !== 1 && Date.now() < settled) await sleep(200);
    expect((await hello()).sessions).toBe(1);

    // Keep-alives go through the idle session without counting as use.
    const quiet = await hello();
    await sleep(2_500);
    const later = await hello();
    expect(later.keepAlives).toBeGreaterThan(quiet.keepAlives);
    expect(later.lastUsedAt).toBe(quiet.lastUsedAt);
    expect((await exec('query', 'select 3')).code).toBe(0);

    const status = await sandbox.run(['connect', '--status'], { env: env() });
    expect(status.stdout.split('\n')[1]).toMatch(/^sandbox +exec /);

    const ended = await sandbox.run(['disconnect'], { env: env() });
    expect(ended.code).toBe(0);
    await expectGone(info);
    const fresh = await exec('query', 'select 1');
    expect(fresh.code).toBe(0);
    expect(audit().at(-1)?.transport).toBe('exec');
  }, 240_000);

  it('ends when its task is replaced, leaving no session; the next command says so', async () => {
    await sandbox.run(['disconnect', '--all'], { env: env() });
    const info = await connect();
    const endpoint = control(sandbox.state);
    await endpoint.scenario('no-running-task');
    try {
      await until(() => !isProcessAlive(info.pid), 30_000, 'the holder to notice its task stopped');
    } finally {
      await endpoint.scenario('healthy');
    }
    await expectGone(info);
    const next = await exec('query', 'select 1');
    expect(next.code).toBe(0);
    expect(next.stderr).toContain(`ended (its task ${info.task} is`);
  }, 90_000);

  it('ends when idle for its limit, leaving no session', async () => {
    // Whatever an earlier failure left (so that this one is not reported as its consequence).
    await sandbox.run(['disconnect', '--all'], { env: env() });
    const info = await connect('--idle', '2s');
    await expectGone(info);
    const next = await exec('query', 'select 1');
    expect(next.code).toBe(0);
    expect(next.stderr).toContain('ended (it was idle for 2s)');
  }, 90_000);
});
