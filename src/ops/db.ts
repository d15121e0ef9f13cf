// A database session as operations use it: opened on a transport inside a transaction whose mode
// PostgreSQL enforces (READ ONLY unless a write was asked for), with every statement an operator
// asked for written to the audit log.

import type { AuditInput, AuditLog } from '../core/audit.js';
import type { Profile } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import type { DisabledLayers } from '../core/layers.js';
import { type Field, type JsonValue, type RawRow, toJsonValue } from '../core/pgtypes.js';
import type { DbSession, QueryEvent, Transport } from '../transport/types.js';

export interface Context {
  profile: Profile;
  transport: Transport;
  audit: AuditLog;
  /** The AWS caller ARN if AWS was used; never triggers an AWS call by itself. */
  identity(): string | undefined;
  /** Aborts the sessions opened under this context (the CLI's Ctrl-C). */
  signal?: AbortSignal;
  /** Test-only (see src/core/layers.ts): defence layers switched off. */
  disabledLayers?: DisabledLayers;
  /** Set by `coderdb console`: every audit line of its statements carries this session id. */
  sessionId?: string;
}

export type Mode = 'read' | 'write';

export interface ResultSet {
  fields: Field[];
  rows: RawRow[];
  command: string;
  rowCount: number | null;
}

export interface AuditTag {
  /** The coderdb command that ran the statement, e.g. `query`, `templates set-description`. */
  command: string;
  /** The statement as it may be recorded (masked); defaults to the SQL run. */
  statement?: string;
}

/**
 * How long a write transaction may wait for coderdb between statements. Generous, because over exec
 * psql may still be carrying the previous statement's rows (row images for undo) at ~1 MB/s.
 */
function idleInWriteMs(statementTimeoutMs: number): number {
  return Math.max(60_000, 2 * Math.trunc(statementTimeoutMs));
}

/** How often a running statement checks that its client is still there. */
const CLIENT_CHECK_MS = 2_000;

export class Db {
  #open = true;
  #inTransaction = false;

  private constructor(
    private readonly session: DbSession,
    readonly context: Context,
    readonly mode: Mode,
  ) {}

  /** Opens a session and begins a transaction in the given mode. */
  static async begin(context: Context, mode: Mode, applicationName = 'coderdb'): Promise<Db> {
    const session = await context.transport.open({
      applicationName,
      ...(context.signal ? { signal: context.signal } : {}),
      ...(context.disabledLayers ? { disabledLayers: context.disabledLayers } : {}),
    });
    const db = new Db(session, context, mode);
    try {
      await db.beginTransaction();
    } catch (error) {
      await session.close();
      throw error;
    }
    return db;
  }

  get server() {
    return this.session.server;
  }

  get transportName() {
    return this.session.transport;
  }

  /** Whether COPY … TO STDOUT data streams through (see DbSession.copyOut). */
  get copyOut(): boolean {
    return Boolean(this.session.copyOut);
  }

  /**
   * Whether the server can notice, mid-statement, that its client has gone (PostgreSQL 14+).
   * Otherwise a statement whose client was interrupted, or whose session was terminated, runs on
   * to its end: the backend learns of it only when it next sends a row.
   */
  get #checksClient(): boolean {
    return this.session.server.versionNum >= 140_000;
  }

  async beginTransaction(): Promise<void> {
    if (this.mode === 'read') {
      await this.run('BEGIN TRANSACTION READ ONLY');
      // Taking a snapshot now makes the read-only mode final: PostgreSQL refuses to switch a
      // transaction to read-write once a query has run in it.
      await this.run(
        this.#checksClient
          ? `SELECT set_config('client_connection_check_interval', '${CLIENT_CHECK_MS}', true)`
          : 'SELECT 1',
      );
    } else {
      const { statementTimeoutMs, lockTimeoutMs } = this.context.profile;
      await this.run('BEGIN TRANSACTION READ WRITE');
      await this.run(`SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
      await this.run(`SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`);
      // If coderdb dies mid-write without its session being ended (kill -9, a lost network), psql
      // in the task or the tunnel's agent may keep the connection, and this transaction its row
      // locks, until the SSM session times out; the server ends it much sooner on its own.
      await this.run(`SET LOCAL idle_in_transaction_session_timeout = ${idleInWriteMs(statementTimeoutMs)}`);
      if (this.#checksClient)
        await this.run(`SET LOCAL client_connection_check_interval = ${CLIENT_CHECK_MS}`);
    }
    this.#inTransaction = true;
  }

  /** Streams one statement's events; audited when `audit` is given. */
  async *stream(sql: string, audit?: AuditTag): AsyncGenerator<QueryEvent> {
    this.assertOpen();
    const started = performance.now();
    let rows: number | null = null;
    try {
      for await (const event of this.session.execute(sql)) {
        if (event.kind === 'done') rows = event.rowCount;
        yield event;
      }
      if (audit) this.record(audit, sql, { outcome: 'ok', rows, durationMs: performance.now() - started });
    } catch (error) {
      if (audit) {
        this.record(audit, sql, {
          outcome: 'error',
          error: error instanceof Error ? error.message : String(error),
          durationMs: performance.now() - started,
        });
      }
      throw error;
    }
  }

  /** Runs a statement and collects its result (for results known to be small). */
  async all(sql: string, audit?: AuditTag): Promise<ResultSet> {
    const result: ResultSet = { fields: [], rows: [], command: '', rowCount: null };
    for await (const event of this.stream(sql, audit)) {
      if (event.kind === 'fields') result.fields = event.fields;
      else if (event.kind === 'rows') for (const row of event.rows) result.rows.push(row);
      else if (event.kind === 'done') {
        result.command = event.command;
        result.rowCount = event.rowCount;
      }
    }
    return result;
  }

  /** Rows as objects with typed values. */
  async objects<T = Record<string, JsonValue>>(sql: string, audit?: AuditTag): Promise<T[]> {
    return toObjects(await this.all(sql, audit)) as T[];
  }

  async run(sql: string): Promise<void> {
    for await (const _event of this.session.execute(sql)) {
      // drained
    }
  }

  async commit(): Promise<void> {
    this.assertOpen();
    await this.run('COMMIT');
    this.#inTransaction = false;
  }

  async rollback(): Promise<void> {
    if (!this.#inTransaction) return;
    this.#inTransaction = false;
    await this.run('ROLLBACK');
  }

  /** Rolls back anything uncommitted and closes the session. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      if (this.#inTransaction) await this.run('ROLLBACK').catch(() => undefined);
    } finally {
      await this.session.close();
    }
  }

  record(
    audit: AuditTag,
    sql: string,
    result: Pick<AuditInput, 'outcome' | 'rows' | 'error' | 'durationMs' | 'undoFile' | 'reason'>,
    options: { durable?: boolean } = {},
  ): void {
    this.context.audit.append(
      {
        identity: this.context.identity(),
        profile: this.context.profile.name,
        transport: this.session.transport,
        target: this.context.transport.describe(),
        command: audit.command,
        statement: audit.statement ?? sql,
        ...result,
        ...(this.context.sessionId ? { session: this.context.sessionId } : {}),
        ...(result.durationMs === undefined ? {} : { durationMs: Math.round(result.durationMs) }),
      },
      options,
    );
  }

  private assertOpen(): void {
    if (!this.#open) throw new CoderdbError('internal', 'db.closed', 'the database session is closed');
  }
}

export function toObjects(result: ResultSet): Record<string, JsonValue>[] {
  return result.rows.map((row) => {
    const object: Record<string, JsonValue> = {};
    result.fields.forEach((field, index) => {
      object[field.name] = toJsonValue(row[index] ?? null, field.type);
    });
    return object;
  });
}

/** Runs `work` in a read-only session and always closes it. */
export async function withReadSession<T>(context: Context, work: (db: Db) => Promise<T>): Promise<T> {
  const db = await Db.begin(context, 'read');
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}
