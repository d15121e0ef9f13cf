// No URL or password in the argv of any process in the container: psql and pg_dump are started with
// the connection in PG* variables. The sandbox's agent runs the container's commands on this
// machine, so while a query and a backup run over exec, /proc/PID/cmdline of every process is read
// and checked.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

function parentOf(pid: string): string | undefined {
  try {
    // The field after the parenthesised command name is the state, then the parent's pid.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  } catch {
    return undefined;
  }
}

/** Whether `pid` descends from `ancestor` (the sandbox daemon, whose agent runs the container). */
function descendsFrom(pid: string, ancestor: string): boolean {
  let current: string | undefined = pid;
  for (let depth = 0; current && current !== '0' && depth < 64; depth++) {
    if (current === ancestor) return true;
    current = parentOf(current);
  }
  return false;
}

/** The command lines of the sandbox's processes now running whose program is one of `names`. */
function commandLines(names: string[], daemon: string): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // gone meanwhile
    }
    // Other test runs on this machine have their own psql processes.
    if (!descendsFrom(pid, daemon)) continue;
    const program = argv[0]?.split('/').pop() ?? '';
    if (names.includes(program)) lines.push(argv.join(' '));
  }
  return lines;
}

/** Runs coderdb while sampling the command lines of `names` until it exits (bounded). */
async function sampleWhile(sandbox: TestSandbox, args: string[], names: string[]) {
  const child = spawn(process.execPath, [CLI, '--transport', 'exec', ...args], {
    env: sandbox.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const seen = new Set<string>();
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const deadline = Date.now() + 120_000;
  while (!done && Date.now() < deadline) {
    for (const line of commandLines(names, String(sandbox.state.pid))) seen.add(line);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!done) child.kill('SIGKILL');
  return { code: await exited, stderr, seen: [...seen] };
}

describe('argv in the container', () => {
  let sandbox: TestSandbox;
  let url: URL;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    url = new URL(sandbox.state.databaseUrl);
  }, 240_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  const expectClean = (lines: string[]) => {
    for (const line of lines) {
      expect(line).not.toContain('://');
      if (url.password) expect(line).not.toContain(decodeURIComponent(url.password));
      expect(line).not.toContain(url.host);
    }
  };

  it('psql of a query over exec has no URL in its argv', async () => {
    const result = await sampleWhile(sandbox, ['query', 'select pg_sleep(2)'], ['psql']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.seen.length).toBeGreaterThan(0);
    expectClean(result.seen);
  });

  it('pg_dump and psql of a backup over exec have no URL in their argv', async () => {
    const out = join(sandbox.dir, 'argv.dump');
    const result = await sampleWhile(sandbox, ['backup', '--out', out], ['pg_dump', 'psql']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.seen.some((line) => line.startsWith('pg_dump') || line.includes('/pg_dump'))).toBe(true);
    expectClean(result.seen);
  });
});
