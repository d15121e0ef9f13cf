// `coderdb tunnel` against a sandbox, as an operator uses it: the printed connection string works
// in the real psql, many node-postgres connections share one session, large results arrive byte
// for byte, a dropped socket is survived, and Ctrl-C ends the session with TerminateSession and
// exit status 0.

import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { within } from '../helpers/wait.js';
import {
  control,
  FIVE_MB_SQL,
  md5,
  pgQuery,
  psql,
  type RunningTunnel,
  startTunnel,
} from './tunnel-helpers.js';

describe('coderdb tunnel', () => {
  let sandbox: TestSandbox;
  const tunnels: RunningTunnel[] = [];
  const open = async (args: string[] = []) => {
    const tunnel = await startTunnel(sandbox.env, args);
    tunnels.push(tunnel);
    return tunnel;
  };

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
  });
  afterAll(async () => {
    for (const tunnel of tunnels) tunnel.kill();
    await sandbox?.stop();
  });

  it('prints a working connection string without the password and listens on 127.0.0.1 only', async () => {
    const tunnel = await open();
    expect(tunnel.stdout()).toMatch(/Listening on 127\.0\.0\.1:\d+ → /);
    expect(tunnel.url).toBe(`postgresql://postgres@127.0.0.1:${tunnel.port}/postgres?sslmode=disable`);
    const through = await psql(tunnel.url, 'select count(*) from users');
    const direct = await psql(sandbox.state.databaseUrl, 'select count(*) from users');
    expect(through.stderr).toBe('');
    expect(through.code).toBe(0);
    expect(through.stdout.toString()).toBe(direct.stdout.toString());

    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal);
    if (external) {
      const refused = await new Promise<string>((resolve) => {
        const socket = createConnection({ host: external.address, port: tunnel.port });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
    }
    expect(await tunnel.interrupt()).toBe(0);
  });

  it('prints JSON with --format json', async () => {
    const tunnel = await open(['--format', 'json', '--local-port', '0']);
    const info = JSON.parse(tunnel.stdout().trim()) as Record<string, unknown>;
    expect(info).toMatchObject({
      host: '127.0.0.1',
      port: tunnel.port,
      mode: 'mux',
      agentVersion: '3.3.987.0',
    });
    expect(String(info.url)).not.toContain('@127.0.0.1:0');
    expect(await tunnel.interrupt()).toBe(0);
  });

  it('serves 20 concurrent node-postgres connections and a 5 MB result byte for byte', async () => {
    const tunnel = await open();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pgQuery(
          tunnel.url,
          `select ${i} as i, count(*)::int as users, repeat('x', ${i * 1000}) as pad from users`,
        ),
      ),
    );
    const expected = (await pgQuery(sandbox.state.databaseUrl, 'select count(*)::int as users from users'))
      .rows[0];
    answers.forEach((answer, i) => {
      expect(answer.rows[0]).toEqual({ i, users: expected.users, pad: 'x'.repeat(i * 1000) });
    });

    const [through, direct] = await Promise.all([
      psql(tunnel.url, FIVE_MB_SQL, 120_000),
      psql(sandbox.state.databaseUrl, FIVE_MB_SQL, 120_000),
    ]);
    expect(through.code).toBe(0);
    expect(through.stdout.length).toBeGreaterThan(5_000_000);
    expect(md5(through.stdout)).toBe(md5(direct.stdout));
    expect(await tunnel.interrupt()).toBe(0);
  });

  it('ends the session with Flag TerminateSession on Ctrl-C and exits 0', async () => {
    const tunnel = await open();
    expect((await psql(tunnel.url, 'select 1')).stdout.toString()).toBe('1\n');
    expect(await tunnel.interrupt()).toBe(0);
    expect(tunnel.stderr()).toContain('The tunnel is closed.');
    const session = await control(sandbox.state).session(tunnel.sessionId);
    expect(session.stats?.flagsReceived).toContain(2);
    expect(session.stats?.closedWith).toBe('');
  });

  it('survives a dropped socket: the session resumes and the result is intact', async () => {
    const sandboxControl = control(sandbox.state);
    // Sessions opened from now on lose their WebSocket after 200 Output messages.
    await sandboxControl.setFaults({ dropSocketAfterOutputs: 200 });
    try {
      const tunnel = await open();
      const [through, direct] = await Promise.all([
        psql(tunnel.url, FIVE_MB_SQL, 120_000),
        psql(sandbox.state.databaseUrl, FIVE_MB_SQL, 120_000),
      ]);
      expect(through.code).toBe(0);
      expect(md5(through.stdout)).toBe(md5(direct.stdout));
      const session = await sandboxControl.session(tunnel.sessionId);
      expect(session.fired.dropSocketAfterOutputs).toBe(1);
      expect(session.stats?.connections).toBeGreaterThanOrEqual(2);
      // Still usable afterwards.
      expect((await pgQuery(tunnel.url, 'select 7 as n')).rows).toEqual([{ n: 7 }]);
      expect(await tunnel.interrupt()).toBe(0);
    } finally {
      await sandboxControl.clearFaults();
    }
  });

  it('refuses a port that is taken', async () => {
    const first = await open();
    const second = await sandbox.run(['tunnel', '--local-port', String(first.port)], { timeoutMs: 30_000 });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('the port is in use');
    expect(await within(first.interrupt(), 20_000, 'the first tunnel')).toBe(0);
  });
});
