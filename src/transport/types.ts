// The seam every command stands on. A Transport opens sessions to the database; a session runs one
// statement at a time and streams what it returns as events. Direct (node-postgres), exec (psql in
// the ECS task over the SSM data channel) and tunnel (SSM port forwarding + node-postgres) all
// implement it, so every command works over every transport with the same results.
//
// Statements are plain SQL text; values are inlined as literals by the caller (src/sql/literal.ts)
// so that the exec transport, which drives psql, needs no parameter protocol.

import type { TransportName } from '../core/config.js';
import type { DisabledLayers } from '../core/layers.js';
import type { Field, RawRow } from '../core/pgtypes.js';

export type QueryEvent =
  /** The result has columns; sent once, before any rows. */
  | { kind: 'fields'; fields: Field[] }
  /** A batch of rows in text format, in order. */
  | { kind: 'rows'; rows: RawRow[] }
  /** The statement finished. `rowCount` is the count from the command tag, when it has one. */
  | { kind: 'done'; command: string; rowCount: number | null }
  /** A NOTICE or WARNING the server sent. */
  | { kind: 'notice'; severity: string; message: string }
  /** Data of a COPY … TO STDOUT, as the server formatted it. */
  | { kind: 'copy'; data: Buffer };

export interface ServerInfo {
  /** server_version_num, e.g. 150004. */
  versionNum: number;
  version: string;
  database: string;
  user: string;
}

/** A session's transport as the audit log names it: a warm holder's sessions say `(reused)`. */
export type SessionTransport = TransportName | 'tunnel (reused)' | 'exec (reused)';

export interface DbSession {
  readonly transport: SessionTransport;
  readonly server: ServerInfo;
  /** Whether `COPY … TO STDOUT` streams its data as `copy` events (used for fast CSV export). */
  readonly copyOut?: boolean;
  /**
   * Runs one statement and yields its events. Pull-based: the transport reads more from the
   * network only as the consumer asks, so results of any size stream in bounded memory.
   * Database errors are thrown as CoderdbError of kind `sql` with the SQLSTATE.
   */
  execute(sql: string): AsyncIterable<QueryEvent>;
  /**
   * Asks the server to cancel the statement running now (PostgreSQL's CancelRequest), leaving the
   * session usable: the statement fails with SQLSTATE 57014. Transports that cannot leave it out.
   */
  cancel?(): Promise<void>;
  /**
   * Runs `around.before`, the statement, then each of `around.after`, written to the server
   * together so that the whole costs one network round trip, with the guarantees of running them
   * one by one: a `before` statement that fails stops the statement from running at all (the
   * server skips to the next Sync: it is never parsed) and is thrown marked with its index
   * (failedBefore); each `after` statement runs whatever the statement did (a ROLLBACK), in its
   * own Sync; only the statement's events are yielded. Sessions that cannot leave it out (the
   * caller then runs them one at a time).
   */
  executeAround?(sql: string, around: Around): AsyncIterable<QueryEvent>;
  close(): Promise<void>;
}

/** coderdb's own statements sent with one statement (DbSession.executeAround). */
export interface Around {
  /** Run first, in order; a non-empty list opens the transaction (begins with BEGIN). */
  before: readonly string[];
  /** Run after the statement, each on its own, whatever happened to it. */
  after: readonly string[];
}

const failedBeforeIndex = new WeakMap<object, number>();

/** Marks an error as the failure of `around.before[index]` (the statement did not run). */
export function markFailedBefore<T>(error: T, index: number): T {
  if (typeof error === 'object' && error !== null) failedBeforeIndex.set(error, index);
  return error;
}

/** The index in `around.before` of the statement whose failure this is, if it is one. */
export function failedBefore(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? failedBeforeIndex.get(error) : undefined;
}

export interface OpenOptions {
  /** Appears in pg_stat_activity as application_name. */
  applicationName?: string;
  signal?: AbortSignal;
  /** Test-only (see src/core/layers.ts): defence layers switched off. */
  disabledLayers?: DisabledLayers;
  /**
   * A read session (src/transport/session-guard.ts): read-only at the session level, with these
   * timeouts, and ended when a watched setting changes. Absent: a session that may write.
   */
  read?: ReadSessionOptions;
  /** `reader`: connect as the profile's read-only reader role when it has one (read sessions). */
  role?: 'main' | 'reader';
}

export interface ReadSessionOptions {
  /** statement_timeout for the whole session; 0 for none. */
  statementTimeoutMs: number;
  /** lock_timeout for the whole session; 0 for none. */
  lockTimeoutMs: number;
}

export interface Transport {
  readonly name: TransportName;
  /** One line naming where the transport connects, with no secret in it (for audit and errors). */
  describe(): string;
  open(options?: OpenOptions): Promise<DbSession>;
}

/** What executeAround means, one statement at a time, for sessions that cannot send them together. */
export async function* aroundOneByOne(
  session: DbSession,
  sql: string,
  around: Around,
): AsyncGenerator<QueryEvent> {
  const drain = async (statement: string) => {
    for await (const _event of session.execute(statement)) {
      // drained
    }
  };
  for (const [index, statement] of around.before.entries()) {
    await drain(statement).catch((error: unknown) => {
      throw markFailedBefore(error, index);
    });
  }
  try {
    yield* session.execute(sql);
  } finally {
    for (const statement of around.after) await drain(statement).catch(() => undefined);
  }
}
