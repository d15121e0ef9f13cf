// `sandbox stop` with the postgres engine leaves no postmaster and no data directory behind, also
// when the sandbox's daemon was killed and could not clean up itself.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHome, type Home } from '../helpers/cli.js';

/** Processes whose command line runs a postmaster on `dir`. */
function postmastersOn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`${dir}/data`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  return check();
}

describe('sandbox stop, postgres engine', () => {
  let home: Home | undefined;
  afterEach(async () => {
    await home?.cli(['sandbox', 'stop']);
    home?.remove();
  });

  const start = async () => {
    home = createHome();
    const started = await home.cli(['sandbox', 'start', '--engine', 'postgres'], { timeoutMs: 180_000 });
    expect(started.code, started.stderr).toBe(0);
    const state = JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout) as {
      pid: number;
      serverDir: string;
    };
    expect(state.serverDir).toMatch(/\/coderdb-pg-/);
    expect(postmastersOn(state.serverDir).length).toBeGreaterThan(0);
    return state;
  };

  it('stops the postmaster and removes its directory', async () => {
    const state = await start();
    const stopped = await home!.cli(['sandbox', 'stop'], { timeoutMs: 60_000 });
    expect(stopped.code).toBe(0);
    expect(await until(() => postmastersOn(state.serverDir).length === 0)).toBe(true);
    expect(existsSync(state.serverDir)).toBe(false);
  });

  it('cleans up after a daemon that was killed', async () => {
    const state = await start();
    process.kill(state.pid, 'SIGKILL');
    const stopped = await home!.cli(['sandbox', 'stop'], { timeoutMs: 60_000 });
    expect(stopped.code).toBe(0);
    expect(await until(() => postmastersOn(state.serverDir).length === 0)).toBe(true);
    expect(existsSync(state.serverDir)).toBe(false);
  });
});
