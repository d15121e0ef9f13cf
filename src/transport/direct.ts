// The direct transport: node-postgres straight to the database (or to the local end of a tunnel).
// Rows stream in batches with back-pressure, so a result of any size takes bounded memory, and
// values stay in PostgreSQL's text format so that every transport prints the same thing.

import { connect as netConnect, type Socket } from 'node:net';
import type pg from 'pg';
import type { TransportName } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import { type Field, type RawRow, typeFromOid } from '../core/pgtypes.js';
import { fromPgError } from './pg-errors.js';
import { describeTarget, type PgTarget, toClientConfig } from './pg-url.js';
import {
  controlsTransaction,
  endsTransaction,
  isMultipleStatementsError,
  multipleStatements,
  SettingsWatch,
  sendsSingleStatements,
  setupStatements,
  teardownStatement,
  transactionEnded,
  WATCH_QUERY,
  watchedValues,
  watchesSettings,
} from './session-guard.js';
import {
  type Around,
  aroundOneByOne,
  type DbSession,
  markFailedBefore,
  type OpenOptions,
  type QueryEvent,
  type ServerInfo,
  type Transport,
} from './types.js';

const BATCH_ROWS = 1000;
const CLOSE_TIMEOUT_MS = 5000;

export const SERVER_INFO_QUERY =
  "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version, " +
  'current_database() AS database, current_user AS "user"';

let pgLoading: Promise<typeof pg> | undefined;
let pgLoaded: typeof pg | undefined;

/**
 * Loads node-postgres (once). It costs tens of milliseconds of the CPU, which the exec transport
 * never needs; the others start it as their network work begins (task lookup, Secrets Manager),
 * so that the load runs while they wait.
 */
export function loadPg(): Promise<typeof pg> {
  pgLoading ??= import('pg').then((module) => {
    pgLoaded = module.default;
    return pgLoaded;
  });
  return pgLoading;
}

export interface DirectTransportOptions {
  name?: TransportName;
  /** Resolves where to connect (URL from flag, env or Secrets Manager; IAM token). */
  target: (options: OpenOptions) => Promise<PgTarget>;
  /**
   * The socket node-postgres speaks through, instead of dialling the target's host and port (a warm
   * holder's Unix socket): node-postgres calls its connect(port, host), which it may ignore.
   */
  socket?: () => Socket;
}

export function directTransport(options: DirectTransportOptions): Transport {
  let described = 'database (not yet resolved)';
  const name = options.name ?? 'direct';
  return {
    name,
    describe: () => described,
    async open(openOptions: OpenOptions = {}) {
      // A failed load is reported by connect(), after the target's own errors.
      loadPg().catch(() => undefined);
      const target = await options.target(openOptions);
      described = `${name} ${describeTarget(target)}`;
      return connect(target, name, openOptions, options.socket);
    },
  };
}

async function connect(
  target: PgTarget,
  transport: TransportName,
  options: OpenOptions,
  socket?: () => Socket,
): Promise<DbSession> {
  const where = describeTarget(target);
  const config = toClientConfig(target, options.applicationName ?? 'coderdb');
  if (socket) config.stream = socket;
  // Every ParameterStatus the server sends, from the start-up on: the settings watch's baseline.
  const reported = new Map<string, string>();
  let client: pg.Client;
  try {
    client = await connectClient(config, reported);
  } catch (error) {
    // libpq's sslmode=prefer falls back to plain text when the server has no TLS; do the same.
    if (target.sslmode === 'prefer' && config.ssl && /does not support SSL/i.test(String(error))) {
      client = await connectClient({ ...config, ssl: false }, reported).catch((retry: unknown) => {
        throw fromPgError(retry, where);
      });
    } else {
      throw fromPgError(error, where);
    }
  }
  try {
    const session = new PgSession(client, transport, where, options, reported);
    // One statement per message, these included (see session-guard.ts).
    for (const statement of setupStatements(options)) await session.quiet(statement);
    const [info] = await session.quiet(SERVER_INFO_QUERY);
    session.server = {
      versionNum: Number(info?.[0]),
      version: info?.[1] ?? '',
      database: info?.[2] ?? '',
      user: info?.[3] ?? '',
    };
    if (watchesSettings(options)) await session.startWatch();
    session.abortOn(options.signal);
    return session;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error instanceof CoderdbError ? error : fromPgError(error, where);
  }
}

async function connectClient(config: pg.ClientConfig, reported: Map<string, string>): Promise<pg.Client> {
  const client = new (await loadPg()).Client(config);
  // A dropped connection surfaces through the running query; this keeps it from crashing the process.
  client.on('error', () => undefined);
  connectionOf(client).on('parameterStatus', (message: { parameterName: string; parameterValue: string }) => {
    reported.set(message.parameterName, message.parameterValue);
  });
  await client.connect();
  return client;
}

interface PgConnection {
  stream: NodeJS.ReadableStream & { destroy(): void; cork?(): void; uncork?(): void };
  on(event: string, listener: (message: never) => void): void;
}

function connectionOf(client: pg.Client): PgConnection {
  return (client as unknown as { connection: PgConnection }).connection;
}

/**
 * What may wait for a slow consumer before the socket is paused (TCP then holds the server back):
 * rows of a result, or bytes of COPY data, whose rows can be of any width.
 */
const HIGH_WATER_ROWS = 8192;
const HIGH_WATER_BYTES = 1024 * 1024;
/** COPY sends one message per row; they are passed on in blocks of about this size. */
const COPY_BLOCK_BYTES = 64 * 1024;

class PgSession implements DbSession {
  readonly copyOut = true;
  server: ServerInfo = { versionNum: 0, version: '', database: '', user: '' };
  readonly #notices: QueryEvent[] = [];
  readonly #singleStatement: boolean;
  readonly #teardown: string | undefined;
  #broken: Error | undefined;
  /** Set once the session is set up, for read sessions (see session-guard.ts). */
  #watch: SettingsWatch | undefined;
  #reportedWatch: SettingsWatch | undefined;
  /** Why the watch ended the session; every later statement fails with it. */
  #watchFailure: CoderdbError | undefined;
  /** The pipelined statements in flight (executeAround): only the operator's notices are kept. */
  #pipeline: RowStream | undefined;

  #interrupted: CoderdbError | undefined;
  #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    this.#interrupted = new CoderdbError('interrupted', 'db.interrupted', 'interrupted');
    this.#broken = this.#interrupted;
    this.#destroySocket();
  };

  constructor(
    private readonly client: pg.Client,
    readonly transport: TransportName,
    private readonly where: string,
    options: OpenOptions,
    private readonly reported: ReadonlyMap<string, string>,
  ) {
    this.#singleStatement = sendsSingleStatements(options);
    this.#teardown = teardownStatement(options);
    client.on('notice', (notice) => {
      if (this.#pipeline && !this.#pipeline.inMain) return;
      this.#notices.push({
        kind: 'notice',
        severity: notice.severity ?? 'NOTICE',
        message: notice.message ?? '',
      });
    });
    // A watched setting changing under a statement ends the session there and then: nothing more
    // is sent on it, and the server, seeing its client gone, rolls the transaction back.
    connectionOf(client).on(
      'parameterStatus',
      (message: { parameterName: string; parameterValue: string }) => {
        const failure = this.#reportedWatch?.check(message.parameterName, message.parameterValue);
        if (failure) this.#endByWatch(failure);
      },
    );
  }

  /** Records the watched settings as the set-up left them; from now on a change ends the session. */
  async startWatch(): Promise<void> {
    const [row] = await this.quiet(WATCH_QUERY);
    if (!row) throw new CoderdbError('internal', 'session.watch', 'the server did not report its settings');
    this.#watch = new SettingsWatch(watchedValues(row));
    // ParameterStatus is compared with what the server reported before (PGlite, for one, reports
    // session_authorization as an empty string), the query's row with the query's first row.
    this.#reportedWatch = new SettingsWatch(this.reported);
  }

  /**
   * Closes the connection when `signal` aborts: the server sees its client gone, rolls back an
   * open transaction at once and, on PostgreSQL 14+, stops a running statement.
   */
  abortOn(signal: AbortSignal | undefined): void {
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Runs one statement of coderdb's own and returns its rows (small results only). */
  async quiet(sql: string): Promise<RawRow[]> {
    const rows: RawRow[] = [];
    for await (const event of this.#statement(sql)) if (event.kind === 'rows') rows.push(...event.rows);
    return rows;
  }

  async *execute(sql: string): AsyncGenerator<QueryEvent> {
    const before = this.client.getTransactionStatus();
    const commands: string[] = [];
    for await (const event of this.#statement(sql)) {
      if (event.kind === 'done') commands.push(event.command);
      yield event;
    }
    if (this.#watch) {
      const after = this.client.getTransactionStatus();
      await this.#checkAfter(before, after, commands, async () => (await this.quiet(WATCH_QUERY))[0]);
    }
  }

  /**
   * The statements of `around` and the statement in one write: the `before` statements and the
   * statement share one Sync (an error in one skips the rest, the statement included), then the
   * watch query and each `after` statement have a Sync of their own, so that they run whatever the
   * statement did. The stream reads every response in order, handing the later ones to Trailers.
   * Nothing of the operator's follows the statement, so running coderdb's own statements after it
   * without waiting changes nothing the checks rely on: the watch sees the same row it would have
   * read one round trip later. (Without the single-statement layer, one at a time, as before.)
   */
  async *executeAround(sql: string, around: Around): AsyncGenerator<QueryEvent> {
    if (!this.#singleStatement) {
      // The simple query protocol carries one text at a time.
      yield* aroundOneByOne(this, sql, around);
      return;
    }
    const watch = this.#watch ? new Trailer() : undefined;
    const after = around.after.map(() => new Trailer());
    const trailing = [...(watch ? [WATCH_QUERY] : []), ...around.after];
    const trailers = [...(watch ? [watch] : []), ...after];
    const stream = new RowStream(sql, true, {
      before: around.before,
      trailing,
      trailers,
      keepActive: () => keepActive(this.client, stream),
    });
    const before = around.before.length > 0 ? 'T' : this.client.getTransactionStatus();
    let status: string | null = null;
    stream.onReady = () => {
      status = this.client.getTransactionStatus();
    };
    const commands: string[] = [];
    this.#pipeline = stream;
    try {
      try {
        for await (const event of this.#statement(sql, stream)) {
          if (event.kind === 'done') commands.push(event.command);
          yield event;
        }
      } catch (error) {
        await settled(trailers);
        const index = stream.failedAt;
        throw index !== undefined && index < around.before.length ? markFailedBefore(error, index) : error;
      }
      if (watch) {
        // The status the statement left, not the client's latest (the ROLLBACK's may be in already).
        await this.#checkAfter(before, status, commands, async () => {
          await watch.settled;
          if (watch.error) throw fromPgError(watch.error, this.where);
          return watch.rows[0];
        }).catch(async (error: unknown) => {
          await settled(after);
          throw error;
        });
      }
      await settled(after);
      // An `after` statement that failed (a ROLLBACK) leaves a transaction nothing may run in.
      if (after.some((trailer) => trailer.error) && this.client.getTransactionStatus() !== 'I') {
        this.#broken ??= new Error(`${around.after.join('; ')} failed`);
        this.#destroySocket();
      }
    } finally {
      this.#pipeline = undefined;
    }
  }

  /**
   * After a statement of a watched session: a transaction that ended without a statement that
   * ends transactions (a COMMIT smuggled into the text) ends the session, and so does a watched
   * setting that changed without the server reporting it (the role; older servers).
   */
  async #checkAfter(
    before: string | null,
    after: string | null,
    commands: string[],
    watchRow: () => Promise<RawRow | undefined>,
  ): Promise<void> {
    const legitimateEnd = commands.length === 1 && endsTransaction(commands[0]!);
    if ((before === 'T' || before === 'E') && after === 'I' && !legitimateEnd) {
      this.#endByWatch(transactionEnded());
    }
    if (this.#watchFailure) throw this.#watchFailure;
    // Nothing runs in a failed transaction until it is rolled back; transaction control changes
    // no watched setting that was not reported already (ROLLBACK can only restore them).
    if (after === 'E' || (commands.length === 1 && controlsTransaction(commands[0]!))) return;
    const row = await watchRow();
    const failure = row ? this.#watch?.checkRow(row) : transactionEnded();
    if (failure) {
      this.#endByWatch(failure);
      throw failure;
    }
  }

  #endByWatch(failure: CoderdbError): void {
    this.#watchFailure ??= failure;
    this.#broken ??= failure;
    this.#destroySocket();
  }

  async *#statement(
    sql: string,
    stream = new RowStream(sql, this.#singleStatement),
  ): AsyncGenerator<QueryEvent> {
    if (this.#interrupted) throw this.#interrupted;
    if (this.#watchFailure) throw this.#watchFailure;
    if (this.#broken) throw fromPgError(this.#broken, this.where);
    const socket = connectionOf(this.client).stream;
    stream.onPressure = (high) => (high ? socket.pause() : socket.resume());
    this.client.query(stream);
    let completed = false;
    try {
      for (;;) {
        const event = await stream.next();
        yield* this.#drainNotices();
        if (this.#watchFailure) {
          completed = true;
          throw this.#watchFailure;
        }
        if (event === undefined) break;
        if (event instanceof Error) {
          completed = true;
          if (this.#interrupted) throw this.#interrupted;
          if (this.#singleStatement && isMultipleStatementsError(event)) throw multipleStatements();
          throw fromPgError(event, this.where);
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
    connectionOf(this.client).stream.destroy();
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
    const closing = async () => {
      if (this.#teardown && !this.#broken && this.client.getTransactionStatus() === 'I') {
        await this.quiet(this.#teardown).catch(() => undefined);
      }
      await this.client.end().catch(() => undefined);
    };
    await Promise.race([closing(), timeout]);
    clearTimeout(timer);
  }
}

/**
 * A node-postgres Submittable for one statement that hands rows over as a queue of events instead
 * of collecting them: `fields` once, `rows` in batches, `done` with the command tag, or an Error.
 * The client calls the handle* methods as messages arrive.
 *
 * The statement travels in the extended query protocol (Parse, Bind, Describe, Execute with no row
 * limit, Sync), in which the server itself refuses text that holds more than one statement: so no
 * reading of the text by the server, however it differs from the guard's, can smuggle a COMMIT and
 * a write after the statement the guard saw. Back-pressure works as before: the socket is paused.
 * (The simple query protocol is there only for the tests that switch the single-statement layer off.)
 */
class RowStream implements pg.Submittable {
  onPressure: (high: boolean) => void = () => undefined;
  /** Called at the statement's ReadyForQuery (the client's transaction status is the one it left). */
  onReady: () => void = () => undefined;
  /** Index of the statement that failed, counting `before` statements first. */
  failedAt: number | undefined;
  /** The statement running now: `before` statements come first, then this one (at #main). */
  #index = 0;
  readonly #main: number;
  #queue: (QueryEvent | Error)[] = [];
  #batch: RawRow[] = [];
  /** COPY data not yet queued: a block of our own that the messages' bytes are copied into. */
  #copy: Buffer | undefined;
  #copyBytes = 0;
  /** Rows and COPY bytes received and not yet taken by the consumer. */
  #bufferedRows = 0;
  #bufferedBytes = 0;
  #paused = false;
  #ended = false;
  #wake: (() => void) | undefined;

  /** 0 while the statement's own Sync is answered, then 1, 2 … for each trailing statement's. */
  #segment = 0;

  /**
   * With `pipeline` (extended protocol only), the `before` statements precede this one under the
   * same Sync and only this one's events are passed on; the `trailing` statements follow, each
   * with its own Sync, and their responses go to the matching `trailers`. The stream stays the
   * client's active query until the last ReadyForQuery (`keepActive`), so that nothing is queued
   * in node-postgres behind it (which pg@9 will not allow).
   */
  constructor(
    private readonly text: string,
    private readonly extended = true,
    private readonly pipeline: Pipeline = NO_PIPELINE,
  ) {
    this.#main = pipeline.before.length;
  }

  /** The trailer whose statement's response is arriving, once the statement's own is over. */
  get #trailer(): Trailer | undefined {
    return this.#segment > 0 ? this.pipeline.trailers[this.#segment - 1] : undefined;
  }

  /** Whether what the server sends now is about this statement (not one of coderdb's around it). */
  get inMain(): boolean {
    return this.#index === this.#main && !this.#ended && this.failedAt === undefined;
  }

  submit(pgConnection: pg.Connection): void {
    const connection = pgConnection as unknown as ExtendedConnection;
    if (!this.extended) {
      connection.query(this.text);
      return;
    }
    const send = (text: string) => {
      connection.parse({ text, name: '', types: [] });
      connection.bind({ portal: '', statement: '', values: [] });
      connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: 0 });
    };
    // Corked, so that the messages leave in one packet.
    connection.stream.cork?.();
    try {
      for (const text of this.pipeline.before) send(text);
      send(this.text);
      connection.sync();
      for (const text of this.pipeline.trailing) {
        send(text);
        connection.sync();
      }
    } finally {
      connection.stream.uncork?.();
    }
  }

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    if (this.#trailer) return;
    if (!this.inMain) return;
    this.#flushBatch();
    this.#push({ kind: 'fields', fields: message.fields.map(toField) });
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    if (this.#trailer) {
      this.#trailer.handleDataRow(message);
      return;
    }
    if (!this.inMain) return;
    this.#batch.push(message.fields);
    this.#bufferedRows += 1;
    if (this.#batch.length >= BATCH_ROWS) this.#flushBatch();
    this.#checkPressure();
  }

  handleCommandComplete(message: { text: string }): void {
    if (this.#trailer) return;
    if (!this.inMain) {
      this.#index += 1;
      return;
    }
    this.#index += 1;
    this.#flushBatch();
    const [command = '', ...rest] = message.text.split(' ');
    const count = Number(rest.at(-1));
    this.#push({ kind: 'done', command, rowCount: rest.length > 0 && Number.isFinite(count) ? count : null });
  }

  /**
   * COPY sends one message per row; they are passed on in blocks of about COPY_BLOCK_BYTES. The
   * bytes are copied at once: `message.chunk` is a view into node-postgres' parser buffer, which
   * the parser overwrites with later socket data when a message straddles two reads.
   */
  handleCopyData(message: { chunk: Buffer }): void {
    if (this.#trailer || !this.inMain) return;
    const chunk = message.chunk;
    if (this.#copy && this.#copyBytes + chunk.length > this.#copy.length) this.#flushCopy();
    if (!this.#copy) {
      this.#copy = Buffer.allocUnsafe(Math.max(COPY_BLOCK_BYTES, chunk.length));
      this.#copyBytes = 0;
    }
    this.#copyBytes += chunk.copy(this.#copy, this.#copyBytes);
    this.#bufferedBytes += chunk.length;
    if (this.#copyBytes >= COPY_BLOCK_BYTES) this.#flushCopy();
    this.#checkPressure();
  }

  handleEmptyQuery(): void {
    if (this.#trailer) return;
    const main = this.inMain;
    this.#index += 1;
    if (!main) return;
    this.#push({ kind: 'done', command: '', rowCount: null });
  }

  handleError(error: Error): void {
    const trailer = this.#trailer;
    if (trailer) {
      trailer.handleError(error);
    } else {
      this.failedAt = this.#index;
      // Rows of a failed statement are dropped; they no longer hold the socket back.
      this.#bufferedRows -= this.#batch.length;
      this.#bufferedBytes -= this.#copyBytes;
      this.#batch = [];
      this.#copy = undefined;
      this.#copyBytes = 0;
      this.#push(error);
      this.#release(0, 0);
    }
    const { trailers } = this.pipeline;
    if (trailers.length === 0) return;
    // node-postgres is loaded: this session's connection was made with it.
    if (!(pgLoaded && error instanceof pgLoaded.DatabaseError)) {
      // The connection failed: no more responses are coming, for any of them.
      for (const rest of trailers.slice(this.#segment)) rest.handleError(error);
      this.#segment = trailers.length + 1;
      return;
    }
    // The server skips to this segment's Sync and answers it: that ReadyForQuery is ours too.
    this.pipeline.keepActive();
  }

  handleReadyForQuery(): void {
    const trailer = this.#trailer;
    if (trailer) {
      trailer.handleReadyForQuery();
    } else if (this.#segment === 0) {
      this.#flushBatch();
      this.onReady();
      this.#ended = true;
      this.#wakeUp();
    }
    this.#segment += 1;
    if (this.#segment <= this.pipeline.trailers.length) this.pipeline.keepActive();
  }

  /** The next event, or undefined when the statement is over. */
  async next(): Promise<QueryEvent | Error | undefined> {
    for (;;) {
      const event = this.#queue.shift();
      if (event) {
        if (!(event instanceof Error) && event.kind === 'rows') this.#release(event.rows.length, 0);
        else if (!(event instanceof Error) && event.kind === 'copy') this.#release(0, event.data.length);
        return event;
      }
      if (this.#batch.length > 0 || this.#copyBytes > 0) {
        this.#flushBatch();
        continue;
      }
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * Pauses the socket when too much waits for the consumer. Everything received is queued first,
   * so that the consumer, which may be waiting already, has it to take: reading resumes only as it
   * takes events (#release), and a paused socket with nothing queued would stall the statement for
   * ever (and let Node exit as if the command had finished, since nothing else keeps it alive).
   */
  #checkPressure(): void {
    if (this.#paused) return;
    if (this.#bufferedRows < HIGH_WATER_ROWS && this.#bufferedBytes < HIGH_WATER_BYTES) return;
    this.#flushBatch();
    this.#paused = true;
    this.onPressure(true);
  }

  #release(rows: number, bytes: number): void {
    this.#bufferedRows -= rows;
    this.#bufferedBytes -= bytes;
    if (
      this.#paused &&
      this.#bufferedRows < HIGH_WATER_ROWS / 2 &&
      this.#bufferedBytes < HIGH_WATER_BYTES / 2
    ) {
      this.#paused = false;
      this.onPressure(false);
    }
  }

  #flushBatch(): void {
    if (this.#batch.length > 0) {
      this.#push({ kind: 'rows', rows: this.#batch });
      this.#batch = [];
    }
    this.#flushCopy();
  }

  #flushCopy(): void {
    if (this.#copy && this.#copyBytes > 0) {
      this.#push({ kind: 'copy', data: this.#copy.subarray(0, this.#copyBytes) });
    }
    this.#copy = undefined;
    this.#copyBytes = 0;
  }

  #push(event: QueryEvent | Error): void {
    this.#queue.push(event);
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

interface Pipeline {
  before: readonly string[];
  trailing: readonly string[];
  /** One per trailing statement. */
  trailers: readonly Trailer[];
  /** Makes the stream the client's active query again, for the next ReadyForQuery. */
  keepActive: () => void;
}

const NO_PIPELINE: Pipeline = { before: [], trailing: [], trailers: [], keepActive: () => undefined };

/**
 * Keeps `stream` the client's active query after a ReadyForQuery or an ErrorResponse, which
 * node-postgres takes to end it (and would then send the next queued query): the stream expects
 * more. node-postgres' own fields, as `connection` is (pg 8).
 */
function keepActive(client: pg.Client, stream: RowStream): void {
  const internals = client as unknown as { _activeQuery: unknown; readyForQuery: boolean };
  internals._activeQuery = stream;
  internals.readyForQuery = false;
}

/** The response to one statement a RowStream sent after its own (see executeAround); few rows. */
class Trailer {
  readonly rows: RawRow[] = [];
  error: Error | undefined;
  readonly settled: Promise<void>;
  #settle: () => void = () => undefined;

  constructor() {
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    this.rows.push(message.fields);
  }

  handleError(error: Error): void {
    this.error = error;
    this.#settle();
  }

  handleReadyForQuery(): void {
    this.#settle();
  }
}

/** Waits for every trailer to be answered (or to fail with its connection). */
async function settled(trailers: readonly Trailer[]): Promise<void> {
  await Promise.all(trailers.map((trailer) => trailer.settled));
}

/** The part of node-postgres's Connection that sends protocol messages. */
interface ExtendedConnection {
  stream: { cork?(): void; uncork?(): void };
  query(text: string): void;
  parse(message: { text: string; name: string; types: number[] }): void;
  bind(message: { portal: string; statement: string; values: unknown[] }): void;
  describe(message: { type: 'P' | 'S'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
}

function toField(field: pg.FieldDef): Field {
  return { name: field.name, type: typeFromOid(field.dataTypeID) };
}
