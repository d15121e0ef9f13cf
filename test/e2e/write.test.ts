// The write path end to end: plan counts, exact undo, drift refusal, the audit log, and atomicity
// when coderdb is killed at any moment of an apply.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import { createContext } from '../../src/context.js';
import { AuditLog } from '../../src/core/audit.js';
import { loadProfile } from '../../src/core/config.js';
import { CoderdbError } from '../../src/core/errors.js';
import { Db, withReadSession } from '../../src/ops/db.js';
import { applyWrite, planWrite } from '../../src/ops/write/index.js';
import { CLI, json } from '../helpers/cli.js';
import { writeFingerprint as databaseFingerprint } from '../helpers/fingerprint.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

let sandbox: TestSandbox;
const run = (...args: string[]) => sandbox.run(args);

function libraryContext() {
  return createContext({
    resolvedProfile: loadProfile({
      configFile: join(sandbox.dir, 'no-config.json'),
      env: {},
      overrides: { url: sandbox.state.databaseUrl },
    }),
    auditFile: join(sandbox.dir, 'library-audit.jsonl'),
  });
}

/** md5 of every row of a table, in key order: equal fingerprints mean equal contents. */
async function fingerprint(table: string): Promise<string> {
  const context = libraryContext();
  try {
    return await withReadSession(context, async (db) => {
      const [row] = await db.objects<{ md5: string }>(
        `SELECT md5(coalesce(string_agg(to_jsonb(t.*)::text, E'\\n' ORDER BY t.id::text), '')) AS md5 FROM ${table} t`,
      );
      return row!.md5;
    });
  } finally {
    context.dispose();
  }
}

beforeAll(async () => {
  sandbox = await startSandbox();
  writeFileSync(join(sandbox.dir, 'no-config.json'), '{}');
});
afterAll(async () => {
  await sandbox?.stop();
});

describe('writes', () => {
  it('plans report the rows each statement changes, and change nothing', async () => {
    const before = await fingerprint('workspaces');
    const plan = json<{ applied: boolean; statements: { rowsPlanned: number }[] }>(
      await run(
        'query',
        '--write',
        '--dry-run',
        '--format',
        'json',
        "update workspaces set name = name || '-x' where not deleted; delete from workspaces where deleted",
      ),
    );
    const counts = json<{ live: number; dead: number }[]>(
      await run(
        'query',
        '--format',
        'json',
        'select count(*) filter (where not deleted) as live, count(*) filter (where deleted) as dead from workspaces',
      ),
    )[0]!;
    expect(plan.applied).toBe(false);
    expect(plan.statements.map((statement) => statement.rowsPlanned)).toEqual([counts.live, counts.dead]);
    expect(await fingerprint('workspaces')).toBe(before);
  });

  it('undo restores the exact before-image of updated, deleted and inserted rows', async () => {
    const before = { templates: await fingerprint('templates'), audit: await fingerprint('audit_logs') };
    const everything = await databaseFingerprint(sandbox.state.databaseUrl);
    const applied = await run(
      'query',
      '--write',
      '--yes',
      '--reason',
      'undo test',
      `update templates set description = 'changed', updated_at = now() where organization_id = '${DEMO.organizations.default.id}';
       delete from audit_logs where "time" < (select max("time") from audit_logs);
       insert into organizations (id, name, display_name, description, created_at, updated_at) select gen_random_uuid(), 'tmp-' || g, 'Tmp', '', now(), now() from generate_series(1, 3) g`,
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(await fingerprint('templates')).not.toBe(before.templates);
    const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
    const undone = await run('undo', undoFile, '--yes');
    expect(undone.code, undone.stderr).toBe(0);
    expect(await fingerprint('templates')).toBe(before.templates);
    expect(await fingerprint('audit_logs')).toBe(before.audit);
    expect(await databaseFingerprint(sandbox.state.databaseUrl)).toEqual(everything);
    const orgs = json<{ n: number }[]>(
      await run(
        'query',
        '--format',
        'json',
        "select count(*) as n from organizations where name like 'tmp-%'",
      ),
    );
    expect(orgs[0]!.n).toBe(0);

    const again = await run('undo', undoFile, '--yes');
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('changed after the write');
  });

  it('applies and undoes a write that has its own RETURNING clause', async () => {
    const before = await fingerprint('templates');
    const applied = await run(
      'query',
      '--write',
      '--yes',
      "update templates set description = description || ' (r)' where name = 'aws-linux' returning id, name",
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('1 row changed');
    const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
    expect((await run('undo', undoFile, '--yes')).code).toBe(0);
    expect(await fingerprint('templates')).toBe(before);
  });

  it('refuses to apply a plan when the rows changed since, and applies nothing', async () => {
    const context = libraryContext();
    try {
      const plan = await planWrite(context, {
        command: 'test',
        sql: "update templates set description = 'drift' where name = 'kubernetes'",
      });
      expect(plan.statements[0]!.rowCount).toBe(1);
      const other = await Db.begin(context, 'write');
      await other.run("update templates set name = 'kubernetes-renamed' where name = 'kubernetes'");
      await other.commit();
      await other.close();
      const before = await fingerprint('templates');
      const failure = await applyWrite(context, plan).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(CoderdbError);
      expect((failure as CoderdbError).code).toBe('write.drift');
      expect(await fingerprint('templates')).toBe(before);
    } finally {
      context.dispose();
    }
  });

  it('writes audit lines for plans, pending and committed applies, with the undo file and no secrets', async () => {
    const applied = await run(
      'templates',
      'set-description',
      DEMO.docker.secondOrg,
      'audited change',
      '--yes',
      '--reason',
      'TICKET-7',
    );
    expect(applied.code, applied.stderr).toBe(0);
    const entries = new AuditLog(join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'audit.jsonl')).read();
    const mine = entries.filter(
      (entry) => entry.command === 'templates set-description' && entry.reason === 'TICKET-7',
    );
    expect(mine.map((entry) => entry.outcome)).toEqual(['planned', 'commit-pending', 'committed']);
    const committed = mine.at(-1)!;
    expect(committed).toMatchObject({ profile: 'sandbox', transport: 'direct', rows: 1 });
    expect(committed.undoFile).toMatch(/\.json$/);
    expect(committed.statement).toContain('audited change');

    const role = await run(
      'query',
      '--write',
      '--yes',
      '--no-undo',
      "create role coderdb_audit_test password 'supersecretpw'",
    );
    expect(role.code, role.stderr).toBe(0);
    const log = readFileSync(join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'audit.jsonl'), 'utf8');
    expect(log).toContain('coderdb_audit_test');
    expect(log).not.toContain('supersecretpw');
    for (const secret of DEMO.secrets.current) expect(log).not.toContain(secret);
  });

  it('leaves the database unchanged or fully changed when coderdb is killed at any moment of an apply', async () => {
    const pair = "where id = (select id from templates where name = 'aws-linux')";
    const statement =
      `update templates set description = description || '!' ${pair};` +
      ` update users set name = name || '!' where username = 'admin'`;
    const bangs = async () => {
      const [row] = json<{ t: number; u: number }[]>(
        await run(
          'query',
          '--format',
          'json',
          `select (select length(description) - length(replace(description, '!', '')) from templates ${pair}) as t,
                  (select length(name) - length(replace(name, '!', '')) from users where username = 'admin') as u`,
        ),
      );
      return row!;
    };
    let committed = 0;
    // Delays spread from before the connection to after the commit.
    for (let attempt = 0; attempt < 8; attempt++) {
      const delay = 200 + attempt * 180;
      const child = spawn(process.execPath, [CLI, 'query', '--write', '--yes', statement], {
        env: sandbox.env,
        stdio: 'ignore',
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      const code = await exited;
      clearTimeout(timer);
      if (code === 0) committed += 1;
      const { t, u } = await bangs();
      expect(t).toBe(u);
    }
    const { t } = await bangs();
    expect(t).toBeGreaterThanOrEqual(committed);
  });
});
