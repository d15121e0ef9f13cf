// An old SSM agent (3.0.161.0 ≤ 3.0.196.0) has no smux: the tunnel runs in basic mode, one
// connection at a time with Flag DisconnectToPort after each. psql, node-postgres and every coderdb
// command (reads, and a write with its undo) still work through it, one after another.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import type { SandboxState } from '../../src/core/sandbox-state.js';
import { createHome, type Home, json } from '../helpers/cli.js';
import { within } from '../helpers/wait.js';
import { control, md5, pgQuery, psql, startTunnel, TUNNEL_READS } from './tunnel-helpers.js';

describe('a tunnel through an old agent (basic mode)', () => {
  let home: Home;
  let state: SandboxState;

  beforeAll(async () => {
    home = createHome({ CODERDB_PROFILE: 'sandbox', NODE_NO_WARNINGS: '1' });
    const started = await home.cli(['sandbox', 'start', '--agent-version', '3.0.161.0'], {
      timeoutMs: 180_000,
    });
    if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
    state = json<SandboxState>(await home.cli(['sandbox', 'status', '--format', 'json']));
  });
  afterAll(async () => {
    await home?.cli(['sandbox', 'stop'], { timeoutMs: 30_000 });
    home?.remove();
  });

  it('serves psql and node-postgres one connection after another, with DisconnectToPort between', async () => {
    const tunnel = await startTunnel(home.env);
    try {
      expect(tunnel.stdout()).toContain('one connection at a time (old SSM agent)');
      const sql = 'select g, md5(g::text) from generate_series(1, 3000) g';
      const direct = await psql(state.databaseUrl, sql);
      for (let i = 0; i < 3; i++) {
        const through = await psql(tunnel.url, sql);
        expect(through.stderr).toBe('');
        expect(md5(through.stdout)).toBe(md5(direct.stdout));
      }
      expect((await pgQuery(tunnel.url, 'select 5 as n')).rows).toEqual([{ n: 5 }]);
      // Concurrent clients wait their turn rather than fail.
      const turns = await Promise.all([1, 2, 3].map((n) => pgQuery(tunnel.url, `select ${n} as n`)));
      expect(turns.map((result) => result.rows[0].n)).toEqual([1, 2, 3]);
      const sandbox = control(state);
      // Seven connections, each closed with DisconnectToPort.
      let disconnects = 0;
      const count = async () => {
        const session = await sandbox.session(tunnel.sessionId);
        disconnects = session.stats?.flagsReceived.filter((flag) => flag === 1).length ?? 0;
      };
      await within(
        (async () => {
          for (await count(); disconnects < 7; await count()) await new Promise((r) => setTimeout(r, 50));
        })(),
        10_000,
        'seven DisconnectToPort flags',
      );
      expect(await tunnel.interrupt()).toBe(0);
      expect((await sandbox.session(tunnel.sessionId)).stats?.flagsReceived).toContain(2);
    } finally {
      tunnel.kill();
    }
  });

  const over = (transport: string, ...args: string[]) =>
    home.cli(['--transport', transport, ...args, '--format', 'json'], { timeoutMs: 90_000 });

  it.each(TUNNEL_READS.map((args) => [args.join(' ').slice(0, 60), args]))(
    'runs %s over --transport tunnel with the same result as direct',
    async (_name, args) => {
      const [tunnel, direct] = [await over('tunnel', ...args), await over('direct', ...args)];
      expect(tunnel.stderr).toBe('');
      expect(tunnel.code).toBe(0);
      expect(tunnel.stdout).toBe(direct.stdout);
    },
  );

  it('plans, applies and undoes a write over --transport tunnel', async () => {
    const write = [
      'templates',
      'set-description',
      'docker',
      'Docker through a basic tunnel',
      '--org',
      'coder',
    ];
    const applied = await over('tunnel', ...write, '--yes');
    expect(applied.code, applied.stderr).toBe(0);
    const description = async () =>
      json<Record<string, unknown>[]>(await over('direct', 'templates', 'list', '--org', 'coder')).find(
        (row) => row.name === 'docker',
      )?.description;
    expect(await description()).toBe('Docker through a basic tunnel');
    const undoFile = json<{ undoFile: string }>(applied).undoFile;
    const undone = await over('tunnel', 'undo', undoFile, '--yes');
    expect(undone.code, undone.stderr).toBe(0);
    expect(await description()).toBe(DEMO.starterDescription);
  });
});
