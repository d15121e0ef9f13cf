// A throwaway PostgreSQL server (the sandbox's postgres engine, and tests): initdb into a temporary directory, a postmaster on a free
// loopback port with trust authentication, and a stop() that always removes everything again. It uses
// a local installation (Debian's /usr/lib/postgresql/<major>/bin). PostgreSQL refuses to run as root,
// so when the tests run as root (containers, CI) the directory is handed to the `postgres` OS user and
// initdb and the postmaster run through `runuser -u postgres --`.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isProcessAlive } from '../../src/core/process.js';

const execFileAsync = promisify(execFile);

export interface PgServer {
  readonly host: string;
  readonly port: number;
  /** The superuser initdb created; trust authentication, so no password. */
  readonly user: string;
  readonly dir: string;
  /** A postgres:// URL for a database on this server (`postgres` by default). */
  url(database?: string): string;
  /** Stops the server (fast shutdown, then harder) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Directory holding initdb and postgres; by default /usr/lib/postgresql/<major>/bin. */
  binDir?: string;
  /** Major version to look for when binDir is not given; 15 by default. */
  major?: number;
  /** Bound for initdb plus start-up. */
  timeoutMs?: number;
  /** A fixed loopback port; a free one by default. */
  port?: number;
}

const OS_USER = 'postgres';
const DB_USER = 'postgres';
const HOST = '127.0.0.1';

/** The bin directory of an installed PostgreSQL of that major version, if there is one. */
export function findPostgresBinDir(major = 15): string | undefined {
  const dir = `/usr/lib/postgresql/${major}/bin`;
  return existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')) ? dir : undefined;
}

const asRoot = (): boolean => process.getuid?.() === 0;

/** Runs a server binary as the postgres OS user when we are root, as ourselves otherwise. */
function command(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? [runuser(), ['-u', OS_USER, '--', bin, ...args]] : [bin, args];
}

/** runuser lives in sbin, which a user's PATH (and npm's) often leaves out. */
function runuser(): string {
  return (
    ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((path) => existsSync(path)) ?? 'runuser'
  );
}

async function osUserIds(name: string): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    execFileAsync('id', ['-u', name]),
    execFileAsync('id', ['-g', name]),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a fresh server; throws (after cleaning up) if it is not accepting connections in time. */
export async function startPostgres(options: StartOptions = {}): Promise<PgServer> {
  const binDir = options.binDir ?? findPostgresBinDir(options.major);
  if (!binDir) throw new Error(`no PostgreSQL ${options.major ?? 15} installation found`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;

  const dir = await mkdtemp(join(tmpdir(), 'coderdb-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  try {
    await mkdir(dataDir, { mode: 0o700 });
    if (asRoot()) {
      const { uid, gid } = await osUserIds(OS_USER);
      await chown(dir, uid, gid);
      await chown(dataDir, uid, gid);
    }
    const initArgs = ['-D', dataDir, '-U', DB_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'];
    const [initdb, initdbArgs] = command(join(binDir, 'initdb'), initArgs);
    await execFileAsync(initdb, initdbArgs, { timeout: Math.max(1_000, deadline - Date.now()) });

    // The port is free when we ask but may be taken before the postmaster binds it; then try another.
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      const child = await launch(binDir, dataDir, dir, port, logFile, deadline);
      if (child) return server(dir, port, child);
      const log = await tail(logFile);
      if (
        options.port ||
        attempt >= 3 ||
        !/could not bind|Address already in use/i.test(log) ||
        Date.now() > deadline
      ) {
        throw new Error(`PostgreSQL did not start within ${timeoutMs} ms:\n${log}`);
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Spawns the postmaster and waits until it accepts connections; undefined if it exits first. */
async function launch(
  binDir: string,
  dataDir: string,
  socketDir: string,
  port: number,
  logFile: string,
  deadline: number,
): Promise<ChildProcess | undefined> {
  // Durability buys nothing in a throwaway cluster; turning it off makes loading data much faster.
  const settings = {
    listen_addresses: HOST,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
  };
  const flags = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const postgresArgs = ['-D', dataDir, '-p', String(port), '-k', socketDir, ...flags];
  const [bin, args] = command(join(binDir, 'postgres'), postgresArgs);
  const log = await open(logFile, 'a');
  try {
    const child = spawn(bin, args, { stdio: ['ignore', log.fd, log.fd] });
    let spawnFailed = false;
    child.on('error', () => {
      spawnFailed = true;
    });
    while (Date.now() < deadline) {
      if (spawnFailed || child.exitCode !== null || child.signalCode !== null) return undefined;
      const client = new pg.Client({
        host: HOST,
        port,
        user: DB_USER,
        database: 'postgres',
        connectionTimeoutMillis: 1_000,
      });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return child;
      } catch {
        await sleep(100);
      } finally {
        await client.end().catch(() => {});
      }
    }
    await terminate(child, dataDir);
    return undefined;
  } finally {
    await log.close();
  }
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Fast shutdown (SIGINT to the postmaster itself, which runuser would not forward as such), then
 * immediate shutdown, then SIGKILL; each step waits a bounded time for the process to exit.
 */
async function terminate(child: ChildProcess, dataDir: string): Promise<void> {
  const pid = (await postmasterPid(dataDir)) ?? child.pid;
  signal(pid, 'SIGINT');
  if (await waitForExit(child, 10_000)) return;
  signal(pid, 'SIGQUIT');
  if (await waitForExit(child, 5_000)) return;
  signal(pid, 'SIGKILL');
  signal(child.pid, 'SIGKILL');
  await waitForExit(child, 5_000);
}

/**
 * Removes a server directory whose owner is gone (a sandbox daemon that was killed): its postmaster
 * is stopped first, by the pid in its postmaster.pid, each step bounded.
 */
export async function removeServerDir(dir: string): Promise<void> {
  const pid = await postmasterPid(join(dir, 'data'));
  if (pid !== undefined && isProcessAlive(pid)) {
    for (const [sig, waitMs] of [
      ['SIGINT', 5_000],
      ['SIGQUIT', 3_000],
      ['SIGKILL', 2_000],
    ] as const) {
      signal(pid, sig);
      const deadline = Date.now() + waitMs;
      while (isProcessAlive(pid) && Date.now() < deadline) await sleep(50);
      if (!isProcessAlive(pid)) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
}

function server(dir: string, port: number, child: ChildProcess): PgServer {
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    user: DB_USER,
    dir,
    url: (database = 'postgres') => `postgres://${DB_USER}@${HOST}:${port}/${database}`,
    stop() {
      stopping ??= (async () => {
        try {
          await terminate(child, join(dir, 'data'));
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}
