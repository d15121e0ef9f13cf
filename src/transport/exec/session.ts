// One database session over ECS Exec: a single psql in the container, fed statements through the
// pty, whose framed and encoded output is turned back into the same events the direct transport
// yields (fields, rows in batches, notices, done; errors with SQLSTATE, position, detail, hint).
// Statements run one at a time in the one psql, so transactions span execute() calls. Nothing is
// read from the channel until the consumer asks for the next event (see channel-io.ts).

import { CoderdbError, connectionError } from '../../core/errors.js';
import type { Field, RawRow } from '../../core/pgtypes.js';
import { scrub } from '../../core/secret.js';
import type { ChannelEnd, DataChannel } from '../../ssm/channel.js';
import { SERVER_INFO_QUERY } from '../direct.js';
import {
  controlsTransaction,
  endsTransaction,
  SettingsWatch,
  sendsSingleStatements,
  setupStatements,
  teardownStatement,
  transactionEnded,
  WATCHED_SETTINGS,
  watchedValues,
  watchesSettings,
} from '../session-guard.js';
import type { DbSession, OpenOptions, QueryEvent, ServerInfo } from '../types.js';
import { ShellMarker } from './bootstrap.js';
import { ChannelIo } from './channel-io.js';
import { CsvParser } from './decoders.js';
import {
  connectFailure,
  containerLacks,
  installFailed,
  lostConnection,
  noUrl,
  protocolError,
  psqlMissing,
  psqlTooOld,
  statementError,
} from './exec-errors.js';
import {
  LEXICAL_REFUSAL,
  QUIT_SCRIPT,
  type ScriptContext,
  StatementMarker,
  type StatementScript,
  setupScript,
  statementScript,
  watchScript,
} from './psql-script.js';
import { errorExtras, exitReason, noticesIn, parseMessages } from './psql-stderr.js';
import { describedFields, ResultDecoder, type ResultEncoding } from './result-decoder.js';
import { planStatements, type StatementPlan } from './statement-plan.js';

export interface ExecSessionOptions {
  channel: DataChannel;
  /** The nonce the bootstrap command was built with. */
  nonce: string;
  /** Names the task and container, for messages. */
  where: string;
  urlEnv: string;
  applicationName: string;
  /** gzip results in the container (when `gzip -1` works there). */
  compress: boolean;
  /** Describe result columns with psql's \gdesc even on servers that have result_types. */
  describeWithGdesc?: boolean;
  /** From the session's start to psql's first answer (includes `apk add` with installClient). */
  startTimeoutMs: number;
  signal?: AbortSignal;
  /** The read session and the layers switched off (see OpenOptions). */
  session?: Pick<OpenOptions, 'read' | 'disabledLayers'>;
}

/** psql 12 is the first with CSV output. */
const MIN_PSQL_VERSION = 120000;
const QUIT_TIMEOUT_MS = 10_000;
/** Resetting or preparing a held session between users (src/holder/): a few statements. */
const RENEW_TIMEOUT_MS = 30_000;

export class ExecSession implements DbSession {
  readonly transport = 'exec' as const;
  readonly copyOut = true;
  readonly #options: ExecSessionOptions;
  readonly #channel: DataChannel;
  readonly #io: ChannelIo;
  readonly #nullMarker: Buffer;
  readonly #context: ScriptContext;
  #server: ServerInfo | undefined;
  #nextId = 1;
  /** The statement whose output is being read; set from writing its script until its end marker. */
  #pending: number | undefined;
  #busy = false;
  #psqlExited = false;
  #closed = false;
  #gzip = false;
  /** The settings as the session's set-up left them, for a read session (the settings watch). */
  #watch: SettingsWatch | undefined;
  /** When the transaction the last statement ran in began, '-' outside one, '?' not known. */
  #transaction = '-';
  /** The read session and layers the session was set up for (start, or the last renew). */
  #session: Pick<OpenOptions, 'read' | 'disabledLayers'>;
  readonly #onAbort = () => {
    this.#io.fail(new CoderdbError('interrupted', 'exec.interrupted', 'interrupted'));
    void this.#channel.terminate();
  };

  private constructor(options: ExecSessionOptions) {
    this.#options = options;
    this.#channel = options.channel;
    this.#session = options.session ?? {};
    const marker = `@${options.nonce}`;
    this.#io = new ChannelIo(options.channel, marker, options.where);
    const nullMarker = `N${options.nonce}`;
    this.#nullMarker = Buffer.from(nullMarker, 'latin1');
    this.#context = {
      marker,
      nullMarker,
      psqlVersion: 0,
      serverVersion: 0,
      compress: false,
      ...(options.describeWithGdesc ? { describeWithGdesc: true } : {}),
    };
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Waits for the container's verdict, starts psql's session and reads the server's identity. */
  static async start(options: ExecSessionOptions): Promise<ExecSession> {
    const session = new ExecSession(options);
    try {
      await session.#startUp();
      return session;
    } catch (error) {
      options.signal?.removeEventListener('abort', session.#onAbort);
      throw error;
    }
  }

  get server(): ServerInfo {
    if (!this.#server) throw new CoderdbError('internal', 'exec.not-started', 'the session has not started');
    return this.#server;
  }

  /** Settles when the SSM session ends, for whatever reason (a warm holder drops it then). */
  get ended(): Promise<ChannelEnd> {
    return this.#channel.closed;
  }

  /** The SSM session id, for diagnostics (and tests that inject faults into it). */
  get sessionId(): string {
    return this.#channel.sessionId;
  }

  async *execute(sql: string): AsyncGenerator<QueryEvent> {
    this.#assertUsable();
    this.#busy = true;
    try {
      const plans = await planStatements(sql);
      if (plans.length === 0) {
        yield { kind: 'done', command: '', rowCount: null };
        return;
      }
      for (const plan of plans) yield* this.#run(plan);
    } finally {
      this.#busy = false;
      if (this.#pending !== undefined) {
        // The consumer stopped in the middle of a result. psql is still sending it and cannot be
        // interrupted through the pty, so this session is done (as a direct connection would be).
        this.#io.fail(connectionError('exec.abandoned', 'the previous result was abandoned'));
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    let finished = false;
    try {
      if (!this.#io.failure || this.#psqlExited) {
        this.#io.deadline = Date.now() + QUIT_TIMEOUT_MS;
        // \q ends psql; the script then says so and exits, and the agent ends the session. A read
        // session's settings are put back first (see teardownStatement).
        const teardown = teardownStatement(this.#session);
        const reset = teardown && !this.#io.failure ? `${teardown};\n` : '';
        if (!this.#psqlExited) await this.#io.write(reset + QUIT_SCRIPT);
        while ((await this.#io.nextMarker()).name !== ShellMarker.end) {
          // psql's exit status and stderr: nothing left to report to anyone.
        }
        finished = true;
      }
    } catch {
      // Ended below either way.
    }
    if (finished) {
      // Nothing more is coming; waiting for the agent's drain and channel_closed would only add
      // its delay, and the session ends on its own with the script.
      this.#channel.close();
    } else {
      // A result still streaming, or no answer: TerminateSession stops psql in the task.
      await this.#channel.terminate();
    }
  }

  // ── start-up ──────────────────────────────────────────────────────────────────────────────

  async #startUp(): Promise<void> {
    this.#io.deadline = Date.now() + this.#options.startTimeoutMs;
    // The plugin sends a size first; raw mode makes it irrelevant, but it keeps the pty sane.
    this.#channel.resize({ cols: 200, rows: 50 });
    // The settings, the session settings and the server's identity are written at once, without
    // waiting for the script to say it is ready: input that arrives before `stty raw -echo` is
    // echoed, but the echo comes out before the ready marker, where output is not read, and the
    // pty keeps the input (in lines shorter than the cooked-mode limit) for psql.
    const session = this.#session;
    // One statement per message, these included (see session-guard.ts).
    const settings = sessionSettings(session, this.#options.applicationName).map(
      (text): StatementPlan => ({
        text,
        offset: 0,
        bare: '',
        bareOffset: 0,
        kind: 'command',
        streamable: false,
        command: 'SET',
        countsRows: false,
      }),
    );
    // Before psql has told us the server version, the types need not be described: all is text.
    const [identity] = await planStatements(SERVER_INFO_QUERY);
    const prelude = [...settings, { ...identity!, kind: 'untyped' as const }].map((plan) => {
      const id = this.#nextId++;
      return { plan, id, script: statementScript(plan, id, this.#context) };
    });
    const writing = this.#io.write(
      setupScript(this.#context.marker, this.#context.nullMarker) +
        prelude.map((s) => s.script.text).join(''),
    );
    writing.catch(() => undefined);
    this.#pending = prelude[0]!.id;
    await this.#awaitReady();
    await this.#awaitHello();
    let info: RawRow | undefined;
    for (const { plan, id, script } of prelude) {
      this.#pending = id;
      for await (const event of this.#collect(plan, id, script)) {
        if (event.kind === 'rows' && event.rows[0]) info = event.rows[0];
      }
    }
    await writing;
    if (!info) throw this.#io.fail(protocolError('the server did not say who it is'));
    if (watchesSettings(session)) await this.#startWatch();
    this.#io.deadline = undefined;
    // From here on, statement text is built on the server only under the guard's lexical settings.
    if (sendsSingleStatements(session)) this.#context.lexicalCheck = true;
    this.#server = {
      versionNum: Number(info[0]),
      version: info[1] ?? '',
      database: info[2] ?? '',
      user: info[3] ?? '',
    };
    this.#context.serverVersion = this.#server.versionNum;
    this.#context.compress = this.#options.compress && this.#gzip;
  }

  /**
   * Forgets everything a user of a held session (a warm holder's pool, src/holder/exec-pool.ts)
   * left in it: any transaction is rolled back, and DISCARD ALL resets settings, role, temporary
   * tables, prepared statements, advisory locks, LISTEN and sequence state. prepare() then sets it
   * up for the next user as start() would have. A failure leaves the session unusable (the holder
   * then ends it): nothing half-reset is ever handed on.
   */
  async reset(): Promise<void> {
    await this.#internal(() => {
      // The last user's watch and lexical check do not apply to the reset itself.
      this.#watch = undefined;
      this.#context.watch = false;
      this.#context.lexicalCheck = false;
      this.#transaction = '-';
      this.#session = {};
      // ROLLBACK outside a transaction is only a warning; DISCARD ALL cannot run inside one.
      return this.#runAll(['ROLLBACK', 'DISCARD ALL']);
    });
  }

  /** Sets a reset session up for its next user: start()'s settings, application_name and watch. */
  async prepare(
    applicationName: string,
    session: Pick<OpenOptions, 'read' | 'disabledLayers'>,
  ): Promise<void> {
    await this.#internal(async () => {
      this.#session = session;
      await this.#runAll(sessionSettings(session, applicationName));
      if (watchesSettings(session)) await this.#startWatch();
      if (sendsSingleStatements(session)) this.#context.lexicalCheck = true;
    });
  }

  /** Ends the session at once (TerminateSession), whatever it is doing: an interrupted user's. */
  async terminate(): Promise<void> {
    this.#io.fail(new CoderdbError('interrupted', 'exec.interrupted', 'interrupted'));
    this.#closed = true;
    await this.#channel.terminate();
  }

  /** coderdb's own statements between users: bounded in time, any failure fatal to the session. */
  async #internal(work: () => Promise<void>): Promise<void> {
    this.#assertUsable();
    this.#busy = true;
    this.#io.deadline = Date.now() + RENEW_TIMEOUT_MS;
    try {
      await work();
    } catch (error) {
      throw this.#io.fail(
        error instanceof CoderdbError
          ? error
          : connectionError(
              'exec.reset-failed',
              `the held exec session could not be reset: ${String(error)}`,
            ),
      );
    } finally {
      this.#io.deadline = undefined;
      this.#busy = false;
    }
  }

  /** Statements written at once and read back in order (one round trip); the first error is thrown. */
  async #runAll(texts: readonly string[]): Promise<void> {
    const plans = (await Promise.all(texts.map((text) => planStatements(text)))).flat();
    const scripts = plans.map((plan) => {
      const id = this.#nextId++;
      return { plan, id, script: statementScript(plan, id, this.#context) };
    });
    const writing = this.#io.write(scripts.map((s) => s.script.text).join(''));
    writing.catch(() => undefined);
    let failure: unknown;
    for (const { plan, id, script } of scripts) {
      this.#pending = id;
      try {
        for await (const _event of this.#collect(plan, id, script)) {
          // drained: coderdb's own statements have no result to show
        }
      } catch (error) {
        failure ??= error;
        if (this.#io.failure) break;
      }
    }
    await writing;
    if (failure) throw failure;
  }

  /** Whether the session can run another statement (not failed, not closed, not busy). */
  get usable(): boolean {
    return !this.#io.failure && !this.#closed && !this.#busy && this.#pending === undefined;
  }

  /** Reads the watched settings once, as the set-up left them; every statement is then compared. */
  async #startWatch(): Promise<void> {
    const id = this.#nextId++;
    this.#pending = id;
    await this.#io.write(watchScript(id, this.#context.marker));
    let values: string[] | undefined;
    for (;;) {
      const marker = await this.#io.nextMarker();
      if (marker.name === ShellMarker.exit) throw await this.#psqlExit(false);
      if (marker.name === StatementMarker.watch) values = marker.args.slice(1);
      else if (marker.name === StatementMarker.end) break;
    }
    this.#pending = undefined;
    const reading = values && readWatch(values);
    if (!reading) throw this.#io.fail(protocolError('the server did not report its settings'));
    this.#watch = new SettingsWatch(watchedValues(reading.settings));
    this.#transaction = reading.transaction;
    this.#context.watch = true;
  }

  /** A statement's watch report: a changed setting or an ended transaction ends the session. */
  #checkWatch(plan: StatementPlan, args: string[]): void {
    const reading = readWatch(args);
    if (!this.#watch) return;
    if (!reading) throw this.#io.fail(protocolError('the settings watch did not report'));
    const changed = this.#watch.checkRow(reading.settings);
    if (changed) throw this.#io.fail(changed);
    const before = this.#transaction;
    this.#transaction = reading.transaction;
    if (
      before !== '-' &&
      before !== '?' &&
      reading.transaction !== before &&
      !endsTransaction(plan.command)
    ) {
      throw this.#io.fail(transactionEnded());
    }
  }

  /** The bootstrap script's verdict: psql is starting, or why it cannot. */
  async #awaitReady(): Promise<void> {
    const { where, urlEnv } = this.#options;
    for (;;) {
      const marker = await this.#io.nextMarker();
      switch (marker.name) {
        case ShellMarker.ready:
          this.#gzip = marker.args[1] === 'gzip';
          return;
        case ShellMarker.noPsql:
          throw psqlMissing(where);
        case ShellMarker.installFailed:
          throw installFailed(where, scrub(exitReason(await this.#io.text())));
        case ShellMarker.noUrl:
          throw noUrl(where, urlEnv);
        case ShellMarker.noTerminal:
          throw containerLacks(where, 'stty');
        case ShellMarker.noBase64:
          throw containerLacks(where, 'base64');
        default:
          // A marker of no interest at this point; keep waiting.
          break;
      }
    }
  }

  async #awaitHello(): Promise<void> {
    const marker = await this.#io.nextMarker();
    if (marker.name === ShellMarker.exit) throw await this.#psqlExit(true);
    if (marker.name !== 'hello') {
      throw this.#io.fail(protocolError(`unexpected marker ${marker.name} before psql started`));
    }
    const [psql, server] = marker.args.map(Number);
    if (!psql || psql < MIN_PSQL_VERSION) throw psqlTooOld(this.#options.where, marker.args[0] ?? '');
    this.#context.psqlVersion = psql;
    this.#context.serverVersion = server ?? 0;
  }

  // ── statements ───────────────────────────────────────────────────────────────────────────

  async *#run(plan: StatementPlan): AsyncGenerator<QueryEvent> {
    const id = this.#nextId++;
    const script = statementScript(plan, id, this.#context);
    this.#pending = id;
    const writing = this.#io.write(script.text);
    writing.catch(() => undefined);
    yield* this.#collect(plan, id, script);
    await writing;
  }

  /** Reads one statement's output up to its end marker and turns it into events. */
  async *#collect(plan: StatementPlan, id: number, script: StatementScript): AsyncGenerator<QueryEvent> {
    let types = plan.types;
    let described: Field[] | undefined;
    // Until the statement has been described, an error comes from its PREPARE.
    let stage: keyof StatementScript['positions'] = plan.kind === 'described' ? 'prepare' : 'execute';
    let tag: string | undefined;
    let result: ResultDecoder | undefined;
    let failure: { sqlState: string; message: string } | undefined;
    let stderr = '';
    for (;;) {
      const marker = await this.#io.nextMarker();
      if (marker.name === ShellMarker.exit) throw await this.#psqlExit(false);
      if (marker.args[0] !== String(id)) {
        throw this.#io.fail(
          protocolError(`expected statement ${id}, got ${marker.name} ${marker.args[0] ?? ''}`),
        );
      }
      switch (marker.name) {
        case StatementMarker.types:
          stage = 'execute';
          types = marker.args[1] ? marker.args[1].split(',').map(Number) : [];
          break;
        case StatementMarker.describe:
          stage = 'execute';
          described = await this.#readDescription();
          break;
        case StatementMarker.result: {
          stage = 'execute';
          const encoding = (marker.args[1] ?? 'plain') as ResultEncoding;
          result = new ResultDecoder(
            plan,
            { ...(types ? { types } : {}), ...(described ? { described } : {}) },
            encoding,
            this.#nullMarker,
          );
          yield* this.#readResult(result);
          break;
        }
        case StatementMarker.tag:
          tag = await this.#io.lastLine();
          break;
        case StatementMarker.ok:
          // ROW_COUNT after \gexec counts the generating query's row, so it is not used: the rows
          // themselves are counted, and commands report their tag.
          break;
        case StatementMarker.error:
          failure = { sqlState: marker.args[1] ?? '', message: (await this.#io.text()).replace(/\n$/, '') };
          break;
        case StatementMarker.stderr:
          stderr += await this.#io.text();
          break;
        case StatementMarker.watch:
          this.#checkWatch(plan, marker.args.slice(1));
          break;
        case StatementMarker.end: {
          this.#pending = undefined;
          const messages = parseMessages(stderr);
          for (const notice of noticesIn(messages)) yield { kind: 'notice', ...notice };
          if (failure?.message.includes(LEXICAL_REFUSAL)) throw this.#io.fail(lexicalSettingsChanged());
          if (failure) {
            const extras = errorExtras(messages, failure.message, failure.sqlState);
            throw statementError(failure, extras, script.positions[stage], this.#options.where);
          }
          // Not watched (see psql-script.ts): the next report starts the comparison afresh.
          if (this.#watch && controlsTransaction(plan.command)) this.#transaction = '?';
          yield done(plan, tag, result);
          return;
        }
        default:
          throw this.#io.fail(protocolError(`unexpected marker ${marker.name}`));
      }
    }
  }

  /** Decodes a result section as it arrives, one batch of events per piece of channel output. */
  async *#readResult(result: ResultDecoder): AsyncGenerator<QueryEvent> {
    try {
      for await (const bytes of this.#io.section()) yield* await result.push(bytes);
      yield* await result.end();
    } catch (error) {
      if (error instanceof CoderdbError) throw this.#io.fail(error);
      throw this.#io.fail(protocolError((error as Error).message));
    }
  }

  /**
   * \gdesc's CSV (Column,Type), for servers without pg_prepared_statements.result_types. It comes
   * as plain text: only the types are used, and the column names are taken from the result.
   */
  async #readDescription(): Promise<Field[]> {
    const csv = new CsvParser();
    const records: Buffer[][] = [];
    for await (const bytes of this.#io.section()) records.push(...csv.push(bytes));
    return describedFields(records);
  }

  /** psql exited: at start-up it could not connect; later the connection to the server broke. */
  async #psqlExit(starting: boolean): Promise<CoderdbError> {
    this.#psqlExited = true;
    this.#pending = undefined;
    const reason = scrub(exitReason(await this.#io.text().catch(() => '')));
    const { where } = this.#options;
    return this.#io.fail(starting ? connectFailure(reason, where) : lostConnection(reason, where));
  }

  #assertUsable(): void {
    const failure = this.#io.failure;
    if (failure) {
      throw connectionError(
        'exec.session-unusable',
        `the exec session cannot run more statements: ${failure.message}`,
        {
          hint: 'run the command again',
        },
      );
    }
    if (this.#closed) throw new CoderdbError('internal', 'exec.closed', 'the exec session is closed');
    if (this.#busy || this.#pending !== undefined) {
      throw new CoderdbError('internal', 'exec.busy', 'the exec session is already running a statement');
    }
  }
}

/** The statement's `done`: a command's tag as psql printed it, else what the rows counted. */
function done(plan: StatementPlan, tag: string | undefined, result: ResultDecoder | undefined): QueryEvent {
  if (plan.kind === 'command' && tag) {
    // The same reading of the tag as the direct transport's: first word, last number.
    const [command = '', ...rest] = tag.split(' ');
    const count = Number(rest.at(-1));
    return { kind: 'done', command, rowCount: rest.length > 0 && Number.isFinite(count) ? count : null };
  }
  const counted = plan.countsRows || plan.kind === 'copy';
  return { kind: 'done', command: plan.command, rowCount: counted ? (result?.rowCount ?? null) : null };
}

/** A watch report: the settings (hex after an x) and the transaction's start; undefined if unset. */
function readWatch(args: string[]): { settings: string[]; transaction: string } | undefined {
  const transaction = args.at(-1);
  const settings = args.slice(0, -1);
  if (
    !transaction ||
    settings.length !== WATCHED_SETTINGS.length ||
    settings.some((value) => !/^x(?:[0-9a-f]{2})*$/.test(value))
  )
    return undefined;
  return {
    settings: settings.map((value) => Buffer.from(value.slice(1), 'hex').toString('utf8')),
    transaction,
  };
}

function lexicalSettingsChanged(): CoderdbError {
  return new CoderdbError(
    'refused',
    'session.lexical-settings-changed',
    "the server's standard_conforming_strings or client_encoding changed during the session; coderdb refused to run the statement and ended the session",
    { hint: 'the server would not read the statement as the guard did; nothing of it ran' },
  );
}

/** The statements that set a session up (session-guard.ts), then its application_name. */
function sessionSettings(
  session: Pick<OpenOptions, 'read' | 'disabledLayers'>,
  applicationName: string,
): string[] {
  return [...setupStatements(session), `SET application_name = ${sqlLiteral(applicationName)}`];
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
