// What every corpus run shares: the fixture the inputs are written against, running one input
// through the read path, and judging what came back. The runs themselves (direct on two engines,
// exec and tunnel through a sandbox, each safety layer alone) are the *.test.ts files beside
// test/sql/corpus/.

import { Writable } from 'node:stream';
import { startPglite } from '../../../sandbox/engines/pglite.js';
import { startPostgresEngine } from '../../../sandbox/engines/postgres.js';
import { findPostgresBinDir } from '../../../sandbox/engines/postgres-server.js';
import type { RunningDatabase } from '../../../sandbox/engines/types.js';
import type { CoderdbContext } from '../../../src/context.js';
import { isCoderdbError } from '../../../src/core/errors.js';
import type { ResultWriter } from '../../../src/core/output/formats.js';
import { runReadQuery } from '../../../src/ops/query.js';
import type { GuardCase, ServerBehaviour } from '../cases.js';

/**
 * Tables, a sequence, a view and a materialized view, user functions of every kind the layers must
 * see through (volatile, opaque, BEGIN ATOMIC, over a whole row), a view and a row-level security
 * policy over a volatile function, a domain and an operator that call one, a table with triggers
 * that write, and a large object. Unqualified, so that it can also be loaded into a schema of its
 * own next to Coder's (the sandbox, for exec and tunnel) with that schema first on the search path.
 */
export const FIXTURE = `
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text);
INSERT INTO users SELECT g, 'user' || g, 'u' || g || '@example.com' FROM generate_series(1, 50) AS g;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TABLE events (id bigserial PRIMARY KEY, note text);
INSERT INTO events (note) VALUES ('created'), ('updated');
CREATE SEQUENCE s START 100;
SELECT nextval('s');
CREATE VIEW v_users AS SELECT id, name FROM users;
CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM users;
CREATE FUNCTION bump() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$;
CREATE FUNCTION wipe() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; END $$;
CREATE PROCEDURE p_wipe() LANGUAGE sql AS $$ DELETE FROM t $$;
COMMENT ON TABLE t IS 'guard test';
SELECT lo_from_bytea(0, 'a large object'::bytea);
CREATE TABLE accounts (id int PRIMARY KEY, login text, hashed_password bytea, token text);
INSERT INTO accounts VALUES (1, 'alice', '\\x00ff', 'tok-alice'), (2, 'bob', '\\x0102', 'tok-bob');
CREATE TABLE audited (id int PRIMARY KEY, v text);
CREATE TABLE audit_log (n bigint, op text);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO audit_log VALUES (nextval('s'), TG_OP); RETURN NULL; END $$;
INSERT INTO audited VALUES (1, 'a'), (2, 'b');
CREATE TRIGGER audited_row AFTER INSERT OR UPDATE OR DELETE ON audited FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER audited_truncate AFTER TRUNCATE ON audited FOR EACH STATEMENT EXECUTE FUNCTION audit_row();
CREATE VIEW v_audited AS SELECT * FROM audited;
CREATE VIEW v_bump AS SELECT bump() AS n;
CREATE VIEW v_over_bump AS SELECT n FROM v_bump;
CREATE FUNCTION liar() RETURNS boolean STABLE LANGUAGE sql AS $$
  SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'coderdb-bystander' $$;
CREATE FUNCTION atomic_liar() RETURNS boolean STABLE LANGUAGE sql
  BEGIN ATOMIC SELECT pg_try_advisory_lock(98); END;
CREATE FUNCTION harmless(x int) RETURNS int IMMUTABLE LANGUAGE sql BEGIN ATOMIC SELECT x + 1; END;
CREATE FUNCTION row_bump(t) RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$;
CREATE FUNCTION vol_eq(int, int) RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('s') > 0 $$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = vol_eq);
CREATE DOMAIN d_bump AS bigint CHECK (VALUE < bump());
CREATE VIEW v_liar AS SELECT atomic_liar() AS x;
CREATE TABLE secured (id int, v text);
CREATE POLICY secured_bump ON secured USING (bump() > 0);
ALTER TABLE secured ENABLE ROW LEVEL SECURITY;
`;

/** Each input gets at most this long. */
export const RUN_TIMEOUT_MS = 30_000;

export function within<T>(promise: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${label}: no answer within ${RUN_TIMEOUT_MS} ms`)),
      RUN_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A writer that counts what it is given (rows, COPY bytes, finished statements). */
export class CountingWriter implements ResultWriter {
  rowCount = 0;
  bytes = 0;
  statements = 0;
  async startRaw(): Promise<void> {}
  async start(): Promise<void> {}
  async rows(rows: unknown[]): Promise<void> {
    this.rowCount += rows.length;
  }
  async raw(data: Buffer): Promise<void> {
    this.bytes += data.length;
  }
  async end(): Promise<void> {
    this.statements += 1;
  }
  async finish(): Promise<void> {}
}

export const discard = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

export interface Observed {
  /** `ok`, or the kind of the CoderdbError. */
  result: string;
  code?: string;
  sqlState?: string;
  message?: string;
  statements?: number;
}

export function describeError(error: unknown): Observed {
  if (!isCoderdbError(error)) {
    // Anything but a CoderdbError is a crash as far as a user is concerned.
    return {
      result: 'crash',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
  return { result: error.kind, code: error.code, sqlState: error.sqlState, message: error.message };
}

export async function runRead(
  context: CoderdbContext,
  entry: GuardCase,
  writer: ResultWriter,
): Promise<Observed> {
  try {
    await within(runReadQuery(context, entry.sql, writer), entry.name);
    return { result: 'ok' };
  } catch (error) {
    return describeError(error);
  }
}

/** Why the observed result is not what the input should give with every layer on, or undefined. */
export function mismatch(entry: GuardCase, observed: Observed, statements?: number): string | undefined {
  if (
    observed.message !== undefined &&
    (/\n/.test(observed.message) || /\bat .*:\d+:\d+/.test(observed.message))
  ) {
    return `message is not one line: ${observed.message}`;
  }
  switch (entry.expect) {
    case 'usage':
      if (observed.result !== 'usage' || (entry.code && observed.code !== entry.code))
        return 'expected usage error';
      return undefined;
    case 'write':
    case 'forbidden':
      if (observed.result !== 'refused' || !observed.code?.startsWith('guard.'))
        return 'expected a guard refusal';
      return undefined;
    case 'read':
      if (entry.catalog) {
        return observed.result === 'refused' && observed.code?.startsWith('function-catalog.')
          ? undefined
          : 'expected the function-catalog layer to refuse it';
      }
      if (entry.redaction === 'refuses') {
        return observed.result === 'refused' && observed.code === 'redaction.unprovable'
          ? undefined
          : 'expected the redaction layer to refuse it';
      }
      if (entry.server === 'refuses') {
        return observed.result === 'sql' && observed.sqlState === '25006'
          ? undefined
          : 'expected PostgreSQL to refuse it (25006)';
      }
      if (observed.result === 'ok') {
        return statements === undefined || observed.statements === statements
          ? undefined
          : `${observed.statements} of ${statements} statements finished`;
      }
      if (observed.result !== 'sql') return 'expected it to run, or a database error';
      if (observed.sqlState === '25006')
        return 'a read the guard allowed was refused as a write by PostgreSQL';
      return undefined;
  }
}

/** Outcomes that are fine whatever the layers: never a crash, never a message of several lines. */
export function brokenOutcome(observed: Observed): string | undefined {
  if (observed.result === 'crash') return `crashed: ${observed.message}`;
  if (observed.message !== undefined && /\n/.test(observed.message))
    return `message is not one line: ${observed.message}`;
  return undefined;
}

export const behaviourOf = (entry: GuardCase): ServerBehaviour | undefined =>
  entry.expect === 'read' || entry.expect === 'usage' ? undefined : (entry.server ?? 'refuses');

export interface Engine {
  id: 'pglite' | 'postgres';
  name: string;
  available: boolean;
  start(cacheDir: string): Promise<RunningDatabase>;
}

export const ENGINES: Engine[] = [
  {
    id: 'pglite',
    name: 'PGlite',
    available: true,
    start: (cacheDir) => startPglite({ fixture: FIXTURE, cacheDir }),
  },
  {
    id: 'postgres',
    name: 'PostgreSQL 15',
    available: findPostgresBinDir(15) !== undefined,
    start: () => startPostgresEngine({ fixture: FIXTURE }),
  },
];
