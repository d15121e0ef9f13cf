// The reader role, on PGlite and PostgreSQL 15: `setup reader-role`'s SQL applied through the real
// write path makes a role that reads every table; read sessions of a profile with readerUrl connect
// as it; and a write smuggled past every other layer (guard bypassed, the read-only transaction
// ended, session defaults switched back) is refused by PostgreSQL itself, the fingerprint of the
// database unchanged. doctor's reader.role check tells the two set-ups apart. PGlite's socket
// server serves one user whatever the startup message names, so there the reader role cannot hold:
// the test shows that the doctor's question sees exactly that.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPglite } from '../../../sandbox/engines/pglite.js';
import { startPostgresEngine } from '../../../sandbox/engines/postgres.js';
import { findPostgresBinDir } from '../../../sandbox/engines/postgres-server.js';
import type { RunningDatabase } from '../../../sandbox/engines/types.js';
import { type CoderdbContext, createContext } from '../../../src/context.js';
import { DEFAULTS, type Profile } from '../../../src/core/config.js';
import { type CoderdbError, isCoderdbError } from '../../../src/core/errors.js';
import { SAFETY_LAYERS } from '../../../src/core/layers.js';
import { Secret } from '../../../src/core/secret.js';
import { Db, withReadSession } from '../../../src/ops/db.js';
import { READER_PRIVILEGES_SQL } from '../../../src/ops/doctor/checks/reader.js';
import { DEFAULT_READER, readerRoleFacts, readerRoleSql } from '../../../src/ops/setup/reader-role.js';
import { performWrite } from '../../../src/ops/write/index.js';
import { fingerprint } from '../../helpers/fingerprint.js';

const FIXTURE = `
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
CREATE SEQUENCE s START 100;
CREATE SCHEMA other;
CREATE TABLE other.o (id int PRIMARY KEY);
INSERT INTO other.o VALUES (7);
`;

const SMUGGLED = [
  "UPDATE t SET v = 'smuggled'",
  "INSERT INTO t VALUES (3, 'c')",
  'DELETE FROM t',
  'TRUNCATE t',
  'DELETE FROM other.o',
  "SELECT nextval('s')",
  "SELECT setval('s', 1)",
  'CREATE TABLE public.planted (id int)',
  'DROP TABLE t',
];

const ENGINES = [
  {
    name: 'PGlite',
    available: true,
    separateUsers: false,
    start: (dir: string) => startPglite({ fixture: FIXTURE, cacheDir: dir }),
  },
  {
    name: 'PostgreSQL 15',
    available: findPostgresBinDir(15) !== undefined,
    separateUsers: true,
    start: () => startPostgresEngine({ fixture: FIXTURE }),
  },
];

function readerUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = DEFAULT_READER;
  parsed.password = '';
  return parsed.toString();
}

describe.each(ENGINES)('reader role on $name', (engine) => {
  let dir: string;
  let database: RunningDatabase | undefined;
  let main: CoderdbContext;
  let reader: CoderdbContext;

  beforeAll(async () => {
    if (!engine.available) return;
    dir = mkdtempSync(join(tmpdir(), 'coderdb-reader-'));
    database = await engine.start(join(dir, 'cache'));
    const profile: Profile = { name: 'reader-test', ...DEFAULTS, url: new Secret(database.url) };
    main = createContext({ resolvedProfile: profile, auditFile: join(dir, 'audit.jsonl') });
    reader = createContext({
      resolvedProfile: { ...profile, readerUrl: new Secret(readerUrl(database.url)) },
      auditFile: join(dir, 'audit.jsonl'),
      // Every layer coderdb has is off: only the role's own rights are left.
      disabledLayers: new Set(SAFETY_LAYERS),
    });
  }, 240_000);

  afterAll(async () => {
    main?.dispose();
    reader?.dispose();
    await database?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const privileges = async (context: CoderdbContext) =>
    withReadSession(context, async (db) =>
      JSON.parse(String((await db.all(READER_PRIVILEGES_SQL)).rows[0]![0])),
    );

  it.skipIf(!engine.available)(
    'setup SQL applied through the write path creates a role that reads everything',
    async () => {
      const facts = await withReadSession(main, (db) => readerRoleFacts(db, DEFAULT_READER));
      expect(facts.exists).toBe(false);
      const sql = readerRoleSql(DEFAULT_READER, facts);
      expect(sql).toContain(
        facts.versionNum >= 140_000
          ? 'GRANT pg_read_all_data TO coderdb_reader;'
          : 'GRANT SELECT ON ALL TABLES',
      );
      const outcome = await performWrite(
        main,
        { command: 'setup reader-role', sql },
        { confirm: async () => true, allowNoUndo: true },
      );
      expect(outcome.applied).toBeTruthy();

      expect(await privileges(main)).toMatchObject({ superuser: true });
      const seen = await privileges(reader);
      if (!engine.separateUsers) {
        // The reader URL's user is ignored: the question doctor asks sees the superuser, and warns.
        expect(seen).toMatchObject({ superuser: true });
        return;
      }
      expect(seen).toEqual({ user: DEFAULT_READER, superuser: false, writable: [], owned: 0 });
      const rows = await withReadSession(
        reader,
        async (db) => (await db.all('SELECT o.id, t.v FROM other.o, t ORDER BY t.id')).rows,
      );
      expect(rows).toEqual([
        ['7', 'a'],
        ['7', 'b'],
      ]);
    },
  );

  it.skipIf(!engine.available || !engine.separateUsers)(
    'a write smuggled past every other layer is refused by PostgreSQL',
    async () => {
      const before = await fingerprint(database!.url);
      for (const statement of SMUGGLED) {
        const db = await Db.begin(reader, 'read');
        let failure: CoderdbError | undefined;
        try {
          // Out of coderdb's READ ONLY transaction, and back to read-write defaults.
          await db.run('ROLLBACK');
          await db.run('SET default_transaction_read_only = off');
          await db.run('BEGIN TRANSACTION READ WRITE');
          await db.run(statement);
          await db.run('COMMIT');
        } catch (error) {
          if (!isCoderdbError(error)) throw error;
          failure = error;
        } finally {
          await db.close();
        }
        expect(failure?.sqlState, `${statement}: ${failure?.message ?? 'not refused'}`).toBe('42501');
      }
      expect(await fingerprint(database!.url)).toEqual(before);
    },
  );
});
