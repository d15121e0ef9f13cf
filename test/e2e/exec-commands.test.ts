// Every coderdb command over `--transport exec` (psql in the task, through the emulated ECS Exec)
// gives exactly what it gives over `--transport direct`, read and write alike, through the built CLI.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import { type CliResult, json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

type Row = Record<string, unknown>;

/** Each test runs a few dozen CLI processes, each opening its own ECS Exec session. */
const SLOW = 240_000;

describe('commands over the exec transport', () => {
  let sandbox: TestSandbox;
  const over = (transport: 'exec' | 'direct', args: string[], input?: string) =>
    sandbox.run(['--transport', transport, ...args], {
      timeoutMs: 120_000,
      ...(input === undefined ? {} : { input }),
    });

  /**
   * Runs each command over both transports and expects the same exit status and output. Commands
   * run a few at a time, so sessions overlap: on PostgreSQL, because PGlite serves every connection
   * from one backend, where one session's settings show in another's and the settings watch
   * rightly ends it (see sandbox/engines/pglite.ts).
   */
  const same = async (commands: { args: string[]; input?: string }[]): Promise<CliResult[]> => {
    const results: CliResult[] = [];
    let next = 0;
    const worker = async () => {
      while (next < commands.length) {
        const index = next++;
        const { args, input } = commands[index]!;
        const [viaExec, viaDirect] = await Promise.all([
          over('exec', args, input),
          over('direct', args, input),
        ]);
        expect({ code: viaExec.code, stdout: normalise(viaExec.stdout) }, args.join(' ')).toEqual({
          code: viaDirect.code,
          stdout: normalise(viaDirect.stdout),
        });
        results[index] = viaExec;
      }
    };
    await Promise.all([worker(), worker()]);
    return results;
  };

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it(
    "reads the catalog and Coder's templates, users and workspaces the same way",
    async () => {
      const commands = [
        ['tables'],
        ['tables', '--no-views'],
        ['describe', 'templates'],
        ['describe', 'users'],
        ['describe', 'template_with_names'],
        ['db', 'size'],
        ['templates', 'list'],
        ['templates', 'list', '--all'],
        ['templates', 'search', 'coder'],
        ['users', 'list'],
        ['users', 'list', '--all'],
        ['workspaces', 'list'],
        ['workspaces', 'count'],
      ].map((args) => ({ args: [...args, '--format', 'json'] }));
      const results = await same([...commands, { args: ['describe', 'provisionerjobs'] }]);
      expect(results.slice(0, -1).every((result) => result.code === 0)).toBe(true);
      expect(results.at(-1)?.code).toBe(2);
      expect(JSON.parse(results[7]!.stdout)).toHaveLength(DEMO.templateCount);
    },
    SLOW,
  );

  it(
    'runs queries the same way in every format, and fails the same way',
    async () => {
      const typed =
        "select 1::int as i, 9007199254740993::bigint as big, 1.50::numeric as n, true as b, null::text as z, '' as e, " +
        "'2024-05-01 12:00:00.123456+00'::timestamptz as ts, '{\"a\":[1,2]}'::jsonb as j, array[1,2] as a, " +
        'E\'multi\\nline, "quoted"\' as m';
      const results = await same([
        ...['json', 'csv', 'ndjson', 'table'].map((format) => ({
          args: ['query', typed, '--format', format],
        })),
        { args: ['query', 'select * from users order by id', '--format', 'json'] },
        { args: ['query', "select 1 as a, 'x,y' as b; select null::text as c", '--format', 'csv'] },
        { args: ['query', '--format', 'json'], input: 'select 42 as answer' },
        { args: ['query', 'select nosuch from templates'] },
      ]);
      expect(results.slice(0, -1).every((result) => result.code === 0)).toBe(true);
      expect(results[6]!.stdout).toBe('[\n  {"answer":42}\n]\n');
      const failed = results.at(-1)!;
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('column "nosuch" does not exist at line 1, column 8');
      expect(failed.stderr).toBe((await over('direct', ['query', 'select nosuch from templates'])).stderr);

      const withNul = await over('exec', ['query', '--format', 'json'], "select 'a\0b'");
      expect(withNul.code).toBe(2);
      expect(withNul.stderr).toContain('NUL byte');
    },
    SLOW,
  );

  it(
    'reports the database connections, with its own session marked',
    async () => {
      const viaExec = json<Row[]>(await over('exec', ['db', 'connections', '--all', '--format', 'json']));
      const viaDirect = json<Row[]>(await over('direct', ['db', 'connections', '--all', '--format', 'json']));
      expect(Object.keys(viaExec[0] ?? {})).toEqual(Object.keys(viaDirect[0] ?? {}));
      const own = viaExec.find((row) => row.is_coderdb === true);
      expect(own?.application_name).toBe('coderdb');
    },
    SLOW,
  );

  it(
    'plans, applies and undoes writes over exec, and mixes transports across the steps',
    async () => {
      const listAll = ['templates', 'list', '--all', '--format', 'json'];
      const before = json<Row[]>(await over('direct', listAll));
      // The plan (nothing is written) is the same over both transports.
      const planArgs = [
        'templates',
        'replace-description',
        '--from',
        'Coder',
        '--to',
        'Workbench',
        '--dry-run',
      ];
      expect((await same([{ args: planArgs }]))[0]!.code).toBe(0);

      const applied = await over('exec', [
        'templates',
        'set-description',
        'docker',
        'Docker on Workbench',
        '--org',
        'coder',
        '--yes',
        '--reason',
        'exec test',
      ]);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain('1 row changed');
      const [docker] = json<Row[]>(
        await over('direct', ['templates', 'list', '--org', 'coder', '--format', 'json']),
      ).filter((row) => row.name === 'docker');
      expect(docker?.description).toBe('Docker on Workbench');
      const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
      expect((await over('exec', ['undo', undoFile, '--yes'])).code).toBe(0);
      expect(json<Row[]>(await over('direct', listAll))).toEqual(before);

      // Applied over exec, undone over direct.
      const replaced = await over('exec', [...planArgs.slice(0, -1), '--yes']);
      expect(replaced.code, replaced.stderr).toBe(0);
      const after = json<Row[]>(await over('direct', listAll));
      for (const row of after) {
        const old = before.find((candidate) => candidate.id === row.id)!;
        expect(row.description).toBe(
          row.deleted ? old.description : String(old.description).replaceAll('Coder', 'Workbench'),
        );
      }
      const replacedUndo = /coderdb undo (\S+)/.exec(replaced.stdout)![1]!;
      expect((await over('direct', ['undo', replacedUndo, '--yes'])).code).toBe(0);
      expect(json<Row[]>(await over('exec', listAll))).toEqual(before);

      // The audit log names the transport of each statement.
      const audit = json<Row[]>(await over('direct', ['audit', '--limit', '1000', '--format', 'json']));
      expect(audit.some((entry) => entry.transport === 'exec' && entry.outcome === 'committed')).toBe(true);
      expect(audit.some((entry) => entry.transport === 'direct' && entry.outcome === 'committed')).toBe(true);
    },
    SLOW,
  );
});

/** A plan shows `updated_at = now()` as the time it ran; two runs differ only there. */
function normalise(stdout: string): string {
  return stdout.replace(/→ "\d{4}-\d\d-\d\dT[\d:.]+\+00:00"/g, '→ "<now>"');
}
