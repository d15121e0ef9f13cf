// What the benchmark scripts share: the built CLI and an isolated coderdb home to run it in, wall
// times and their medians, and how figures are printed. It imports nothing of coderdb itself, so a
// script can set its home up before the first coderdb module reads the environment.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');
if (!existsSync(CLI)) throw new Error('run `npm run build` first');

/**
 * A fresh coderdb home (XDG directories under a temp dir) with the sandbox profile selected, set in
 * this process's environment, which `cli` passes on. Call it before importing any coderdb module;
 * returns the directory, for the script to remove.
 */
export function isolatedHome(name: string): string {
  const home = mkdtempSync(join(tmpdir(), `coderdb-bench-${name}-`));
  Object.assign(process.env, {
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_STATE_HOME: join(home, 'state'),
    XDG_DATA_HOME: join(home, 'data'),
    CODERDB_PROFILE: 'sandbox',
    NODE_NO_WARNINGS: '1',
    // The SDK warns about Node 20 from this process too when a script loads the sandbox in-process.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return home;
}

/** Runs the built CLI to completion with this process's environment. */
export function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: process.env });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Wall time of `work`, in ms. */
export async function timed(work: () => unknown): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** Median wall time of `runs` runs of `work`, one after another, in ms. */
export async function medianTime(runs: number, work: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timed(work));
  return median(times);
}

/**
 * Median wall time of a whole `coderdb <args>` command, in ms; throws if the command fails, or
 * prints other than `expectStdout` when given (a fast wrong answer is not a figure).
 */
export function commandTime(runs: number, args: string[], expectStdout?: string): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = cli(args);
    if (result.code !== 0) throw new Error(`coderdb ${args.join(' ')} failed: ${result.stderr}`);
    if (expectStdout !== undefined && result.stdout !== expectStdout) {
      throw new Error(
        `refusing to report coderdb ${args.join(' ')}: it printed ${JSON.stringify(result.stdout)}`,
      );
    }
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Milliseconds: whole from 100 ms up, else with `decimals` decimals. */
export const ms = (value: number, decimals = 1) =>
  value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(decimals)} ms`;
export const mbps = (value: number) => `${value.toFixed(2)} MB/s`;
export const ratio = (value: number, baseline: number) => `${(value / baseline).toFixed(2)}×`;

/** One row of a Markdown table. */
export const tableRow = (cells: string[]) => `| ${cells.join(' | ')} |`;
