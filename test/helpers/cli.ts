// Runs the built CLI (dist/cli.js) as a user would, in an isolated home: its own config, state and
// data directories, and a shared cache so that the PGlite template is built once per machine.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const CLI = join(REPO, 'dist', 'cli.js');
/** Shared by all test files: the PGlite template cluster is expensive to build. */
export const CACHE_DIR = join(tmpdir(), 'coderdb-test-cache');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Home {
  dir: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], options?: RunOptions): Promise<CliResult>;
  remove(): void;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A fresh home for coderdb: XDG directories under a temp dir, no AWS configuration. */
export function createHome(extraEnv: NodeJS.ProcessEnv = {}): Home {
  const dir = mkdtempSync(join(tmpdir(), 'coderdb-home-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: CACHE_DIR,
    AWS_CONFIG_FILE: join(dir, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extraEnv,
  };
  return {
    dir,
    env,
    cli: (args, options = {}) => runCli(args, { ...options, env: { ...env, ...options.env } }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`coderdb ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Parses JSON output, failing with the CLI's stderr when it is not JSON. */
export function json<T = unknown>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
