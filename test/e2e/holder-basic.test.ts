// A warm session through an old SSM agent (basic mode, no smux keep-alives): commands still reuse it
// one after another, and the holder keeps the session busy with `SELECT 1`s through its own relay
// while no command runs, which neither count as sessions served nor reset its idle limit.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/core/process.js';
import type { HolderInfo } from '../../src/holder/protocol.js';
import { createHome, type Home } from '../helpers/cli.js';
import { until, within } from '../helpers/wait.js';

describe('a warm session through an old agent (basic mode)', () => {
  let home: Home;
  let env: NodeJS.ProcessEnv;
  let holder: HolderInfo | undefined;
  beforeAll(async () => {
    home = createHome({ CODERDB_PROFILE: 'sandbox', NODE_NO_WARNINGS: '1' });
    env = { XDG_RUNTIME_DIR: join(home.dir, 'run'), CODERDB_HOLDER_KEEPALIVE_MS: '1000' };
    const started = await home.cli(['sandbox', 'start', '--agent-version', '3.0.161.0'], {
      timeoutMs: 180_000,
    });
    if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
  });
  afterAll(async () => {
    await home?.cli(['disconnect', '--all'], { env }).catch(() => undefined);
    if (holder && isProcessAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
    await home?.cli(['sandbox', 'stop'], { timeoutMs: 30_000 });
    home?.remove();
  });

  it('serves commands one after another and sends keep-alives in between', async () => {
    const connected = await home.cli(['--transport', 'tunnel', 'connect', '-o', 'json', '--idle', '10m'], {
      env,
      timeoutMs: 120_000,
    });
    expect(connected.stderr).toBe('');
    holder = JSON.parse(connected.stdout) as HolderInfo;
    expect(holder.mode).toBe('basic');

    const sql = 'select g, md5(g::text) from generate_series(1, 2000) g';
    const direct = await home.cli(['--transport', 'direct', 'query', sql], { env });
    for (let i = 0; i < 2; i++) {
      const through = await home.cli(['--transport', 'tunnel', '-v', 'query', sql], {
        env,
        timeoutMs: 60_000,
      });
      expect(through.code).toBe(0);
      expect(through.stdout).toBe(direct.stdout);
      expect(through.stderr).toContain('via tunnel (reused)');
    }

    const status = async () =>
      (
        JSON.parse((await home.cli(['connect', '--status', '-o', 'json'], { env })).stdout) as HolderInfo[]
      )[0];
    // One may already have run between the two commands; wait for one after the last.
    let info = await status();
    const before = info?.keepAlives ?? 0;
    await within(
      (async () => {
        while ((info?.keepAlives ?? 0) <= before) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          info = await status();
        }
      })(),
      30_000,
      'a keep-alive',
    );
    expect(info).toMatchObject({ served: 2, active: 0 });
    // Keep-alives leave the idle clock where the last command left it.
    expect(Date.now() - Date.parse(info?.lastUsedAt ?? '')).toBeGreaterThanOrEqual(1000);
    // Still usable after them.
    expect((await home.cli(['--transport', 'tunnel', 'query', 'select 1'], { env })).code).toBe(0);

    expect((await home.cli(['disconnect'], { env })).code).toBe(0);
    const pid = holder.pid;
    await until(() => !isProcessAlive(pid), 30_000, 'the holder to exit');
  });
});
