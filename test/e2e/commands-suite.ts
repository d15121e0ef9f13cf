// Every read and write command of coderdb, through the real CLI, against a sandbox of one engine
// and one Coder schema layout. The facts asserted come from the fixture (sandbox/fixture), which
// was checked against Coder's real dump.sql.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, demoCounts } from '../../sandbox/fixture/index.js';
import { json } from '../helpers/cli.js';
import { type SandboxOptions, startSandbox, type TestSandbox } from '../helpers/sandbox.js';

type Row = Record<string, unknown>;

export function commandSuite(options: Required<Pick<SandboxOptions, 'engine' | 'layout'>>): void {
  const { layout } = options;
  const counts = demoCounts(1);

  describe(`commands on ${options.engine}, ${layout} layout`, () => {
    let sandbox: TestSandbox;
    const run = (...args: string[]) => sandbox.run(args);
    const rows = async (...args: string[]) => json<Row[]>(await run(...args, '--format', 'json'));

    beforeAll(async () => {
      sandbox = await startSandbox(options);
    });
    afterAll(async () => {
      await sandbox?.stop();
    });

    it('tables lists Coder tables and views with their kind', async () => {
      const tables = await rows('tables');
      const byName = new Map(tables.map((row) => [row.name, row.type]));
      for (const name of ['templates', 'users', 'workspaces', 'organizations', 'provisioner_jobs']) {
        expect(byName.get(name)).toBe('table');
      }
      expect(byName.get(layout === 'current' ? 'template_with_names' : 'template_with_users')).toBe('view');
      expect(byName.has('provisionerjobs')).toBe(false);
      const tablesOnly = await rows('tables', '--no-views');
      expect(tablesOnly.every((row) => row.type === 'table')).toBe(true);
    });

    it('describe shows columns, types, nullability, defaults, indexes and view-ness', async () => {
      const templates = json<{ columns: Row[]; indexes: Row[]; type: string }>(
        await run('describe', 'templates', '--format', 'json'),
      );
      expect(templates.type).toBe('table');
      const description = templates.columns.find((column) => column.column === 'description');
      expect(description).toMatchObject({ type: 'character varying(128)', nullable: 'not null' });
      expect(templates.indexes.some((index) => String(index.definition).includes('UNIQUE'))).toBe(true);
      const users = json<{ columns: Row[] }>(await run('describe', 'users', '--format', 'json'));
      expect(users.columns.find((column) => column.column === 'hashed_password')?.secret).toBe(true);
      // describe's own `secret` column is a flag, not a credential: readable in every format.
      for (const format of ['table', 'csv']) {
        const text = await run('describe', 'users', '--format', format);
        expect(text.stdout, format).not.toContain('[redacted]');
        expect(text.stdout, format).toMatch(/hashed_password\s*[|,].*[|,]\s*t\s*$/m);
      }

      const view = layout === 'current' ? 'template_with_names' : 'template_with_users';
      const described = json<{ type: string; updatable: boolean }>(
        await run('describe', view, '--format', 'json'),
      );
      expect(described).toMatchObject({ type: 'view', updatable: false });
      const text = await run('describe', view);
      expect(text.stdout).toContain('read-only view');

      if (layout === 'current') {
        const jobs = json<{ columns: Row[] }>(await run('describe', 'provisioner_jobs', '--format', 'json'));
        expect(String(jobs.columns.find((column) => column.column === 'job_status')?.default)).toMatch(
          /^generated always as/,
        );
      }
      const missing = await run('describe', 'provisionerjobs');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no table or view named "provisionerjobs"');
    });

    it('templates list hides deleted templates and shows the organization of each', async () => {
      const list = await rows('templates', 'list');
      expect(list).toHaveLength(DEMO.templateCount - 1);
      expect(list.map((row) => row.id)).not.toContain(DEMO.deletedTemplate.id);
      const dockers = list.filter((row) => row.name === 'docker').map((row) => row.organization);
      expect(dockers.sort()).toEqual(['acme-research', 'coder']);
      const all = await rows('templates', 'list', '--all');
      expect(all).toHaveLength(DEMO.templateCount);
      const coderOnly = await rows('templates', 'list', '--org', 'coder');
      expect(coderOnly.every((row) => row.organization === 'coder')).toBe(true);
    });

    it('templates search matches name, display name and description, case-insensitively', async () => {
      const found = await rows('templates', 'search', 'coder');
      const ids = found.map((row) => row.id);
      for (const id of DEMO.templatesMentioningCoder) {
        if (id !== DEMO.deletedTemplate.id) expect(ids).toContain(id);
      }
      expect(ids).not.toContain(DEMO.deletedTemplate.id);
      expect(await rows('templates', 'search', 'no-such-text-anywhere')).toEqual([]);
    });

    it('users list never prints credentials and hides deleted users', async () => {
      const result = await run('users', 'list', '--format', 'json');
      const users = json<Row[]>(result);
      expect(users).toHaveLength(DEMO.userCount - 1);
      expect(users.map((row) => row.username)).not.toContain(DEMO.deletedUser.username);
      for (const row of users) expect(Object.keys(row)).not.toContain('hashed_password');
      for (const secret of DEMO.secrets[layout]) expect(result.stdout).not.toContain(secret);
      expect((await rows('users', 'list', '--all')).length).toBe(DEMO.userCount);
    });

    it('query redacts credential columns unless --show-secrets', async () => {
      const result = await run('query', 'select * from users', '--format', 'json');
      const users = json<Row[]>(result);
      expect(users[0]?.hashed_password).toBe('[redacted]');
      for (const secret of DEMO.secrets[layout]) expect(result.stdout).not.toContain(secret);
      const shown = json<Row[]>(
        await run('query', 'select hashed_password from users', '--format', 'json', '--show-secrets'),
      );
      expect(String(shown[0]?.hashed_password)).toMatch(/^\\x/);
      // CSV of a query is formatted by the server, except where a credential column may be in it;
      // a credential stays redacted under an alias, in an expression, through a subquery or CTE,
      // and inside a whole row.
      const sqls = [
        'select * from users',
        'select u.hashed_password from users u',
        'select (select hashed_password from users limit 1)',
        'select hashed_password as h from users',
        "select hashed_password::text || '' from users",
        'select s.p from (select hashed_password as p from users) s',
        'with x as (select hashed_password as h from users) select h as again from x',
        'select row_to_json(u) from users u',
        'select to_jsonb(u.*) as doc from users u',
        'select u from users u',
        'with x as (select * from users) select row_to_json(x) from x',
        'select a.id, row_to_json(a) as agent from workspace_agents a',
      ];
      for (const sql of sqls) {
        for (const format of ['csv', 'json']) {
          const out = await run('query', sql, '--format', format);
          expect(out.code, out.stderr).toBe(0);
          for (const secret of DEMO.secrets[layout])
            expect(out.stdout, `${sql} as ${format}`).not.toContain(secret);
        }
      }
      // Whole rows of relations without credentials stay readable.
      const templates = json<Row[]>(
        await run('query', 'select row_to_json(t) as doc from templates t limit 1', '--format', 'json'),
      );
      expect(templates[0]?.doc).toHaveProperty('name');
      const plain = await run(
        'query',
        "select username, '' as empty from users order by username limit 1",
        '--format',
        'csv',
      );
      // As psql --csv prints it: an empty string and NULL alike (checked against psql in
      // test/e2e/differential-*.test.ts).
      expect(plain.stdout).toBe('username,empty\nadmin,\n');
    });

    it('workspaces list and count exclude deleted workspaces', async () => {
      const list = await rows('workspaces', 'list');
      expect(list).toHaveLength(counts.workspaces - counts.deletedWorkspaces);
      expect(list[0]).toHaveProperty('last_build_status');
      const statuses = new Set(list.map((row) => row.last_build_status));
      expect([...statuses].every((status) => typeof status === 'string')).toBe(true);

      const perTemplate = await rows('workspaces', 'count');
      const all = await rows('templates', 'list');
      const idByName = new Map(all.map((row) => [`${row.organization}/${row.name}`, String(row.id)]));
      for (const row of perTemplate) {
        const id = idByName.get(`${row.organization}/${row.template}`)!;
        expect(row.workspaces).toBe(counts.liveWorkspacesByTemplate[id] ?? 0);
      }
      expect(perTemplate).toHaveLength(DEMO.templateCount - 1);
    });

    it('db size and db connections report the database', async () => {
      const size = json<{ database: Row[]; tables: Row[] }>(await run('db', 'size', '--format', 'json'));
      expect(Number(size.database[0]?.bytes)).toBeGreaterThan(0);
      expect(size.tables.length).toBeGreaterThan(0);
      const totals = size.tables.map((row) => Number(row.total_bytes));
      expect(totals).toEqual([...totals].sort((a, b) => b - a));
      const connections = await rows('db', 'connections');
      const own = connections.find((row) => row.is_coderdb === true);
      expect(own).toBeDefined();
      // Measured against the clock, not against the start of coderdb's own transaction.
      expect(String(own?.running_for)).not.toMatch(/^-/);
    });

    it('query keeps types in JSON and streams several statements', async () => {
      const [row] = await rows(
        'query',
        'select 1::int as i, 9007199254740993::bigint as big, 1.50::numeric as n, true as b, null::text as z, ' +
          "'2024-05-01 12:00:00.123456+00'::timestamptz as ts, '{\"a\":[1,2]}'::jsonb as j, array[1,2] as a, " +
          "'2024-05-01'::date as d",
      );
      expect(row).toEqual({
        i: 1,
        big: '9007199254740993',
        n: '1.50',
        b: true,
        z: null,
        ts: '2024-05-01T12:00:00.123456Z',
        j: { a: [1, 2] },
        a: [1, 2],
        d: '2024-05-01',
      });
      const csv = await run('query', "select 1 as a, 'x,y' as b; select null::text as c", '--format', 'csv');
      // As `psql --csv -q` prints several results: one after the other.
      expect(csv.stdout).toBe('a,b\n1,"x,y"\nc\n\n');
      const ndjson = await run('query', 'select g from generate_series(1,3) g', '--format', 'ndjson');
      expect(ndjson.stdout).toBe('{"g":1}\n{"g":2}\n{"g":3}\n');
      const fromStdin = await sandbox.run(['query', '--format', 'json'], { input: 'select 42 as answer' });
      expect(json(fromStdin)).toEqual([{ answer: 42 }]);
    });

    it('set-description refuses an ambiguous name, a too-long text, and writes with --org', async () => {
      const ambiguous = await run('templates', 'set-description', 'docker', 'x', '--yes');
      expect(ambiguous.code).toBe(4);
      expect(ambiguous.stderr).toContain(DEMO.docker.defaultOrg);
      expect(ambiguous.stderr).toContain(DEMO.docker.secondOrg);

      const tooLong = await run(
        'templates',
        'set-description',
        DEMO.docker.defaultOrg,
        'x'.repeat(129),
        '--yes',
      );
      expect(tooLong.code).toBe(2);
      expect(tooLong.stderr).toContain('at most 128');

      const noTerminal = await run(
        'templates',
        'set-description',
        'docker',
        'Docker on Workbench',
        '--org',
        'coder',
      );
      expect(noTerminal.code).toBe(4);

      const applied = await run(
        'templates',
        'set-description',
        'docker',
        'Docker on Workbench',
        '--org',
        'coder',
        '--yes',
        '--reason',
        'test',
      );
      expect(applied.code).toBe(0);
      expect(applied.stdout).toContain('1 row changed');
      expect(applied.stderr).toContain('coder templates edit');
      const [template] = (await rows('templates', 'list', '--org', 'coder')).filter(
        (row) => row.name === 'docker',
      );
      expect(template?.description).toBe('Docker on Workbench');
      expect(Date.parse(String(template?.updated_at))).toBeGreaterThan(Date.parse('2025-01-01'));

      const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
      const undone = await run('undo', undoFile, '--yes');
      expect(undone.code).toBe(0);
      const [restored] = (await rows('templates', 'list', '--org', 'coder')).filter(
        (row) => row.name === 'docker',
      );
      expect(restored?.description).toBe(DEMO.starterDescription);

      const deleted = await run('templates', 'set-description', DEMO.deletedTemplate.id, 'x', '--yes');
      expect(deleted.code).toBe(2);
    });

    it('replace-description rebrands live templates only, and undo restores them', async () => {
      const before = await rows('templates', 'list', '--all');
      const plan = await run(
        'templates',
        'replace-description',
        '--from',
        'Coder',
        '--to',
        'Workbench',
        '--dry-run',
      );
      expect(plan.code).toBe(0);
      const live = before.filter((row) => !row.deleted && String(row.description).includes('Coder'));
      expect(plan.stdout).toContain(`UPDATE — ${live.length} row`);

      const applied = await run(
        'templates',
        'replace-description',
        '--from',
        'Coder',
        '--to',
        'Workbench',
        '--yes',
      );
      expect(applied.code).toBe(0);
      const after = await rows('templates', 'list', '--all');
      for (const row of after) {
        const old = before.find((candidate) => candidate.id === row.id)!;
        const expected = row.deleted
          ? old.description
          : String(old.description).replaceAll('Coder', 'Workbench');
        expect(row.description).toBe(expected);
      }
      const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
      expect((await run('undo', undoFile, '--yes')).code).toBe(0);
      expect(await rows('templates', 'list', '--all')).toEqual(before);
    });
  });
}
