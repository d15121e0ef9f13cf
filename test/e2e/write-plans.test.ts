// Plans that mean what they say and undo that cannot hurt, on PGlite and PostgreSQL 15: what a
// rollback would not undo is refused before it runs, an apply that would write other values than
// planned refuses, changes by triggers and cascades are shown and need --no-undo, every row needs
// --allow-all-rows by count, and a change committed by anyone between plan and apply (or between
// write and undo) is never overwritten. Safety is judged by a fingerprint of the whole database.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/context.js';
import { loadProfile } from '../../src/core/config.js';
import { CoderdbError } from '../../src/core/errors.js';
import { applyWrite, performUndo, performWrite, planWrite } from '../../src/ops/write/index.js';
import { writeFingerprint as fingerprint } from '../helpers/fingerprint.js';
import { ENGINES, startSandbox, type TestSandbox } from '../helpers/sandbox.js';

const FIXTURE = `
  CREATE TABLE wp_parent (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0);
  CREATE TABLE wp_child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES wp_parent ON DELETE CASCADE);
  CREATE TABLE wp_serial (id serial PRIMARY KEY, v text);
  CREATE TABLE wp_single (id int PRIMARY KEY, v text);
  CREATE SEQUENCE wp_seq;
  CREATE TABLE wp_trig (id int PRIMARY KEY, v text);
  CREATE FUNCTION wp_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM nextval('wp_seq'); RETURN NEW; END $$;
  CREATE TRIGGER wp_bump BEFORE UPDATE ON wp_trig FOR EACH ROW EXECUTE FUNCTION wp_bump();
  INSERT INTO wp_parent (id, v) SELECT g, 'p' || g FROM generate_series(1, 4) g;
  INSERT INTO wp_child SELECT g, 1 FROM generate_series(1, 3) g;
  INSERT INTO wp_serial (v) VALUES ('a'), ('b');
  INSERT INTO wp_single VALUES (1, 'only');
  INSERT INTO wp_trig VALUES (1, 'a'), (2, 'b');`;

async function client(url: string): Promise<pg.Client> {
  const connection = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  connection.on('error', () => undefined);
  await connection.connect();
  return connection;
}

async function refusal(promise: Promise<unknown>): Promise<CoderdbError> {
  const failure = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure, 'expected a refusal').toBeInstanceOf(CoderdbError);
  return failure as CoderdbError;
}

describe.each(ENGINES)('plans and undo on %s', (engine) => {
  let sandbox: TestSandbox;
  let url: string;
  let other: pg.Client;
  const contexts: { dispose(): void }[] = [];

  function context() {
    const made = createContext({
      resolvedProfile: loadProfile({
        configFile: join(sandbox.dir, 'no-config.json'),
        env: {},
        overrides: { url },
      }),
      auditFile: join(sandbox.dir, 'library-audit.jsonl'),
    });
    contexts.push(made);
    return made;
  }
  const undoDir = () => join(sandbox.dir, 'undo');
  const write = (sql: string, options: { allowNoUndo?: boolean; allowAllRows?: boolean } = {}) =>
    performWrite(
      context(),
      { command: 'test', sql, ...(options.allowAllRows ? { allowAllRows: true } : {}) },
      { confirm: async () => true, undoDir: undoDir(), allowNoUndo: options.allowNoUndo ?? false },
    );
  const value = async (sql: string) => (await other.query(sql)).rows[0] as Record<string, unknown>;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine });
    writeFileSync(join(sandbox.dir, 'no-config.json'), '{}');
    url = sandbox.state.databaseUrl;
    other = await client(url);
    await other.query(FIXTURE);
  });
  afterAll(async () => {
    for (const made of contexts) made.dispose();
    await other?.end().catch(() => undefined);
    await sandbox?.stop();
  });

  it('refuses to plan what a rollback would not undo, and the database is unchanged', async () => {
    const before = await fingerprint(url);
    const cases: [string, RegExp][] = [
      ["update wp_parent set v = case when nextval('wp_seq') > 0 then 'x' end where id = 1", /nextval\(\)/],
      ["insert into wp_serial (v) values ('c')", /nextval\(\) in a column default/],
      ['insert into wp_serial default values', /column default/],
      ["select lo_export(0, '/tmp/wp-never')", /lo_export\(\)/],
      ['select pg_advisory_lock(42)', /session lock/],
    ];
    for (const [sql, reason] of cases) {
      const failure = await refusal(planWrite(context(), { command: 'test', sql }));
      expect(failure.code, sql).toBe('write.side-effect');
      expect(failure.message, sql).toMatch(reason);
    }
    // A session that a plan would terminate stays alive.
    const victim = await client(url);
    try {
      await victim.query("set application_name = 'wp-victim'");
      const failure = await refusal(
        planWrite(context(), {
          command: 'test',
          sql: "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'wp-victim'",
        }),
      );
      expect(failure.message).toMatch(/terminates a database session/);
      expect((await victim.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
    } finally {
      await victim.end();
    }
    expect(await fingerprint(url)).toEqual(before);

    // Giving the serial column its value draws nothing from the sequence: that plan is fine.
    const plan = await planWrite(context(), {
      command: 'test',
      sql: "insert into wp_serial (id, v) values (100, 'c')",
    });
    expect(plan.statements[0]!.rowCount).toBe(1);
    const positional = await planWrite(context(), {
      command: 'test',
      sql: "insert into wp_serial values (101, 'd')",
    });
    expect(positional.statements[0]!.rowCount).toBe(1);
    expect(await fingerprint(url)).toEqual(before);
  });

  it('refuses a plan whose trigger advanced a sequence, and changes no row', async () => {
    const before = await fingerprint(url);
    const failure = await refusal(
      planWrite(context(), { command: 'test', sql: "update wp_trig set v = 'z' where id = 1" }),
    );
    expect(failure.code).toBe('write.side-effect');
    expect(failure.message).toMatch(/advanced a sequence/);
    const after = await fingerprint(url);
    // The advance itself cannot be taken back (that is why the plan stops); nothing else moved.
    for (const key of Object.keys(before))
      if (key !== 'sequence public.wp_seq') expect(after[key], key).toBe(before[key]);
  });

  it('refuses an apply whose rows would get other values than planned, and applies nothing', async () => {
    const plan = await planWrite(context(), {
      command: 'test',
      sql: 'update wp_parent set v = md5(random()::text) where id = 2',
    });
    const before = await fingerprint(url);
    const failure = await refusal(applyWrite(context(), plan, { undoDir: undoDir() }));
    expect(failure.code).toBe('write.drift');
    expect(failure.message).toMatch(/column v of row \[2\] of wp_parent differs from the plan/);
    expect(await fingerprint(url)).toEqual(before);

    // now() is the plan's time in the plan and the apply's in the apply: the same value.
    const stamped = await write(
      "update wp_parent set v = 'stamped ' || extract(epoch from now())::text where id = 2",
    ).catch((error: unknown) => error);
    expect(stamped).toBeInstanceOf(CoderdbError); // text derived from now() is a different value
    const timed = await planWrite(context(), {
      command: 'test',
      sql: "update wp_parent set v = 'timed' where id = 2 and now() is not null",
    });
    expect((await applyWrite(context(), timed, { undoDir: undoDir() })).statements[0]!.rowCount).toBe(1);
  });

  it('applies an INSERT with generated keys exactly as planned', async () => {
    const plan = await planWrite(context(), {
      command: 'test',
      sql: 'insert into wp_parent (id, v) select 10 + g, md5(random()::text) from generate_series(1, 2) g',
    });
    await applyWrite(context(), plan, { undoDir: undoDir() });
    const rows = (await other.query('select id, v from wp_parent where id > 10 order by id')).rows;
    expect(rows).toEqual(plan.statements[0]!.after.map((row) => ({ id: row.id, v: row.v })));
    await other.query('delete from wp_parent where id > 10');
  });

  it('needs --allow-all-rows for a change of every row, whatever the WHERE says', async () => {
    const before = await fingerprint(url);
    for (const sql of [
      'update wp_parent set n = n where id = id',
      'delete from wp_trig where id > 0',
      'insert into wp_parent (id, v) select id, v from wp_parent on conflict (id) do update set n = excluded.n',
    ]) {
      const failure = await refusal(planWrite(context(), { command: 'test', sql }));
      expect(failure.code, sql).toBe('guard.all-rows');
      expect(failure.message, sql).toMatch(/changes all \d+ rows of/);
    }
    expect(await fingerprint(url)).toEqual(before);
    const allowed = await planWrite(context(), {
      command: 'test',
      sql: 'update wp_parent set n = n where id = id',
      allowAllRows: true,
    });
    expect(allowed.statements[0]!.rowCount).toBe(4);
    // A table of one row: selecting that row is an ordinary change.
    const single = await planWrite(context(), {
      command: 'test',
      sql: "update wp_single set v = 'x' where id = 1",
    });
    expect(single.statements[0]!.rowCount).toBe(1);
  });

  it('shows what cascades and triggers change, and needs --no-undo for it', async () => {
    const plan = await planWrite(context(), { command: 'test', sql: 'delete from wp_parent where id = 1' });
    expect(plan.statements[0]!.alsoChanges).toEqual([
      { table: 'public.wp_child', inserted: 0, updated: 0, deleted: 3 },
    ]);
    const before = await fingerprint(url);
    const failure = await refusal(write('delete from wp_parent where id = 1'));
    expect(failure.code).toBe('write.no-undo');
    expect(failure.message).toMatch(/also changes 3 rows of public\.wp_child \(3 deleted\)/);
    expect(await fingerprint(url)).toEqual(before);

    // Coder's own trigger: a status change records a row in user_status_changes.
    const status = await planWrite(context(), {
      command: 'test',
      sql: "update users set status = 'suspended' where username = 'admin'",
    });
    expect(status.statements[0]!.alsoChanges).toEqual([
      { table: 'public.user_status_changes', inserted: 1, updated: 0, deleted: 0 },
    ]);

    const applied = await write('delete from wp_parent where id = 1', { allowNoUndo: true });
    expect(applied.applied!.statements[0]!.rowCount).toBe(1);
    expect((await value('select count(*)::int as n from wp_child')).n).toBe(0);
    await other.query(
      "insert into wp_parent (id, v) values (1, 'p1'); insert into wp_child select g, 1 from generate_series(1, 3) g",
    );
  });

  it('shows trigger changes in the CLI plan and refuses them without --no-undo, in one line', async () => {
    const sql = "update users set status = 'suspended' where username = 'admin'";
    const before = await fingerprint(url);
    const dry = await sandbox.run(['query', '--write', '--dry-run', sql]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'also changes: 1 row of public.user_status_changes (1 inserted) (trigger, rule or cascade; not in the undo file)',
    );
    const refused = await sandbox.run(['query', '--write', '--yes', sql]);
    expect(refused.code).toBe(4);
    expect(refused.stderr.split('\n')[0]).toMatch(
      /^coderdb: refused statement 1 \(UPDATE\): it also changes 1 row of public\.user_status_changes/,
    );
    const allRows = await sandbox.run([
      'query',
      '--write',
      '--dry-run',
      'update wp_parent set n = n where id = id',
    ]);
    expect(allRows.code).toBe(4);
    expect(allRows.stderr).toContain('--allow-all-rows');
    expect(await fingerprint(url)).toEqual(before);
  });

  it('writes and undoes over exec and tunnel, leaving the whole database as it was', async () => {
    for (const transport of ['exec', 'tunnel']) {
      const before = await fingerprint(url);
      const sql = `update wp_parent set v = 'over ${transport}', n = n + 100 where id = 2`;
      const applied = await sandbox.run(['--transport', transport, 'query', '--write', '--yes', sql]);
      expect(applied.code, applied.stderr).toBe(0);
      expect((await value('select v from wp_parent where id = 2')).v).toBe(`over ${transport}`);
      const file = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
      const undone = await sandbox.run(['--transport', transport, 'undo', file, '--yes']);
      expect(undone.code, undone.stderr).toBe(0);
      expect(await fingerprint(url)).toEqual(before);
    }
  });

  it('never overwrites a change committed between plan and apply', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      let before: Record<string, string> = {};
      const failure = await refusal(
        performWrite(
          context(),
          { command: 'test', sql: `update wp_parent set v = 'mine ${attempt}' where id = 3` },
          {
            undoDir: undoDir(),
            confirm: async () => {
              // Another column of the planned row changes after the plan and before the apply.
              await other.query('update wp_parent set n = n + 1 where id = 3');
              before = await fingerprint(url);
              return true;
            },
          },
        ),
      );
      expect(failure.code).toBe('write.drift');
      expect(failure.message).toMatch(/changed since the plan/);
      expect(await fingerprint(url)).toEqual(before);
    }
    expect((await value('select n from wp_parent where id = 3')).n).toBe(3);
  });

  it('never overwrites a change committed after the write, before or during the undo', async () => {
    const applied = await write("update wp_parent set v = 'to undo' where id = 4");
    const file = applied.applied!.undoFile!;
    // Committed between the undo's plan and its apply: refused, the change kept.
    let kept: Record<string, string> = {};
    const failure = await refusal(
      performUndo(context(), file, {
        undoDir: undoDir(),
        confirm: async () => {
          await other.query('update wp_parent set n = n + 10 where id = 4');
          kept = await fingerprint(url);
          return true;
        },
      }),
    );
    expect(failure.code).toBe('undo.conflict');
    expect(await fingerprint(url)).toEqual(kept);

    // Racing: an increment committed while undos run is either refused before or applied after it.
    for (let attempt = 0; attempt < 4; attempt++) {
      const write4 = await write(`update wp_parent set v = 'race ${attempt}' where id = 4`);
      const start = Number((await value('select n from wp_parent where id = 4')).n);
      const racer = (async () => {
        await new Promise((resolve) => setTimeout(resolve, attempt * 40));
        await other.query('update wp_parent set n = n + 1 where id = 4');
      })();
      const undo = await performUndo(context(), write4.applied!.undoFile!, {
        undoDir: undoDir(),
        confirm: async () => true,
      }).then(
        () => 'undone',
        (error: unknown) => (error as CoderdbError).code,
      );
      await racer;
      expect(['undone', 'undo.conflict', 'write.drift']).toContain(undo);
      const row = await value('select v, n from wp_parent where id = 4');
      expect(Number(row.n), `attempt ${attempt}: ${undo}`).toBe(start + 1);
    }
  });

  it('refuses an undo file of another database unless forced', async () => {
    const applied = await write("update wp_single set v = 'other db' where id = 1");
    const file = applied.applied!.undoFile!;
    const undo = JSON.parse(readFileSync(file, 'utf8'));
    expect(undo.identity.database).toBe(undo.database);
    expect(undo.identity.systemIdentifier).toMatch(/^\d+$/);
    const foreign = join(sandbox.dir, 'foreign-undo.json');
    writeFileSync(
      foreign,
      JSON.stringify({ ...undo, identity: { ...undo.identity, systemIdentifier: '1' } }),
    );
    const before = await fingerprint(url);
    const failure = await refusal(
      performUndo(context(), foreign, { undoDir: undoDir(), confirm: async () => true }),
    );
    expect(failure.code).toBe('undo.other-database');
    expect(failure.message).toMatch(/cluster 1/);
    expect(await fingerprint(url)).toEqual(before);
    const renamed = join(sandbox.dir, 'renamed-undo.json');
    writeFileSync(
      renamed,
      JSON.stringify({
        ...undo,
        database: 'elsewhere',
        identity: { ...undo.identity, database: 'elsewhere' },
      }),
    );
    expect(
      (await refusal(performUndo(context(), renamed, { undoDir: undoDir(), confirm: async () => true })))
        .code,
    ).toBe('undo.other-database');
    const forced = await performUndo(context(), foreign, {
      undoDir: undoDir(),
      confirm: async () => true,
      force: true,
    });
    expect(forced.applied!.statements[0]!.rowCount).toBe(1);
    expect((await value('select v from wp_single where id = 1')).v).toBe('only');
  });
});
