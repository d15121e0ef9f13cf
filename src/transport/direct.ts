// The direct transport: node-postgres straight to the database (or to the local end of a tunnel).
// Rows stream in batches with back-pressure, so a result of any size takes bounded memory, and
// values stay in PostgreSQL's text format so that every transport prints the same thing.

import { connect as netConnect } from 'node:net';
import pg from 'pg';
import type { TransportName } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import { type Field, type RawRow, typeFromOid } from '../core/pgtypes.js';
import { fromPgError } from './pg-errors.js';
import { describeTarget, type PgTarget, toClientConfig } from './pg-url.js';
import type { DbSession, OpenOptions, QueryEvent, ServerInfo, Transport } from './types.js';

const BATCH_ROWS = 1000;
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Session settings that make text output the same on every server and every transport, and that
 * make the server read SQL exactly as the guard's parser did: a role or database could otherwise
 * turn standard_conforming_strings off or pick an encoding in which a backslash ends a string.
 */
export const SESSION_SETUP =
  "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; " +
  "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'";
export const SERVER_INFO_QUERY =
  "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version, " +
  'current_database() AS database, current_user AS "user"';

export interface DirectTransportOptions {
  name?: TransportName;
  /** Resolves where to connect (URL from flag, env or Secrets Manager; IAM token). */
  target: () => Promise<PgTarget>;
}

export function directTransport(options: DirectTransportOptions): Transport {
  let described = 'database (not yet resolved)';
  const name = options.name ?? 'direct';
  return {
    name,
    describe: () => described,
    async open(openOptions: OpenOptions = {}) {
      const target = await options.target();
      described = `${name} ${describeTarget(target)}`;
      return connect(target, name, openOptions);
    },
  };
}

async function connect(target: PgTarget, transport: TransportName, options: OpenOptions): Promise<DbSession> {
  const where = describeTarget(target);
  const config = toClientConfig(target, options.applicationName ?? 'coderdb');
  let client: pg.Client;
  try {
    client = await connectClient(config);
  } catch (error) {
    // libpq's sslmode=prefer falls back to plain text when the server has no TLS; do the same.
    if (target.sslmode === 'prefer' && config.ssl && /does not support SSL/i.test(String(error))) {
      client = await connectClient({ ...config, ssl: false }).catch((retry: unknown) => {
        throw fromPgError(retry, where);
      });
    } else {
      throw fromPgError(error, where);
    }
  }
  try {
    const results = (await client.query(
      `${SESSION_SETUP}; ${SERVER_INFO_QUERY}`,
    )) as unknown as pg.QueryResult[];
    const info = results.at(-1)!.rows[0] as { num: number; version: string; database: string; user: string };
    const server: ServerInfo = {
      versionNum: info.num,
      version: info.version,
      database: info.database,
      user: info.user,
    };
    const session = new PgSession(client, server, transport, where);
    session.abortOn(options.signal);
    return session;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw fromPgError(error, where);
  }
}

async function connectClient(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // A dropped connection surfaces through the running query; this keeps it from crashing the process.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Rows buffered for a slow consumer before the socket is paused (TCP then slows the server). */
const HIGH_WATER_ROWS = 8192;
const COPY_BLOCK_BYTES = 64 * 1024;

/** Copy blocks remember how many protocol messages they hold, for the high-water accounting. */
type QueuedEvent = Exclude<QueryEvent, { kind: 'copy' }> | { kind: 'copy'; data: Buffer; messages: number };

class PgSession implements DbSession {
  readonly copyOut = true;
  readonly #notices: QueryEvent[] = [];
  #broken: Error | undefined;

  #interrupted: CoderdbError | undefined;
  #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    this.#interrupted = new CoderdbError('interrupted', 'db.interrupted', 'interrupted');
    this.#broken = this.#interrupted;
    this.#destroySocket();
  };

  constructor(
    private readonly client: pg.Client,
    readonly server: ServerInfo,
    readonly transport: TransportName,
    private readonly where: string,
  ) {
    client.on('notice', (notice) => {
      this.#notices.push({
        kind: 'notice',
        severity: notice.severity ?? 'NOTICE',
        message: notice.message ?? '',
      });
    });
  }

  /**
   * The server streams the whole result (simple query protocol) while we consume it, so producing
   * and consuming overlap; when we fall behind, the socket is paused and TCP flow control holds the
   * server back. Memory stays bounded by HIGH_WATER_ROWS.
   */
  /**
   * Closes the connection when `signal` aborts: the server sees its client gone, rolls back an
   * open transaction at once and, on PostgreSQL 14+, stops a running statement.
   */
  abortOn(signal: AbortSignal | undefined): void {
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  async *execute(sql: string): AsyncGenerator<QueryEvent> {
    if (this.#interrupted) throw this.#interrupted;
    if (this.#broken) throw fromPgError(this.#broken, this.where);
    const stream = new RowStream(sql);
    const socket = (this.client as unknown as { connection: { stream: NodeJS.ReadableStream } }).connection
      .stream;
    stream.onPressure = (high) => (high ? socket.pause() : socket.resume());
    this.client.query(stream);
    let completed = false;
    try {
      for (;;) {
        const event = await stream.next();
        yield* this.#drainNotices();
        if (event === undefined) break;
        if (event instanceof Error) {
          completed = true;
          throw this.#interrupted ?? fromPgError(event, this.where);
        }
        yield event;
      }
      completed = true;
      yield* this.#drainNotices();
    } finally {
      socket.resume();
      if (!completed) {
        // The consumer stopped early: the rest of the result is still on its way and the protocol
        // has no way to skip it, so this connection cannot be reused.
        this.#broken ??= new Error('the previous result was abandoned');
        this.#destroySocket();
      }
    }
  }

  /**
   * A CancelRequest on a connection of its own, as libpq's PQcancel: 16 bytes with the backend's
   * process id and secret key, which node-postgres keeps from BackendKeyData. Through a tunnel the
   * host is the local listener, so the request travels as a new stream of the same SSM session.
   */
  async cancel(): Promise<void> {
    const { processID, secretKey, host, port } = this.client as unknown as {
      processID: number | null;
      secretKey: number | null;
      host: string;
      port: number;
    };
    if (processID === null || secretKey === null) return;
    const request = Buffer.alloc(16);
    request.writeInt32BE(16, 0);
    request.writeInt32BE(80877102, 4);
    request.writeInt32BE(processID, 8);
    request.writeInt32BE(secretKey, 12);
    await new Promise<void>((resolve) => {
      const where = host.startsWith('/') ? { path: `${host}/.s.PGSQL.${port}` } : { host, port };
      const socket = netConnect(where, () => socket.end(request));
      const timer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
      // The server answers by closing the connection; nothing is read.
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('error', () => socket.destroy());
      socket.resume();
    });
  }

  #destroySocket(): void {
    (this.client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  }

  *#drainNotices(): Generator<QueryEvent> {
    while (this.#notices.length > 0) yield this.#notices.shift()!;
  }

  async close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([this.client.end().catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
}

/**
 * A node-postgres Submittable for one statement over the simple query protocol that hands rows over
 * as a queue of events instead of collecting them: `fields` once, `rows` in batches, `done` with
 * the command tag, or an Error. The client calls the handle* methods as messages arrive.
 */
class RowStream implements pg.Submittable {
  onPressure: (high: boolean) => void = () => undefined;
  #queue: (QueuedEvent | Error)[] = [];
  #batch: RawRow[] = [];
  #copy: Buffer[] = [];
  #copyBytes = 0;
  #buffered = 0;
  #paused = false;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(private readonly text: string) {}

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    this.#flushBatch();
    this.#push({ kind: 'fields', fields: message.fields.map(toField) });
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    this.#batch.push(message.fields);
    this.#buffered += 1;
    if (this.#batch.length >= BATCH_ROWS) this.#flushBatch();
    if (!this.#paused && this.#buffered >= HIGH_WATER_ROWS) {
      this.#paused = true;
      this.onPressure(true);
    }
  }

  handleCommandComplete(message: { text: string }): void {
    this.#flushBatch();
    const [command = '', ...rest] = message.text.split(' ');
    const count = Number(rest.at(-1));
    this.#push({ kind: 'done', command, rowCount: rest.length > 0 && Number.isFinite(count) ? count : null });
  }

  /** COPY sends one message per row; they are passed on in blocks of about 64 KiB. */
  handleCopyData(message: { chunk: Buffer }): void {
    this.#copy.push(message.chunk);
    this.#copyBytes += message.chunk.length;
    this.#buffered += 1;
    if (this.#copyBytes >= COPY_BLOCK_BYTES) this.#flushBatch();
    if (!this.#paused && this.#buffered >= HIGH_WATER_ROWS) {
      this.#paused = true;
      this.onPressure(true);
    }
  }

  handleEmptyQuery(): void {
    this.#push({ kind: 'done', command: '', rowCount: null });
  }

  handleError(error: Error): void {
    this.#batch = [];
    this.#push(error);
  }

  handleReadyForQuery(): void {
    this.#flushBatch();
    this.#ended = true;
    this.#wakeUp();
  }

  /** The next event, or undefined when the statement is over. */
  async next(): Promise<QueuedEvent | Error | undefined> {
    for (;;) {
      const event = this.#queue.shift();
      if (event) {
        if (!(event instanceof Error) && event.kind === 'rows') this.#release(event.rows.length);
        else if (!(event instanceof Error) && event.kind === 'copy') this.#release(event.messages);
        return event;
      }
      if (this.#batch.length > 0 || this.#copy.length > 0) {
        this.#flushBatch();
        continue;
      }
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #release(rows: number): void {
    this.#buffered -= rows;
    if (this.#paused && this.#buffered < HIGH_WATER_ROWS / 2) {
      this.#paused = false;
      this.onPressure(false);
    }
  }

  #flushBatch(): void {
    if (this.#batch.length > 0) {
      this.#push({ kind: 'rows', rows: this.#batch });
      this.#batch = [];
    }
    if (this.#copy.length > 0) {
      this.#push({
        kind: 'copy',
        data: Buffer.concat(this.#copy, this.#copyBytes),
        messages: this.#copy.length,
      });
      this.#copy = [];
      this.#copyBytes = 0;
    }
  }

  #push(event: QueuedEvent | Error): void {
    this.#queue.push(event);
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function toField(field: pg.FieldDef): Field {
  return { name: field.name, type: typeFromOid(field.dataTypeID) };
}
