// The audit log: one JSON line per statement coderdb runs for an operator, read or write, with who,
// where, what and how it ended. Lines never hold a secret: statements are recorded as the guard
// masked them and every text goes through scrub(). A line that cannot be written stops what it was
// to record: reads log a `started` line before they run, so no row reaches an operator unrecorded.
// Each line is chained to the one before it (seq, prev, hash: see audit-chain.ts) and appended under
// a lock file, so that concurrent coderdb processes extend one chain; `coderdb audit verify` checks it.

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

export class AuditLog {
  constructor(readonly file: string = paths.auditLog()) {}

  append(input: AuditInput, options: { durable?: boolean } = {}): AuditEntry {
    let entry: AuditEntry = { time: new Date().toISOString(), user: currentUser(), ...input };
    if (entry.statement) entry.statement = scrub(entry.statement);
    if (entry.error) entry.error = scrub(entry.error);
    if (entry.reason) entry.reason = scrub(entry.reason);
    try {
      entry = this.#write(entry, Boolean(options.durable));
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
