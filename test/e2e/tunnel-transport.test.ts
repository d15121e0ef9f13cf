// Every coderdb command over --transport tunnel gives what it gives over direct (JSON compared),
// writes included: plan, apply and undo through the tunnel, with the audit log naming the tunnel.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import { json } from '../helpers/cli.js';
import { sandboxAwsConfig, startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { control, TUNNEL_READS } from './tunnel-helpers.js';

describe('--transport tunnel equals --transport direct', () => {
  let sandbox: TestSandbox;
  const over = (transport: string, ...args: string[]) =>
    sandbox.run(['--transport', transport, ...args, '--format', 'json'], { timeoutMs: 120_000 });

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it.each(TUNNEL_READS.map((args) => [args.join(' ').slice(0, 60), args]))('%s', async (_name, args) => {
    const [tunnel, direct] = [await over('tunnel', ...args), await over('direct', ...args)];
    expect(tunnel.stderr).toBe(direct.stderr);
    expect(tunnel.code).toBe(0);
    expect(tunnel.stdout).toBe(direct.stdout);
  });

  it('reports SQL errors the same way', async () => {
    const [tunnel, direct] = [
      await over('tunnel', 'query', 'select * from nope'),
      await over('direct', 'query', 'select * from nope'),
    ];
    expect(tunnel.code).toBe(1);
    expect(tunnel.stderr).toBe(direct.stderr);
  });

  it('plans, applies and undoes a write through the tunnel like direct, and audits it as tunnel', async () => {
    const write = ['templates', 'set-description', 'docker', 'Docker through a tunnel', '--org', 'coder'];
    const normalise = (output: string) => {
      // The undo file's name and the rows' updated_at (now()) differ from run to run.
      const result = JSON.parse(output) as {
        undoFile?: string;
        statements: { before?: unknown[]; after?: unknown[] }[];
      };
      delete result.undoFile;
      for (const statement of result.statements) {
        for (const row of [...(statement.before ?? []), ...(statement.after ?? [])] as Record<
          string,
          unknown
        >[]) {
          delete row.updated_at;
        }
      }
      return result;
    };
    const dryRun = [await over('tunnel', ...write, '--dry-run'), await over('direct', ...write, '--dry-run')];
    expect(dryRun[0]?.stderr).toBe(dryRun[1]?.stderr);
    expect(normalise(dryRun[0]?.stdout ?? '')).toEqual(normalise(dryRun[1]?.stdout ?? ''));

    const results: Record<string, unknown> = {};
    for (const transport of ['tunnel', 'direct']) {
      const applied = await over(transport, ...write, '--yes', '--reason', `via ${transport}`);
      expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      const undoFile = (JSON.parse(applied.stdout) as { undoFile: string }).undoFile;
      const [template] = json<Record<string, unknown>[]>(
        await over('direct', 'templates', 'list', '--org', 'coder'),
      ).filter((row) => row.name === 'docker');
      expect(template?.description).toBe('Docker through a tunnel');
      const undone = await over(transport, 'undo', undoFile, '--yes');
      expect({ code: undone.code, stderr: undone.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      const [restored] = json<Record<string, unknown>[]>(
        await over('direct', 'templates', 'list', '--org', 'coder'),
      ).filter((row) => row.name === 'docker');
      expect(restored?.description).toBe(DEMO.starterDescription);
      results[transport] = { applied: normalise(applied.stdout), undone: normalise(undone.stdout) };
    }
    expect(results.tunnel).toEqual(results.direct);

    const audit = json<{ transport: string; command: string; reason?: string; target: string }[]>(
      await sandbox.run(['audit', '--format', 'json']),
    );
    const viaTunnel = audit.filter((entry) => entry.reason === 'via tunnel');
    expect(viaTunnel.length).toBeGreaterThan(0);
    expect(viaTunnel.every((entry) => entry.transport === 'tunnel')).toBe(true);
    expect(viaTunnel[0]?.target).toMatch(/^tunnel postgres@127\.0\.0\.1:\d+\/postgres via task \w+/);
  });

  it('terminates its port-forwarding session when the command ends', async () => {
    const { SSMClient, DescribeSessionsCommand } = await import('@aws-sdk/client-ssm');
    const ssm = new SSMClient(sandboxAwsConfig(sandbox.state));
    try {
      const known = async () => {
        const ids = new Set<string | undefined>();
        for (const State of ['Active', 'History'] as const) {
          for (const s of (await ssm.send(new DescribeSessionsCommand({ State }))).Sessions ?? [])
            ids.add(s.SessionId);
        }
        return ids;
      };
      const before = await known();
      expect((await over('tunnel', 'query', 'select 1 as ok')).stdout).toContain('"ok":1');
      const started = [...(await known())].filter((id) => !before.has(id));
      expect(started).toHaveLength(1);
      const stats = await control(sandbox.state).session(started[0] as string);
      // Ended by the client with Flag TerminateSession, and closed cleanly by the agent.
      expect(stats.stats?.flagsReceived).toContain(2);
      expect(stats.stats?.closedWith).toBe('');
      const active = (await ssm.send(new DescribeSessionsCommand({ State: 'Active' }))).Sessions ?? [];
      expect(active.some((s) => s.SessionId === started[0])).toBe(false);
    } finally {
      ssm.destroy();
    }
  });
});
