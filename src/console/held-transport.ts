// One database session for the whole life of a console. Operations (runAnalyzedRead, performWrite,
// the catalog) open "their" session through a Transport and close it when they are done; this
// Transport hands each of them a lease on the one held session instead, whose close() only ends the
// lease. So every statement still gets its own READ ONLY (or planned write) transaction from
// Db.begin, with the same guard, redaction and audit, while one ECS Exec session with one psql (or
// one port-forwarding session) serves the console from its first prompt to `\q`.
//
// A session that broke (the service ended it, the network went away, a result was abandoned) is
// replaced on the next lease: if the first statement of a lease (its BEGIN, so nothing of the
// operator's has run yet) fails for a connection reason, a new session is opened and the statement
// sent again, and the console says so in one line.

import { CoderdbError } from '../core/errors.js';
import {
  type Around,
  aroundOneByOne,
  type DbSession,
  type OpenOptions,
  type QueryEvent,
  type ServerInfo,
  type Transport,
} from '../transport/types.js';

export interface HeldTransportOptions {
  applicationName: string;
  /** Ends the held session (the CLI's SIGTERM/SIGHUP). */
  signal?: AbortSignal;
  disabledLayers?: OpenOptions['disabledLayers'];
  /**
   * The read session's share of the boundary for the held session (read-only by default, its
   * timeouts, the settings watch: src/transport/session-guard.ts), as every `coderdb query` session
   * has it. A write in write mode still runs: it begins its transaction READ WRITE explicitly.
   */
  read?: OpenOptions['read'];
  /** One line for the operator: the session was replaced, and why. */
  onReconnect?: (reason: string) => void;
}

/** How long a cancel over a side session may take before it is given up. */
const SIDE_CANCEL_TIMEOUT_MS = 30_000;

export class HeldTransport implements Transport {
  readonly name;
  readonly #inner: Transport;
  readonly #options: HeldTransportOptions;
  #session: DbSession | undefined;
  #abort: AbortController | undefined;
  #backendPid: number | undefined;
  /** Why the held session cannot be used any more, once it cannot. */
  #broken: string | undefined;
  #leased = false;
  #lastUsed = Date.now();
  #keepAlive: NodeJS.Timeout | undefined;
  /** The keep-alive statement in flight, which a lease waits for. */
  #pinging: Promise<void> | undefined;
  #closed = false;

  readonly #onInterrupt = () => this.#abort?.abort(this.#options.signal?.reason);

  constructor(inner: Transport, options: HeldTransportOptions) {
    this.#inner = inner;
    this.name = inner.name;
    this.#options = options;
    // Listening (rather than AbortSignal.any) keeps the CLI's graceful exit: it waits for sessions
    // that listen to its signal.
    options.signal?.addEventListener('abort', this.#onInterrupt, { once: true });
  }

  describe(): string {
    return this.#inner.describe();
  }

  /** The held session's server; opens the session if there is none yet. */
  async server(): Promise<ServerInfo> {
    return (await this.#current()).server;
  }

  get transportName(): string {
    return this.#session?.transport ?? this.name;
  }

  /** Whether a statement is running on the held session now. */
  get busy(): boolean {
    return this.#leased;
  }

  async open(_options: OpenOptions = {}): Promise<DbSession> {
    if (this.#closed) throw new CoderdbError('internal', 'console.closed', 'the console session is closed');
    await this.#pinging;
    if (this.#leased) {
      throw new CoderdbError(
        'internal',
        'console.busy',
        'the console session is already running a statement',
      );
    }
    let session = await this.#current();
    this.#leased = true;
    let first = true;
    let released = false;
    const held = this;
    // The first statement of a lease opens its transaction (with the statement itself where the
    // session sends them together): on a connection lost, a new session can take it whole.
    async function* leased(
      run: (target: DbSession) => AsyncIterable<QueryEvent>,
    ): AsyncGenerator<QueryEvent> {
      const retry = first;
      first = false;
      try {
        yield* held.#execute(session, run);
      } catch (error) {
        if (!retry || !isConnectionLoss(error) || held.#closed) throw error;
        held.#options.onReconnect?.(reasonOf(error));
        session = await held.#current();
        yield* held.#execute(session, run);
      }
    }
    const lease: DbSession = {
      get transport() {
        return session.transport;
      },
      get server() {
        return session.server;
      },
      get copyOut() {
        return session.copyOut;
      },
      cancel: () => held.cancel(),
      execute: (sql: string) => leased((target) => target.execute(sql)),
      ...(session.executeAround
        ? {
            executeAround: (sql: string, around: Around) =>
              leased((target) =>
                target.executeAround
                  ? target.executeAround(sql, around)
                  : aroundOneByOne(target, sql, around),
              ),
          }
        : {}),
      async close() {
        if (released) return;
        released = true;
        held.#leased = false;
        held.#lastUsed = Date.now();
      },
    };
    return lease;
  }

  /** Runs one statement on `session`, marking the session broken if it fails to be usable. */
  async *#execute(
    session: DbSession,
    run: (target: DbSession) => AsyncIterable<QueryEvent>,
  ): AsyncGenerator<QueryEvent> {
    let completed = false;
    try {
      yield* run(session);
      completed = true;
    } catch (error) {
      completed = true;
      if (isConnectionLoss(error) && session === this.#session) this.#broken = reasonOf(error);
      throw error;
    } finally {
      // A result given up half-way cannot be skipped: the transports close such a session.
      if (!completed && session === this.#session) this.#broken ??= 'the previous result was abandoned';
    }
  }

  /**
   * Cancels the statement running on the held session and keeps the session: a CancelRequest where
   * the transport can send one (direct, tunnel), else pg_cancel_backend() from a short side session
   * (exec: psql reading a script exits on SIGINT, so the pty cannot carry the interrupt).
   */
  async cancel(): Promise<void> {
    const session = this.#session;
    if (!session || this.#broken) return;
    if (session.cancel) {
      await session.cancel();
      return;
    }
    const pid = this.#backendPid;
    if (pid === undefined) return;
    const side = await this.#inner.open({
      applicationName: `${this.#options.applicationName} cancel`,
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
    });
    const timer = setTimeout(() => void side.close(), SIDE_CANCEL_TIMEOUT_MS);
    try {
      for await (const _event of side.execute(`SELECT pg_cancel_backend(${Math.trunc(pid)})`)) {
        // drained
      }
    } finally {
      clearTimeout(timer);
      await side.close();
    }
  }

  /** Gives up the held session at once (a second Ctrl-C): the next statement gets a new one. */
  abandon(): void {
    if (!this.#session) return;
    this.#broken = 'the session was abandoned after an interrupt';
    this.#abort?.abort(new CoderdbError('interrupted', 'console.abandoned', 'interrupted'));
  }

  /**
   * Keeps an idle session from being ended by the service (ECS Exec ends sessions idle for 20
   * minutes): a `SELECT 1` outside any transaction, which changes nothing.
   */
  keepAlive(intervalMs: number): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = setInterval(
      () => {
        const session = this.#session;
        if (!session || this.#broken || this.#leased || Date.now() - this.#lastUsed < intervalMs) return;
        this.#leased = true;
        this.#pinging = (async () => {
          try {
            for await (const _event of this.#execute(session, (target) => target.execute('SELECT 1'))) {
              // drained
            }
          } catch {
            // Broken now; the next statement reconnects.
          } finally {
            this.#leased = false;
            this.#lastUsed = Date.now();
            this.#pinging = undefined;
          }
        })();
      },
      Math.max(1000, Math.trunc(intervalMs / 4)),
    );
    this.#keepAlive.unref();
  }

  /** Ends the held session for real (TerminateSession over exec and tunnel). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#options.signal?.removeEventListener('abort', this.#onInterrupt);
    const session = this.#session;
    this.#session = undefined;
    await session?.close().catch(() => undefined);
  }

  async #current(): Promise<DbSession> {
    if (this.#session && !this.#broken) return this.#session;
    const old = this.#session;
    this.#session = undefined;
    if (old) {
      this.#abort?.abort(new CoderdbError('interrupted', 'console.replaced', 'replaced'));
      await old.close().catch(() => undefined);
    }
    const abort = new AbortController();
    if (this.#options.signal?.aborted) abort.abort(this.#options.signal.reason);
    this.#abort = abort;
    const session = await this.#inner.open({
      applicationName: this.#options.applicationName,
      signal: abort.signal,
      ...(this.#options.disabledLayers ? { disabledLayers: this.#options.disabledLayers } : {}),
      ...(this.#options.read ? { read: this.#options.read } : {}),
    });
    this.#broken = undefined;
    this.#session = session;
    this.#lastUsed = Date.now();
    this.#backendPid = undefined;
    if (!session.cancel) this.#backendPid = await backendPid(session).catch(() => undefined);
    return session;
  }
}

async function backendPid(session: DbSession): Promise<number | undefined> {
  let pid: number | undefined;
  for await (const event of session.execute('SELECT pg_backend_pid()')) {
    if (event.kind === 'rows' && event.rows[0]?.[0]) pid = Number(event.rows[0][0]);
  }
  return pid;
}

function isConnectionLoss(error: unknown): boolean {
  return error instanceof CoderdbError && (error.kind === 'connection' || error.code === 'console.abandoned');
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
