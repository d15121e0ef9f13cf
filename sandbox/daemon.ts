// The sandbox's life cycle. `serve` runs everything in the foreground (database engine, emulated
// AWS endpoint, agent side of the data channel) and publishes a state file once it is all ready;
// `start` launches `serve` in the background and returns when the state file says ready; `stop`
// ends it. Tests and scripts use start/stop; the state file is the only thing the rest of coderdb
// reads.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoderdbError, usageError } from '../src/core/errors.js';
import { paths } from '../src/core/paths.js';
import { isProcessAlive } from '../src/core/process.js';
import { readSandboxState, type SandboxState } from '../src/core/sandbox-state.js';
import type { RunningDatabase } from './engines/types.js';
import { fixtureSql, LAYOUTS, type Layout } from './fixture/index.js';

export interface SandboxOptions {
  engine?: 'pglite' | 'postgres';
  layout?: Layout;
  scenario?: string;
  /** Demo data scale (1 = a small realistic deployment). */
  scale?: number;
  /** Pace the data channel like the real agent (1 KiB messages, ~1 ms apart). */
  realisticPacing?: boolean;
  /** AgentVersion the emulated agent claims; ≤ 3.0.196.0 makes port sessions basic (no smux). */
  agentVersion?: string;
  /** A private VPC: the database is reachable only through the task (no direct path). */
  private?: boolean;
  /** Fixed ports, for reproducible `sandbox env` output; random free ports by default. */
  dbPort?: number;
  awsPort?: number;
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

/** How long the AWS side may take to close before the database is closed anyway. */
const AWS_CLOSE_MS = 2_000;

/**
 * Runs the sandbox in this process until SIGTERM/SIGINT (or `signal`, the CLI's interruption, which
 * the CLI aborts on those signals). Resolves when everything it started has stopped.
 */
export async function serve(options: SandboxOptions, signal?: AbortSignal): Promise<void> {
  const layout = options.layout ?? 'current';
  if (!LAYOUTS.includes(layout)) throw usageError('sandbox.layout', `unknown layout "${layout}"`);
  const dir = paths.sandboxDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const database = await startDatabase(options, layout);
  let closeAws: (() => Promise<void>) | undefined;
  let awsEndpoint: string | undefined;
  try {
    const aws = await startAwsSide(database, options);
    closeAws = aws.close;
    awsEndpoint = aws.url;
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
  const state: SandboxState = {
    pid: process.pid,
    engine: database.engine,
    databaseUrl: database.url,
    ...(awsEndpoint ? { awsEndpoint } : {}),
    region: 'us-east-1',
    scenario: options.scenario ?? 'healthy',
    startedAt: new Date().toISOString(),
    dir,
    ...(database.serverDir ? { serverDir: database.serverDir } : {}),
    ...(options.private ? { private: true } : {}),
  };
  writeStateFile(state);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Listening here also tells the CLI there is something to end cleanly before it exits.
    signal?.addEventListener('abort', stop, { once: true });
  });
  rmSync(paths.sandboxState(), { force: true });
  // The database (a postmaster and its directory, for the postgres engine) is closed even when the
  // AWS side is slow to close: within the CLI's grace period, nothing is left behind.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closeAws?.().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, AWS_CLOSE_MS);
    }),
  ]);
  clearTimeout(timer);
  await database.close().catch(() => undefined);
}

async function startDatabase(options: SandboxOptions, layout: Layout): Promise<RunningDatabase> {
  const fixture = fixtureSql(layout, { scale: options.scale ?? 1 });
  if (options.engine === 'postgres') {
    const { startPostgresEngine } = await import('./engines/postgres.js');
    return startPostgresEngine({ fixture, ...(options.dbPort ? { port: options.dbPort } : {}) });
  }
  const { startPglite } = await import('./engines/pglite.js');
  return startPglite({
    fixture,
    cacheDir: paths.cacheDir(),
    ...(options.dbPort ? { port: options.dbPort } : {}),
  });
}

async function startAwsSide(database: RunningDatabase, options: SandboxOptions) {
  const { startAwsSide: start } = await import('./aws-side.js');
  return start(database, options);
}

function writeStateFile(state: SandboxState): void {
  const file = paths.sandboxState();
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

export interface StartResult {
  state: SandboxState;
  alreadyRunning: boolean;
}

/** Starts `coderdb sandbox serve` in the background and waits until it is ready. */
export async function start(options: SandboxOptions, cliPath = process.argv[1]!): Promise<StartResult> {
  const running = readSandboxState();
  if (running) return { state: running, alreadyRunning: true };
  const dir = paths.sandboxDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'sandbox.log');
  const log = openSync(logFile, 'w', 0o600);
  const args = [cliPath, 'sandbox', 'serve', ...serveArgs(options)];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  closeSync(log);
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? 1;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      const state = readSandboxState();
      if (state && state.pid === child.pid) return { state, alreadyRunning: false };
      if (exited !== null) {
        throw new CoderdbError(
          'connection',
          'sandbox.failed',
          `the sandbox did not start: ${lastLines(logFile)}`,
          {
            hint: `see ${logFile}`,
          },
        );
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new CoderdbError(
      'connection',
      'sandbox.timeout',
      `the sandbox was not ready within ${START_TIMEOUT_MS / 1000} s`,
      {
        hint: `see ${logFile}`,
      },
    );
  } finally {
    child.unref();
  }
}

function serveArgs(options: SandboxOptions): string[] {
  const args: string[] = [];
  if (options.engine) args.push('--engine', options.engine);
  if (options.layout) args.push('--layout', options.layout);
  if (options.scenario) args.push('--scenario', options.scenario);
  if (options.scale) args.push('--scale', String(options.scale));
  if (options.realisticPacing) args.push('--realistic-pacing');
  if (options.agentVersion) args.push('--agent-version', options.agentVersion);
  if (options.private) args.push('--private');
  if (options.dbPort) args.push('--db-port', String(options.dbPort));
  if (options.awsPort) args.push('--aws-port', String(options.awsPort));
  return args;
}

/** A scenario name (or `a+b+…`) the sandbox knows; a usage error naming the known ones otherwise. */
export async function checkScenario(name: string): Promise<void> {
  const { scenarioNames } = await import('./aws/scenarios.js');
  const known = scenarioNames();
  const unknown = name
    .split('+')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !known.includes(part));
  if (unknown.length > 0) {
    throw usageError('sandbox.scenario', `unknown sandbox scenario "${unknown[0]}"`, {
      hint: `choose one of: ${known.join(', ')} (coderdb sandbox scenarios)`,
    });
  }
}

/** Switches a running sandbox's emulated deployment to another scenario. */
export async function switchScenario(state: SandboxState, scenario: string): Promise<SandboxState> {
  if (!state.awsEndpoint) {
    throw new CoderdbError('connection', 'sandbox.no-aws', 'the running sandbox has no AWS endpoint');
  }
  const response = await fetch(new URL('/_sandbox/scenario', state.awsEndpoint), {
    method: 'POST',
    body: JSON.stringify({ name: scenario }),
    signal: AbortSignal.timeout(10_000),
  });
  const answer = (await response.json()) as { scenario?: string; error?: string };
  if (!response.ok || !answer.scenario) {
    throw new CoderdbError(
      'connection',
      'sandbox.scenario-failed',
      `the sandbox did not switch to scenario ${scenario}: ${answer.error ?? response.status}`,
    );
  }
  const next = { ...state, scenario: answer.scenario };
  writeStateFile(next);
  return next;
}

/** Stops a running sandbox; false when none was running. */
export async function stop(): Promise<boolean> {
  const state = readSandboxState();
  if (!state) {
    // A daemon that died (kill -9, a crash) may have left its postmaster running.
    await removeLeftServer(staleServerDir());
    rmSync(paths.sandboxState(), { force: true });
    return false;
  }
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline && isProcessAlive(state.pid)) await sleep(50);
  if (isProcessAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  // A daemon that had to be killed could not stop its postmaster; do it here.
  await removeLeftServer(state.serverDir);
  rmSync(paths.sandboxState(), { force: true });
  return true;
}

async function removeLeftServer(dir: string | undefined): Promise<void> {
  if (!dir) return;
  const { removeServerDir } = await import('./engines/postgres-server.js');
  await removeServerDir(dir);
}

/** The server directory named by a state file whose daemon is gone. */
function staleServerDir(): string | undefined {
  try {
    const dir = (JSON.parse(readFileSync(paths.sandboxState(), 'utf8')) as Partial<SandboxState>).serverDir;
    // Only one of coderdb's own temporary server directories is ever removed from a state file.
    return typeof dir === 'string' && /\/coderdb-pg-[^/]+$/.test(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function status(): SandboxState | undefined {
  return readSandboxState();
}

function lastLines(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.slice(-3).join(' | ') || 'no output';
  } catch {
    return 'no output';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
