// coderdb console against psql, both driven in a real pseudo-terminal (node-pty) as an operator
// types, in one run against one sandbox (Debian PostgreSQL engine, the data channel paced like the
// real agent with --realistic-pacing; pacing does not touch the direct transport):
// - the round trip of `select 1;` in an open console (Enter to the next prompt) vs psql's own round
//   trip over the same path: local psql on the URL (direct), psql in the container through
//   `coderdb psql` (exec), local psql through `coderdb tunnel` (tunnel); goal over direct ≤ 1.5×;
// - the time from starting `coderdb console` to its first prompt vs `coderdb psql` to psql's.
// Prints ratios of medians (console ÷ baseline: above 1 is slower).
//
// Needs dist/ (npm run build), Debian's PostgreSQL 15 (server and psql).

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { TerminalUnderTest } from '../test/helpers/terminal.js';
import { CLI, cli, isolatedHome, median, ms, ratio, tableRow } from './lib.js';

const home = isolatedHome('console');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
const env = { ...process.env, NO_COLOR: '1', PAGER: 'cat', PSQL_PAGER: 'cat', TERM: 'xterm' };

/** The local URL `coderdb tunnel` prints (without the password). */
const URL_PATTERN = /postgres(?:ql)?:\/\/[^\s'"]+/;
const CONSOLE_PROMPT = /\((?:direct|exec|tunnel), read-only\)=> /;
const PSQL_PROMPT = /=[#>] /;
const RESULT = /\?column\?\s*\r\n-+\r\n\s+1\s*\r\n\(1 row\)/;

/** Median ms from Enter after `select 1;` to the next prompt, in an open terminal. */
async function roundTrip(terminal: TerminalUnderTest, prompt: RegExp): Promise<number> {
  const times: number[] = [];
  // One unmeasured round trip: catalogs, caches and the parser warm up.
  terminal.write('select 1;\r');
  await terminal.expect(prompt, 60_000);
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    terminal.write('select 1;\r');
    // The result itself, as psql prints it, before the time counts.
    await terminal.expect(RESULT, 60_000);
    await terminal.expect(prompt, 60_000);
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Starts a program in a terminal and waits for its first prompt; returns it and the time taken. */
async function started(file: string, args: string[], prompt: RegExp) {
  const start = performance.now();
  const terminal = new TerminalUnderTest(file, args, env, { cols: 160, rows: 50 });
  await terminal.expect(prompt, 120_000);
  return { terminal, ms: performance.now() - start };
}

async function quit(terminal: TerminalUnderTest): Promise<void> {
  terminal.write('\\q\r');
  await terminal.exit(30_000).catch(() => terminal.kill());
}

/** Median time to the first prompt over STARTS starts. */
async function startTime(file: string, args: string[], prompt: RegExp): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const run = await started(file, args, prompt);
    times.push(run.ms);
    await quit(run.terminal);
  }
  return median(times);
}

const consoleArgs = (transport: string) => [CLI, '--transport', transport, 'console'];

const startedSandbox = cli(['sandbox', 'start', '--engine', 'postgres', '--realistic-pacing']);
if (startedSandbox.code !== 0) throw new Error(`sandbox start failed: ${startedSandbox.stderr}`);
const state = JSON.parse(cli(['sandbox', 'status', '--format', 'json']).stdout) as { databaseUrl: string };
const rows: string[] = [];
try {
  // direct: the console vs local psql on the same URL.
  {
    const ours = await started(process.execPath, consoleArgs('direct'), CONSOLE_PROMPT);
    const theirs = await started('psql', ['-X', state.databaseUrl], PSQL_PROMPT);
    const a = await roundTrip(ours.terminal, CONSOLE_PROMPT);
    const b = await roundTrip(theirs.terminal, PSQL_PROMPT);
    rows.push(
      tableRow([
        'direct: `select 1;` round trip, open session',
        ms(a, 2),
        `${ms(b, 2)} (psql)`,
        `**${ratio(a, b)}**`,
      ]),
    );
    await quit(ours.terminal);
    await quit(theirs.terminal);
  }
  // exec: the console vs psql in the container over the same ECS Exec path.
  {
    const ours = await started(process.execPath, consoleArgs('exec'), CONSOLE_PROMPT);
    const theirs = await started(process.execPath, [CLI, 'psql'], PSQL_PROMPT);
    const a = await roundTrip(ours.terminal, CONSOLE_PROMPT);
    const b = await roundTrip(theirs.terminal, PSQL_PROMPT);
    rows.push(
      tableRow([
        'exec: `select 1;` round trip, open session',
        ms(a),
        `${ms(b)} (coderdb psql)`,
        `**${ratio(a, b)}**`,
      ]),
    );
    await quit(ours.terminal);
    await quit(theirs.terminal);
  }
  // tunnel: the console vs local psql through `coderdb tunnel`.
  {
    const tunnel = spawn(process.execPath, [CLI, 'tunnel', '--local-port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = '';
    tunnel.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    tunnel.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const deadline = Date.now() + 60_000;
    while (!URL_PATTERN.test(printed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const local = URL_PATTERN.exec(printed)?.[0];
    const password = new URL(state.databaseUrl).password;
    try {
      if (!local) throw new Error(`coderdb tunnel printed no URL: ${printed}`);
      const ours = await started(process.execPath, consoleArgs('tunnel'), CONSOLE_PROMPT);
      // The printed URL has no password; psql takes it from PGPASSWORD, as the tunnel suggests.
      const theirs = await started(
        'sh',
        ['-c', `PGPASSWORD='${password}' exec psql -X '${local}'`],
        PSQL_PROMPT,
      );
      const a = await roundTrip(ours.terminal, CONSOLE_PROMPT);
      const b = await roundTrip(theirs.terminal, PSQL_PROMPT);
      rows.push(
        tableRow([
          'tunnel: `select 1;` round trip, open session',
          ms(a),
          `${ms(b)} (psql via coderdb tunnel)`,
          `**${ratio(a, b)}**`,
        ]),
      );
      await quit(ours.terminal);
      await quit(theirs.terminal);
    } finally {
      tunnel.kill('SIGINT');
    }
  }
  // Time to the first prompt, each transport, against `coderdb psql`.
  const psqlStart = await startTime(process.execPath, [CLI, 'psql'], PSQL_PROMPT);
  for (const transport of ['direct', 'exec', 'tunnel']) {
    const start = await startTime(process.execPath, consoleArgs(transport), CONSOLE_PROMPT);
    rows.push(
      tableRow([
        `${transport}: start to first prompt`,
        ms(start),
        `${ms(psqlStart)} (coderdb psql)`,
        `**${ratio(start, psqlStart)}**`,
      ]),
    );
  }
} finally {
  cli(['sandbox', 'stop']);
  rmSync(home, { recursive: true, force: true });
}

process.stdout.write(
  `${[
    `Console vs psql, ${RUNS} round trips and ${STARTS} starts each, medians; sandbox with --realistic-pacing:`,
    '',
    tableRow(['Measurement', 'console', 'baseline', 'time ratio']),
    tableRow(['---', '---:', '---:', '---:']),
    ...rows,
  ].join('\n')}\n`,
);
