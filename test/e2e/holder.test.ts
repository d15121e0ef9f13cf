// Warm sessions (coderdb connect) against the sandbox, as an operator uses them: the holder is a
// real detached process with real Unix sockets; commands run the built CLI. Each holder is ended by
// the test (disconnect, or the reason under test) and checked gone: process, sockets, SSM session.

import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/core/process.js';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import type { HolderInfo } from '../../src/holder/protocol.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { until } from '../helpers/wait.js';
import { awsProfileHome, control } from './tunnel-helpers.js';

interface AuditLine {
  transport: string;
  command: string;
  outcome: string;
  target?: string;
  identity?: string;
}

describe('coderdb connect: warm sessions', () => {
  let sandbox: TestSandbox;
  let runtime: string;
  const started = new Set<number>();
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    sandbox.run(args, { timeoutMs: 120_000, env: { XDG_RUNTIME_DIR: runtime, ...env } });
  const tunnel = (...args: string[]) => run(['--transport', 'tunnel', ...args]);
  const holderDir = () => join(runtime, 'coderdb');

  async function connect(...args: string[]): Promise<HolderInfo> {
    const result = await run(['--transport', 'tunnel', 'connect', '-o', 'json', ...args], {
      CODERDB_HOLDER_POLL_MS: '300',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout) as HolderInfo;
    started.add(info.pid);
    return info;
  }

  /** The holder's process is gone, its sockets are removed and its SSM session ended with the flag. */
  async function expectGone(info: HolderInfo): Promise<void> {
    await until(() => !isProcessAlive(info.pid), 30_000, `holder ${info.pid} to exit`);
    started.delete(info.pid);
    expect(readdirSync(holderDir()).filter((name) => !name.endsWith('.ended'))).toEqual([]);
    const session = await control(sandbox.state).session(info.sessionId);
    expect(session.stats?.flagsReceived).toContain(2);
  }

  const audit = async (): Promise<AuditLine[]> =>
    readFileSync(join(sandbox.dir, 'state', 'coderdb', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditLine);

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
    runtime = join(sandbox.dir, 'run');
  });
  afterAll(async () => {
    if (sandbox) await run(['disconnect', '--all']).catch(() => undefined);
    for (const pid of started) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    await sandbox?.stop();
  });

  it('connect → commands reuse it (audit and -v say so) → status lists it → disconnect ends it', async () => {
    const info = await connect('--for', '10m');
    expect(info).toMatchObject({ profile: 'sandbox', transport: 'tunnel', served: 0, active: 0 });
    expect(statSync(holderDir()).mode & 0o777).toBe(0o700);

    const sql = 'select g, md5(g::text), null::text as z from generate_series(1, 3000) g';
    const reused = await tunnel('-v', 'query', sql);
    const cold = await tunnel('--no-reuse', 'query', sql);
    expect(reused.code).toBe(0);
    expect(reused.stdout).toBe(cold.stdout);
    expect(reused.stderr).toContain(`via tunnel (reused) `);
    expect(reused.stderr).toContain(`warm session, pid ${info.pid}`);
    const lines = (await audit()).filter((line) => line.command === 'query' && line.outcome === 'ok');
    expect(lines.map((line) => line.transport)).toEqual(['tunnel (reused)', 'tunnel']);
    // The reused command made no AWS call, and its line still names the caller the cold one found.
    expect(lines[0]?.identity).toMatch(/^arn:aws:/);
    expect(lines[0]?.identity).toBe(lines[1]?.identity);

    // A write goes through it as well, planned and applied with its audit naming the warm session.
    const write = await tunnel(
      'templates',
      'set-description',
      'docker',
      'warm',
      '--org',
      'coder',
      '--yes',
      '--reason',
      'warm',
    );
    expect(write.code).toBe(0);
    expect((await audit()).filter((line) => line.outcome === 'committed').at(-1)?.transport).toBe(
      'tunnel (reused)',
    );

    const status = await run(['connect', '--status', '-o', 'json']);
    const [listed, ...others] = JSON.parse(status.stdout) as HolderInfo[];
    expect(others).toEqual([]);
    expect(listed).toMatchObject({ pid: info.pid, task: info.task, sessionId: info.sessionId, active: 0 });
    expect(listed?.served).toBeGreaterThanOrEqual(2);
    const table = await run(['connect', '--status']);
    expect(table.stdout.split('\n')[0]).toMatch(/^profile +transport +task +age +idle +served +pid$/);
    expect(table.stdout).toContain(info.task);

    const again = await run(['--transport', 'tunnel', 'connect', '-o', 'json']);
    expect((JSON.parse(again.stdout) as HolderInfo).pid).toBe(info.pid);

    const ended = await run(['disconnect']);
    expect(ended).toMatchObject({ code: 0, stderr: expect.stringContaining('disconnected profile sandbox') });
    await expectGone(info);
    const after = await tunnel('query', 'select 1');
    expect(after.code).toBe(0);
    expect(after.stderr).toBe('');
    expect((await audit()).at(-1)?.transport).toBe('tunnel');
  });

  it('ends when its task is replaced, and the next command says so and works fresh', async () => {
    const info = await connect();
    const endpoint = control(sandbox.state);
    await endpoint.scenario('no-running-task');
    try {
      await until(() => !isProcessAlive(info.pid), 30_000, 'the holder to notice its task stopped');
    } finally {
      await endpoint.scenario('healthy');
    }
    await expectGone(info);
    const next = await tunnel('query', 'select 1 as one');
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(
      new RegExp(
        `the warm session for profile sandbox ended \\(its task ${info.task} is stop(ped|ping).*\\); opening a fresh session\\n`,
      ),
    );
    expect((await audit()).at(-1)?.transport).toBe('tunnel');
    // Said once.
    expect((await tunnel('query', 'select 1')).stderr).toBe('');
  });

  it('ends when idle for its limit', async () => {
    const info = await connect('--idle', '2s');
    await expectGone(info);
    const next = await tunnel('query', 'select 1');
    expect(next.stderr).toContain('ended (it was idle for 2s)');
  });

  it("refuses a holder directory others may enter, and a socket that is not the user's", async () => {
    const info = await connect();
    try {
      chmodSync(holderDir(), 0o755);
      const refused = await tunnel('query', 'select 1');
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('has mode 0755; others may enter it');
      const noStart = await run(['--transport', 'tunnel', 'connect']);
      expect(noStart.code).toBe(4);
      chmodSync(holderDir(), 0o700);

      const socket = join(
        holderDir(),
        readdirSync(holderDir()).find((name) => name.endsWith('.ctl')) as string,
      );
      if (process.getuid?.() === 0) {
        chownSync(socket, 65534, 65534);
        const foreign = await tunnel('query', 'select 1');
        expect(foreign.code).toBe(4);
        expect(foreign.stderr).toContain('belongs to uid 65534');
        chownSync(socket, 0, 0);
      }
    } finally {
      chmodSync(holderDir(), 0o700);
    }
    expect((await run(['disconnect'])).code).toBe(0);
    await expectGone(info);
    expect(existsSync(holderDir())).toBe(true);
  });

  it('serves an AWS profile (no URL, the default transport) without any flag', async () => {
    const operator = awsProfileHome(sandbox.state, SANDBOX_CREDENTIALS);
    const env = { XDG_RUNTIME_DIR: join(operator.dir, 'run') };
    try {
      const connected = await operator.cli(['connect', '-o', 'json'], { env, timeoutMs: 120_000 });
      expect(connected.stderr).toBe('');
      const info = JSON.parse(connected.stdout) as HolderInfo;
      started.add(info.pid);
      const sql = 'select count(*)::int as users from users';
      const reused = await operator.cli(['query', sql, '-o', 'json'], { env });
      const direct = await tunnel('--transport', 'direct', 'query', sql, '-o', 'json');
      expect(reused).toMatchObject({ code: 0, stderr: '', stdout: direct.stdout });
      const lines = readFileSync(join(operator.dir, 'state', 'coderdb', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n');
      expect((JSON.parse(lines.at(-1) as string) as AuditLine).transport).toBe('tunnel (reused)');
      expect((await operator.cli(['disconnect', '--all'], { env })).code).toBe(0);
      await until(() => !isProcessAlive(info.pid), 30_000, 'the holder to exit');
      started.delete(info.pid);
    } finally {
      operator.remove();
    }
  });

  it('ends when its AWS credentials expire, saying so', async () => {
    const operator = awsProfileHome(sandbox.state, SANDBOX_CREDENTIALS);
    const expires = new Date(Date.now() + 15_000).toISOString();
    const env = { XDG_RUNTIME_DIR: join(operator.dir, 'run'), AWS_CREDENTIAL_EXPIRATION: expires };
    try {
      const connected = await operator.cli(['connect', '-o', 'json'], { env, timeoutMs: 120_000 });
      expect(connected.stderr).toBe('');
      const info = JSON.parse(connected.stdout) as HolderInfo;
      started.add(info.pid);
      await until(() => !isProcessAlive(info.pid), 60_000, 'the holder to end with its credentials');
      started.delete(info.pid);
      const next = await operator.cli(['query', 'select 1'], {
        env: { XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR },
      });
      expect(next.code).toBe(0);
      expect(next.stderr).toContain(`ended (its AWS credentials expired at ${expires})`);
      expect((await control(sandbox.state).session(info.sessionId)).stats?.flagsReceived).toContain(2);
    } finally {
      operator.remove();
    }
  });

  // Warm exec sessions: test/e2e/holder-exec.test.ts.
  it('says that a profile with a URL has nothing to hold', async () => {
    const direct = await run(['connect']);
    expect(direct).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('reaches the database directly'),
    });
  });
});
