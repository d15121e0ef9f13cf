// Shared by the tunnel end-to-end tests: `coderdb tunnel` as a background process (started, read,
// interrupted like a person would), the real psql, node-postgres, and the sandbox's control routes.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { SandboxState } from '../../src/core/sandbox-state.js';
import { CLI, createHome, type Home } from '../helpers/cli.js';
import { switchScenario } from '../helpers/scenario.js';
import { within } from '../helpers/wait.js';

/** Every read command, for the tunnel suites to compare with direct. */
export const TUNNEL_READS: string[][] = [
  ['tables'],
  ['tables', '--no-views'],
  ['describe', 'templates'],
  ['describe', 'users'],
  ['templates', 'list'],
  ['templates', 'list', '--all'],
  ['templates', 'search', 'coder'],
  ['users', 'list', '--all'],
  ['workspaces', 'list'],
  ['workspaces', 'count'],
  ['db', 'size'],
  [
    'query',
    'select 1::int as i, 9007199254740993::bigint as big, 1.50::numeric as n, true as b, null::text as z, ' +
      "'2024-05-01 12:00:00.123456+00'::timestamptz as ts, '{\"a\":[1,2]}'::jsonb as j, array[1,2] as a, " +
      "'2024-05-01'::date as d, '\\x00ff'::bytea as bin, interval '1 day 2 hours' as iv",
  ],
  ['query', 'select * from users order by id'],
  ['query', 'select g, md5(g::text) from generate_series(1, 20000) g'],
];

export interface RunningTunnel {
  port: number;
  sessionId: string;
  /** The `psql '<url>'` line's URL, exactly as printed. */
  url: string;
  stdout(): string;
  stderr(): string;
  /** SIGINT (Ctrl-C) and the exit status. */
  interrupt(): Promise<number>;
  exited: Promise<number>;
  kill(): void;
}

/** Starts `coderdb tunnel` and waits until it prints where it listens. */
export async function startTunnel(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  timeoutMs = 30_000,
): Promise<RunningTunnel> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CLI, 'tunnel', ...args], {
    env: { ...env, NODE_NO_WARNINGS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : -1)));
  });
  const ready = within(
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/Press Ctrl-C/.test(out) || /^\{.*\}\n/m.test(out)) resolve();
      };
      child.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`coderdb tunnel exited ${code}: ${err}`)));
    }),
    timeoutMs,
    'coderdb tunnel to be ready',
  );
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const json = out.trim().startsWith('{')
    ? (JSON.parse(out.trim().split('\n')[0] as string) as Record<string, unknown>)
    : undefined;
  const port = json ? Number(json.port) : Number(/Listening on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  const sessionId = json ? String(json.sessionId) : (/SSM session (\S+),/.exec(out)?.[1] ?? '');
  const url = json ? String(json.url) : (/psql '([^']+)'/.exec(out)?.[1] ?? '');
  return {
    port,
    sessionId,
    url,
    stdout: () => out,
    stderr: () => err,
    exited,
    async interrupt() {
      child.kill('SIGINT');
      return within(exited, 20_000, 'coderdb tunnel to exit after SIGINT');
    },
    kill: () => child.kill('SIGKILL'),
  };
}

export interface PsqlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** The real psql binary, unaligned tuples-only output. */
export function psql(url: string, sql: string, timeoutMs = 60_000): Promise<PsqlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '15', PGPASSWORD: '' },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`psql did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** One node-postgres query on a fresh connection. */
export async function pgQuery(connectionString: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 15_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export const md5 = (bytes: Buffer | string) => createHash('md5').update(bytes).digest('hex');

/** About 5 MB of rows, each different. */
export const FIVE_MB_SQL =
  'select g, md5(g::text), repeat(chr(65 + g % 26), 100) from generate_series(1, 37000) g order by g';

/** The sandbox's fault and state control (`/_sandbox/*`). */
export function control(state: SandboxState) {
  const base = state.awsEndpoint as string;
  return {
    async setFaults(plan: Record<string, unknown>, sessionId?: string): Promise<void> {
      const query = sessionId ? `?session=${encodeURIComponent(sessionId)}` : '';
      const response = await fetch(`${base}/_sandbox/faults${query}`, {
        method: 'POST',
        body: JSON.stringify(plan),
      });
      if (response.status !== 204) throw new Error(`faults: ${response.status}`);
    },
    async clearFaults(): Promise<void> {
      await fetch(`${base}/_sandbox/faults`, { method: 'DELETE' });
    },
    async session(sessionId: string): Promise<{
      fired: Record<string, number>;
      stats: { connections: number; flagsReceived: number[]; closedWith?: string } | null;
    }> {
      const response = await fetch(`${base}/_sandbox/faults?session=${encodeURIComponent(sessionId)}`);
      return (await response.json()) as never;
    },
    scenario: (name: string): Promise<void> => switchScenario(base, name),
  };
}

/**
 * A home whose default profile is an AWS profile pointing at the sandbox endpoint with no URL, as
 * an operator's would be: the database URL comes from the secret and the transport is the default.
 */
export function awsProfileHome(
  state: SandboxState,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Home {
  const home = createHome({
    CODERDB_AWS_ENDPOINT: state.awsEndpoint,
    CODERDB_REGION: state.region,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: state.region,
    NODE_NO_WARNINGS: '1',
  });
  return home;
}
