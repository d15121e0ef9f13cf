// Backup and restore over ECS Exec, through the real CLI, against the sandbox's emulated task
// (commands run in a real pty, like the agent runs them): serial and parallel archives hold the same
// objects and restore to equal databases; a session closed with an error or a killed coderdb leaves
// nothing that looks like a backup; a dropped socket is resumed; a forced restore into the live
// database needs its name typed on a terminal and backs it up first.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pty from 'node-pty';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { archiveObjects, createDatabase, setFaults, snapshot, sql } from '../ops/backup/helpers.js';

interface Made {
  file: string;
  manifest: {
    transport: string;
    archive: string;
    sessions: number;
    pgDump: { where: string };
    members?: unknown[];
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('backup and restore over exec', () => {
  let sandbox: TestSandbox;
  let source: string;
  const exec = (...args: string[]) => sandbox.run(['--transport', 'exec', ...args], { timeoutMs: 150_000 });
  const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    source = sandbox.state.databaseUrl;
  });
  afterEach(async () => {
    if (sandbox?.state.awsEndpoint) await setFaults(sandbox.state.awsEndpoint, undefined);
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('serial and --parallel archives hold the same objects and restore to equal databases', async () => {
    const tmpBefore = entries('/tmp').filter((name) => name.startsWith('coderdb-backup-')).length;
    const serial = json<Made>(
      await exec('backup', '--out', join(sandbox.dir, 'serial.dump'), '--format', 'json'),
    );
    expect(serial.manifest).toMatchObject({ transport: 'exec', archive: 'custom', sessions: 1 });
    expect(serial.manifest.pgDump.where).toBe('container');
    const parallel = json<Made>(
      await exec('backup', '--parallel', '3', '--out', join(sandbox.dir, 'parallel.tar'), '--format', 'json'),
    );
    expect(parallel.manifest).toMatchObject({ transport: 'exec', archive: 'directory-tar', sessions: 3 });
    expect(parallel.manifest.members?.length).toBeGreaterThan(10);
    // The container's dump directory was removed.
    expect(entries('/tmp').filter((name) => name.startsWith('coderdb-backup-')).length).toBe(tmpBefore);

    expect(await archiveObjects(parallel.file)).toEqual(await archiveObjects(serial.file));
    for (const file of [serial.file, parallel.file])
      expect((await sandbox.run(['backup', 'verify', file])).code).toBe(0);

    const expected = await snapshot(source);
    for (const [name, file] of [
      ['from_serial', serial.file],
      ['from_parallel', parallel.file],
    ] as const) {
      const target = await createDatabase(source, name);
      const restored = await sandbox.run(['restore', file, '--url', target, '--yes', '--as-superuser'], {
        timeoutMs: 120_000,
      });
      expect(restored.code, restored.stderr).toBe(0);
      expect(await snapshot(target)).toEqual(expected);
    }
  }, 300_000);

  it('a session closed with an error mid-stream leaves no archive, serial or parallel', async () => {
    await setFaults(sandbox.state.awsEndpoint!, { closeWithError: { afterOutputs: 20, text: 'boom' } });
    const out = join(sandbox.dir, 'broken');
    const serial = await exec('backup', '--out', `${out}.dump`);
    expect(serial.code, serial.stderr).toBe(3);
    expect(serial.stderr).toMatch(/ended before the script finished|interrupted/);
    expect(serial.stderr).toContain('boom');
    const parallel = await exec('backup', '--parallel', '2', '--out', `${out}.tar`);
    expect(parallel.code, parallel.stderr).toBe(3);
    expect(
      entries(sandbox.dir).filter((name) => name.startsWith('broken') || name.includes('.partial-')),
    ).toEqual([]);
    expect(entries(sandbox.dir).filter((name) => name.startsWith('.coderdb-'))).toEqual([]);
  }, 180_000);

  it('a dropped WebSocket is resumed and the backup completes intact', async () => {
    await setFaults(sandbox.state.awsEndpoint!, { dropSocketAfterOutputs: 30 });
    const out = join(sandbox.dir, 'resumed.dump');
    const made = await exec('backup', '--out', out);
    expect(made.code, made.stderr).toBe(0);
    expect((await sandbox.run(['backup', 'verify', out])).code).toBe(0);
  }, 120_000);

  it('a coderdb killed mid-stream leaves only a .partial file (SIGKILL) or nothing (Ctrl-C)', async () => {
    // Publication pauses after a few messages, so the process is surely mid-stream when killed.
    await setFaults(sandbox.state.awsEndpoint!, {
      pausePublication: { afterOutputs: 20, durationMs: 30_000 },
    });
    const dir = join(sandbox.dir, 'killed');
    for (const signal of ['SIGKILL', 'SIGINT'] as const) {
      const child = spawn(
        process.execPath,
        [CLI, '--transport', 'exec', 'backup', '--out', join(dir, `${signal}.dump`)],
        {
          env: sandbox.env,
          stdio: 'ignore',
        },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const partial = await waitFor('a partial file with data', () =>
          entries(dir).find(
            (name) => name.includes(`${signal}.dump.partial-`) && statSync(join(dir, name)).size > 0,
          ),
        );
        child.kill(signal);
        const code = await exited;
        const left = entries(dir).filter((name) => name.includes(signal));
        if (signal === 'SIGKILL') {
          expect(left).toEqual([partial]);
          const listed = json<{ file: string; status: string }[]>(
            await sandbox.run(['backup', 'list', '--dir', dir, '--format', 'json']),
          );
          expect(listed).toEqual([
            expect.objectContaining({ file: join(dir, partial), status: 'incomplete' }),
          ]);
        } else {
          expect(code).toBe(130);
          expect(left).toEqual([]);
        }
      } finally {
        child.kill('SIGKILL');
      }
    }
  }, 120_000);

  it('restores into the live database only with --force and the name typed on a terminal, backing it up first', async () => {
    const out = join(sandbox.dir, 'live.dump');
    const made = await exec('backup', '--out', out);
    expect(made.code, made.stderr).toBe(0);
    const original = await snapshot(source);
    await sql(source, "UPDATE templates SET description = 'changed after the backup'");

    const noTerminal = await exec('restore', out, '--force', '--as-superuser');
    expect(noTerminal.code, noTerminal.stderr).toBe(4);
    expect(noTerminal.stderr).toContain('no terminal');

    const terminal = pty.spawn(
      process.execPath,
      [CLI, '--transport', 'exec', 'restore', out, '--force', '--as-superuser'],
      {
        name: 'xterm',
        cols: 200,
        rows: 50,
        cwd: sandbox.dir,
        env: sandbox.env as Record<string, string>,
      },
    );
    let screen = '';
    terminal.onData((data) => {
      screen += data;
    });
    const exited = new Promise<number>((resolve) => terminal.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      await waitFor(
        'the typed confirmation prompt',
        () => (screen.includes('Type the database name') ? true : undefined),
        60_000,
      );
      expect(screen).toContain("Coder's tables");
      terminal.write('coder\r');
      const code = await Promise.race([exited, sleep(120_000).then(() => -1)]);
      expect(code, screen).toBe(0);
    } finally {
      terminal.kill();
    }
    expect(screen).toContain('the previous contents were backed up to');
    expect(await snapshot(source)).toEqual(original);
  }, 240_000);
});
