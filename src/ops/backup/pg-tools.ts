// The PostgreSQL client programs on this machine: finding a pg_dump / pg_restore new enough for the
// server or archive at hand (PATH first, then the versioned directories distributions install side
// by side), and running them with the connection in the environment: PGPASSWORD goes to the child
// only, never onto a command line that `ps` or an error message could show.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { CoderdbError, usageError } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';
import type { PgTarget } from '../../transport/pg-url.js';
import { installHint, type Platform, parseToolVersion, platformOf, type ToolVersion } from './versions.js';

const execFileAsync = promisify(execFile);
const VERSION_TIMEOUT_MS = 10_000;
const STDERR_LIMIT = 64 * 1024;

export type PgToolName = 'pg_dump' | 'pg_restore';

export interface PgTool {
  name: PgToolName;
  path: string;
  version: ToolVersion;
}

/** The package family of this machine, for install hints. */
export function localPlatform(): Platform {
  if (process.platform === 'darwin') return 'macos';
  try {
    const id = /^ID=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    return platformOf(id?.replace(/"/g, ''));
  } catch {
    return 'unknown';
  }
}

/** Where distributions put side-by-side major versions: Debian, PGDG RPMs, Homebrew, Postgres.app. */
const VERSIONED_DIRS: [string, RegExp][] = [
  ['/usr/lib/postgresql', /^\d+$/],
  ['/usr', /^pgsql-\d+$/],
  ['/opt/homebrew/opt', /^(postgresql@\d+|libpq)$/],
  ['/usr/local/opt', /^(postgresql@\d+|libpq)$/],
  ['/Applications/Postgres.app/Contents/Versions', /^\d/],
];

/** Every place a client program of this name may live, PATH first. */
function candidatePaths(name: PgToolName): string[] {
  const found: string[] = [];
  const add = (dir: string) => {
    const path = join(dir, name);
    if (existsSync(path) && !found.includes(path)) found.push(path);
  };
  if (process.env.CODERDB_PG_BIN) add(process.env.CODERDB_PG_BIN);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) add(dir);
  for (const [parent, pattern] of VERSIONED_DIRS) {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries) if (pattern.test(entry)) add(join(parent, entry, 'bin'));
  }
  return found;
}

async function versionOf(path: string): Promise<ToolVersion | undefined> {
  try {
    const { stdout } = await execFileAsync(path, ['--version'], {
      timeout: VERSION_TIMEOUT_MS,
      env: { ...process.env, LC_ALL: 'C' },
    });
    return parseToolVersion(stdout);
  } catch {
    return undefined;
  }
}

/**
 * A local pg_dump / pg_restore of at least `minMajor`: the one on PATH when it is new enough, else
 * the oldest installed one that is (closest to the server), else a clear error naming the package.
 */
export async function findPgTool(name: PgToolName, minMajor?: number): Promise<PgTool> {
  const paths = candidatePaths(name);
  const platform = localPlatform();
  // The first one found (PATH) usually fits; asking each for its version costs a process start
  // (and on Debian /usr/bin/pg_dump is a Perl wrapper), so the rest are only asked when needed.
  const first = paths[0] ? await toolAt(name, paths[0]) : undefined;
  if (first && (minMajor === undefined || first.version.major >= minMajor)) return first;
  const others = (await Promise.all(paths.slice(1).map((path) => toolAt(name, path)))).filter(
    (tool): tool is PgTool => tool !== undefined,
  );
  const tools = first ? [first, ...others] : others;
  if (tools.length === 0) {
    throw usageError(`backup.no-${name.replace('_', '-')}`, `${name} is not installed on this machine`, {
      hint: `${installHint(minMajor ?? 16, platform)}; or use --transport exec to run it inside the task`,
    });
  }
  if (minMajor === undefined) return tools[0]!;
  const fitting = tools
    .filter((tool) => tool.version.major >= minMajor)
    .sort((a, b) => a.version.major - b.version.major);
  if (fitting[0]) return fitting[0];
  const newest = [...tools].sort((a, b) => b.version.major - a.version.major)[0]!;
  throw usageError(
    'backup.version-mismatch',
    `${name} ${minMajor} or newer is needed; the newest on this machine is ${newest.version.version} (${newest.path})`,
    { hint: `${installHint(minMajor, platform)}; or use --transport exec to run it inside the task` },
  );
}

async function toolAt(name: PgToolName, path: string): Promise<PgTool | undefined> {
  const version = await versionOf(path);
  return version ? { name, path, version } : undefined;
}

/** The child's environment: the connection as PG* variables, nothing inherited that could redirect it. */
export function pgEnv(target: PgTarget, applicationName: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  env.LC_ALL = 'C';
  env.PGHOST = target.host;
  env.PGPORT = String(target.port);
  env.PGDATABASE = target.database;
  env.PGUSER = target.user;
  env.PGSSLMODE = target.sslmode;
  env.PGAPPNAME = applicationName;
  if (target.password) env.PGPASSWORD = target.password.reveal();
  if (target.sslrootcert) env.PGSSLROOTCERT = target.sslrootcert;
  const mapped: Record<string, string> = {
    connect_timeout: 'PGCONNECT_TIMEOUT',
    sslcert: 'PGSSLCERT',
    sslkey: 'PGSSLKEY',
    options: 'PGOPTIONS',
    target_session_attrs: 'PGTARGETSESSIONATTRS',
  };
  for (const [param, variable] of Object.entries(mapped)) {
    const value = target.params[param];
    if (value !== undefined) env[variable] = value;
  }
  env.PGCONNECT_TIMEOUT ??= '10';
  return env;
}

/** A libpq conninfo naming only the database (pg_restore needs -d); the rest comes from pgEnv. */
export function dbnameArg(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface ToolRun {
  child: ChildProcess;
  /** Resolves when the program exits; rejects only if it could not be started. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts a client program; stderr is kept (the last 64 KiB) for the error message. */
export function runPgTool(
  tool: PgTool,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { stdout: 'pipe' | 'ignore'; timeoutMs: number },
): ToolRun {
  const child = spawn(tool.path, args, { env, stdio: ['ignore', options.stdout, 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_LIMIT);
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve, reject) => {
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new CoderdbError('usage', 'backup.tool-failed', `could not run ${tool.path}: ${error.message}`),
        );
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stderr });
      });
    },
  );
  return { child, exited };
}

/** pg_dump/pg_restore's own lines worth showing: errors, details, hints; scrubbed. */
export function toolErrors(stderr: string, name: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .filter(
      (line) =>
        !/^\S+: (dumping|finished|processing|creating|reading|saving|launching|executing|connecting)/.test(
          line,
        ),
    );
  const interesting = lines.filter((line) => /(error|detail|hint|warning|fatal)/i.test(line));
  const chosen = (interesting.length ? interesting : lines).slice(-8).join('\n');
  return scrub(chosen || `${name} failed without a message`);
}
