// A database session as operations use it: opened on a transport inside a transaction whose mode
// PostgreSQL enforces (READ ONLY unless a write was asked for), with every statement an operator
// asked for written to the audit log.

import { type AuditInput, type AuditLog, markAudited, wasAudited } from '../core/audit.js';
import type { Profile } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import { type DisabledLayers, layerOn } from '../core/layers.js';
import { type Field, type JsonValue, type RawRow, toJsonValue } from '../core/pgtypes.js';
import type { DbSession, QueryEvent, ReadSessionOptions, Transport } from '../transport/types.js';

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
  /** Told of every database session opened under this context (the CLI's context line). */
  onSessionOpen?: (session: { transport: string; server: DbSession['server']; where: string }) => void;
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
  /** Rewrites a failure before it is recorded or thrown (values of credentials scrubbed). */
  scrubError?: (error: unknown) => unknown;
}

/**
 * How long a write transaction may wait for coderdb between statements. Generous, because over exec
 * psql may still be carrying the previous statement's rows (row images for undo) at ~1 MB/s.
 */
function idleInWriteMs(statementTimeoutMs: number): number {
  return Math.max(60_000, 2 * Math.trunc(statementTimeoutMs));
}

/** The timeouts of a read session (the profile's; 0 for none). */
function readSessionOptions(profile: Profile): ReadSessionOptions {
  return { statementTimeoutMs: profile.readStatementTimeoutMs, lockTimeoutMs: profile.readLockTimeoutMs };
}

/** How often a running statement checks that its client is still there. */
const CLIENT_CHECK_MS = 2_000;

export class Db {
  #open = true;
  #inTransaction = false;
  /**
   * The statements that open a read transaction, not sent yet: where the session can, they travel
   * with the first statement of the transaction (DbSession.executeAround), in the same round trip
   * and still before it, and a failure of theirs keeps it from running.
   */
  #pending: string[] = [];

  private constructor(
    private readonly session: DbSession,
    readonly context: Context,
    readonly mode: Mode,
  ) {}

  /** Opens a session and begins a transaction in the given mode. */
  static async begin(context: Context, mode: Mode, applicationName = 'coderdb'): Promise<Db> {
    const session = await context.transport.open({
      applicationName,
      // Reads run as the profile's reader role when it has one: PostgreSQL then refuses any write.
      ...(mode === 'read' ? { role: 'reader' as const } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
      ...(context.disabledLayers ? { disabledLayers: context.disabledLayers } : {}),
      ...(mode === 'read' ? { read: readSessionOptions(context.profile) } : {}),
    });
    const db = new Db(session, context, mode);
    context.onSessionOpen?.({
      transport: session.transport,
      server: session.server,
      where: context.transport.describe(),
    });
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
      // The session is read-only as well (default_transaction_read_only, set by the transport).
      const readOnly = layerOn(this.context.disabledLayers, 'transaction-read-only');
      const opening = [
        readOnly ? 'BEGIN TRANSACTION READ ONLY' : 'BEGIN',
        // Taking a snapshot now makes the read-only mode final: PostgreSQL refuses to switch a
        // transaction to read-write once a query has run in it.
        this.#checksClient
          ? `SELECT set_config('client_connection_check_interval', '${CLIENT_CHECK_MS}', true)`
          : 'SELECT 1',
      ];
      if (this.session.executeAround) this.#pending = opening;
      else for (const statement of opening) await this.run(statement);
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

  /**
   * Streams one statement's events; audited when `audit` is given. `last`: no statement follows in
   * this transaction, so a read's ROLLBACK can travel with it (and close() has nothing left to do).
   */
  async *stream(sql: string, audit?: AuditTag, options: { last?: boolean } = {}): AsyncGenerator<QueryEvent> {
    this.assertOpen();
    // Logged before the statement runs: no row reaches the operator unrecorded, and an audit log
    // that cannot be written stops the statement here, before it has run.
    if (audit) this.record(audit, sql, { outcome: 'started' });
    // A profile with auditRequired: the shared trail must have taken that line before it runs.
    if (audit && this.context.audit.sinkRequired) await this.#sinkAccepted(audit, sql);
    const started = performance.now();
    let rows: number | null = null;
    let settled = false;
    try {
      for await (const event of this.#send(sql, options.last)) {
        if (event.kind === 'done') rows = event.rowCount;
        yield event;
      }
      settled = true;
      if (audit) this.record(audit, sql, { outcome: 'ok', rows, durationMs: performance.now() - started });
    } catch (raw) {
      settled = true;
      const error = audit?.scrubError ? audit.scrubError(raw) : raw;
      if (audit && !isAuditFailure(error)) {
        this.record(audit, sql, {
          outcome: 'error',
          error: error instanceof Error ? error.message : String(error),
          durationMs: performance.now() - started,
        });
      }
      throw error;
    } finally {
      // The consumer stopped before the end (its output failed, or it found the result short).
      if (audit && !settled) {
        this.record(audit, sql, {
          outcome: 'incomplete',
          rows,
          error: 'the result was not delivered whole',
          durationMs: performance.now() - started,
        });
      }
    }
  }

  async #sinkAccepted(audit: AuditTag, sql: string): Promise<void> {
    try {
      await this.context.audit.accepted();
    } catch (error) {
      const failure = error as CoderdbError;
      this.record(audit, sql, { outcome: 'error', error: failure.message, code: failure.code });
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
    for await (const _event of this.#send(sql)) {
      // drained
    }
  }

  /** Sends one statement, with the transaction's opening statements if they are still pending. */
  #send(sql: string, last = false): AsyncIterable<QueryEvent> {
    const after = last && this.mode === 'read' && this.#inTransaction ? ['ROLLBACK'] : [];
    if (!this.session.executeAround || (this.#pending.length === 0 && after.length === 0)) {
      return this.session.execute(sql);
    }
    const before = this.#pending;
    this.#pending = [];
    // Whatever the statement does, the ROLLBACK runs (or the server, losing the connection, rolls back).
    if (after.length > 0) this.#inTransaction = false;
    return this.session.executeAround(sql, { before, after });
  }

  async commit(): Promise<void> {
    this.assertOpen();
    await this.run('COMMIT');
    this.#inTransaction = false;
  }

  async rollback(): Promise<void> {
    if (!this.#inTransaction) return;
    this.#inTransaction = false;
    // A transaction whose BEGIN was never sent has nothing to roll back.
    if (this.#pending.length > 0) {
      this.#pending = [];
      return;
    }
    await this.run('ROLLBACK');
  }

  /** Rolls back anything uncommitted and closes the session. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      if (this.#inTransaction) await this.rollback().catch(() => undefined);
    } finally {
      await this.session.close();
    }
  }

  record(
    audit: AuditTag,
    sql: string,
    result: Pick<AuditInput, 'outcome' | 'rows' | 'error' | 'durationMs' | 'undoFile' | 'reason' | 'code'>,
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

function isAuditFailure(error: unknown): boolean {
  return error instanceof CoderdbError && error.code === 'audit.unwritable';
}

/**
 * Records a refusal (a safety rule said no: the guard, a write rule, a declined confirmation) with
 * its reason and code, once: the error is marked so that callers further up do not log it again.
 * Nothing ran, so an audit log that cannot be written does not hide the refusal itself.
 */
export function recordRefusal(context: Context, tag: AuditTag, error: unknown): void {
  if (!(error instanceof CoderdbError) || error.kind !== 'refused' || wasAudited(error)) return;
  markAudited(error);
  try {
    context.audit.append({
      identity: context.identity(),
      profile: context.profile.name,
      transport: context.transport.name,
      target: context.transport.describe(),
      command: tag.command,
      ...(tag.statement ? { statement: tag.statement } : {}),
      outcome: 'refused',
      error: error.message,
      code: error.code,
    });
  } catch {
    // The refusal is what the operator must see; it changed nothing.
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
