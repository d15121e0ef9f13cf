// The audit log: one JSON line per statement coderdb runs for an operator, read or write, with who,
// where, what and how it ended. Lines never hold a secret: statements are recorded as the guard
// masked them and every text goes through scrub(). A line that cannot be written stops what it was
// to record: reads log a `started` line before they run, so no row reaches an operator unrecorded.
// Each line is chained to the one before it (seq, prev, hash: see audit-chain.ts) and appended under
// a lock file, so that concurrent coderdb processes extend one chain; `coderdb audit verify` checks it.
// With a sink (a CloudWatch Logs group, profile `auditLogGroup`) every line also goes there, the same
// JSON: at the command's end in one batch, or, when the profile says `auditRequired`, before what it
// records may run or commit (accepted()), so that nothing happens the shared trail has not taken.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { chainTail, GENESIS, recordHash, withFileLock } from './audit-chain.js';
import { CoderdbError } from './errors.js';
import { paths } from './paths.js';
import { scrub } from './secret.js';

export type AuditOutcome =
  /** Written before a statement or a container session runs; its final line follows. */
  | 'started'
  | 'ok'
  | 'error'
  /** The statement ran but its result did not reach the output whole. */
  | 'incomplete'
  | 'refused'
  | 'planned'
  | 'commit-pending'
  | 'committed'
  | 'rolled-back'
  | 'restored';

export interface AuditEntry {
  time: string;
  /** AWS caller ARN when coderdb talked to AWS, else undefined. */
  identity?: string;
  /** Local OS user who ran coderdb. */
  user: string;
  profile: string;
  transport: string;
  /** Where the statement ran, without credentials. */
  target?: string;
  command: string;
  statement?: string;
  rows?: number | null;
  outcome: AuditOutcome;
  error?: string;
  durationMs?: number;
  reason?: string;
  undoFile?: string;
  backupFile?: string;
  /** For refusals and errors: the stable error code (`guard.write-refused` …). */
  code?: string;
  /** Container sessions (exec, shell, psql): the task, the container, the command's exit status. */
  task?: string;
  container?: string;
  exitStatus?: number;
  /** The `coderdb console` session the statement was typed in (`coderdb audit --session ID`). */
  session?: string;
  /** The hash chain (absent in logs written before it): position, the previous record's hash, own. */
  seq?: number;
  prev?: string;
  hash?: string;
}

export type AuditInput = Omit<AuditEntry, 'time' | 'user' | 'seq' | 'prev' | 'hash'>;

/** A copy of the log kept elsewhere, beyond the reach of whoever can edit the local file. */
export interface AuditSink {
  /** Where the records go, for messages: `CloudWatch Logs /coderdb/audit (stream ann@laptop)`. */
  readonly label: string;
  /** Whether a record must reach the sink before what it records may run or commit. */
  readonly required: boolean;
  /**
   * Sends records, oldest first, exactly as written locally, and returns how many were accepted
   * (all of them, or the first batches before one failed, with the error of that one).
   */
  send(entries: readonly AuditEntry[]): Promise<{ accepted: number; error?: Error }>;
}

/** A best-effort sink gets the records at the latest this long after they were written. */
const SINK_FLUSH_DELAY_MS = 30_000;

export class AuditLog {
  readonly #sink: AuditSink | undefined;
  /** Records written locally that the sink has not accepted yet, oldest first. */
  #pending: AuditEntry[] = [];
  /** Why the sink stopped taking records; it is not tried again by this process. */
  #sinkFailure: Error | undefined;
  /** Deliveries run one after another, so that no record is sent twice or out of order. */
  #queue: Promise<unknown> = Promise.resolve();
  /** A long command (console, tunnel, shell) sends what it logged without waiting for its end. */
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #warn: (line: string) => void;

  constructor(
    readonly file: string = paths.auditLog(),
    sink?: AuditSink,
    warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {
    this.#sink = sink;
    this.#warn = warn;
  }

  /** Whether records must be accepted by a sink before what they record happens. */
  get sinkRequired(): boolean {
    return Boolean(this.#sink?.required);
  }

  /**
   * With a required sink: sends the records not yet accepted and throws (CoderdbError
   * `audit.sink-unavailable`) unless the sink took them all. Call it after writing a `started` or
   * `commit-pending` line and before the thing it records. Without a required sink: nothing.
   */
  async accepted(): Promise<void> {
    const sink = this.#sink;
    if (!sink?.required) return;
    try {
      if (this.#sinkFailure) throw this.#sinkFailure;
      await this.#deliver(sink);
    } catch (error) {
      // The command stops with this error; its later lines stay in the local file, unsent.
      this.#stop(error as Error);
      throw new CoderdbError(
        'connection',
        'audit.sink-unavailable',
        `the audit sink ${sink.label} did not accept the audit record, so nothing was run or committed: ${(error as Error).message}`,
        {
          hint: 'the profile says auditRequired: restore access to the log group (coderdb doctor), or ask for auditRequired to be lifted',
          cause: error,
        },
      );
    }
  }

  /**
   * Sends whatever the sink has not taken yet, in one batch where possible; at a command's end
   * (and SINK_FLUSH_DELAY_MS after a record of a long one). Never throws: a failure is one warning
   * line, and the records stay in the local file.
   */
  async settle(): Promise<void> {
    const sink = this.#sink;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (!sink || this.#sinkFailure) return;
    try {
      await this.#deliver(sink);
    } catch (error) {
      const count = this.#pending.length;
      this.#stop(error as Error);
      this.#warn(
        `coderdb: warning: the audit sink ${sink.label} did not accept ${count} audit record(s), kept only in ${this.file}: ${scrub((error as Error).message)}`,
      );
    }
  }

  #deliver(sink: AuditSink): Promise<void> {
    const delivery = this.#queue.then(async () => {
      if (this.#sinkFailure) throw this.#sinkFailure;
      if (this.#pending.length === 0) return;
      const { accepted, error } = await sink.send(this.#pending.slice());
      // What was taken is never sent twice; records appended meanwhile stay pending.
      this.#pending = this.#pending.slice(accepted);
      if (error) throw error;
    });
    this.#queue = delivery.catch(() => undefined);
    return delivery;
  }

  #stop(failure: Error): void {
    this.#sinkFailure ??= failure;
    this.#pending = [];
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  #queueForSink(entry: AuditEntry): void {
    if (!this.#sink || this.#sinkFailure) return;
    this.#pending.push(entry);
    // A required sink is sent to at each gate (accepted()); a best-effort one in the background.
    if (this.#sink.required || this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.settle();
    }, SINK_FLUSH_DELAY_MS);
    this.#flushTimer.unref();
  }

  append(input: AuditInput, options: { durable?: boolean } = {}): AuditEntry {
    let entry: AuditEntry = { time: new Date().toISOString(), user: currentUser(), ...input };
    if (entry.statement) entry.statement = scrub(entry.statement);
    if (entry.error) entry.error = scrub(entry.error);
    if (entry.reason) entry.reason = scrub(entry.reason);
    try {
      entry = this.#write(entry, Boolean(options.durable));
      this.#queueForSink(entry);
    } catch (error) {
      throw new CoderdbError(
        'output',
        'audit.unwritable',
        `cannot write the audit log ${this.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        {
          hint: 'coderdb runs nothing it cannot record; free disk space or fix the file (coderdb config path)',
          cause: error,
        },
      );
    }
    return entry;
  }

  /** Chains the entry to the log's last record and appends it, holding the log's lock throughout. */
  #write(input: AuditEntry, durable: boolean): AuditEntry {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    return withFileLock(this.file, () => {
      const fd = openSync(this.file, 'a+', 0o600);
      try {
        const { last, torn } = chainTail(fd);
        const chained: AuditEntry = { ...input, seq: last ? last.seq + 1 : 1, prev: last?.hash ?? GENESIS };
        const entry = { ...chained, hash: recordHash(chained as unknown as Record<string, unknown>) };
        writeSync(fd, `${torn ? '\n' : ''}${JSON.stringify(entry)}\n`);
        // Before a commit the line must reach the disk: the commit may be the last thing that happens.
        if (durable) fsyncSync(fd);
        return entry;
      } finally {
        closeSync(fd);
      }
    });
  }

  /** All entries, oldest first; a torn last line (a crash mid-write) is skipped. */
  read(): AuditEntry[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const entries: AuditEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        entries.push(JSON.parse(line) as AuditEntry);
      } catch {
        // skip
      }
    }
    return entries;
  }
}

const audited = new WeakSet<object>();

/** Marks an error as already in the audit log, so that the CLI's catch-all does not log it twice. */
export function markAudited(error: unknown): void {
  if (typeof error === 'object' && error !== null) audited.add(error);
}

export function wasAudited(error: unknown): boolean {
  return typeof error === 'object' && error !== null && audited.has(error);
}

let cachedUser: string | undefined;
function currentUser(): string {
  if (cachedUser === undefined) {
    try {
      cachedUser = userInfo().username;
    } catch {
      cachedUser = process.env.USER ?? 'unknown';
    }
  }
  return cachedUser;
}
