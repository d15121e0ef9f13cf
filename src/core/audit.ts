// The audit log: one JSON line per statement coderdb runs for an operator, read or write, with who,
// where, what and how it ended. Lines are appended with O_APPEND (atomic for lines this size on
// local filesystems) and never hold a secret: statements are recorded as the guard masked them and
// every text goes through scrub().

import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { paths } from './paths.js';
import { scrub } from './secret.js';

export type AuditOutcome =
  | 'ok'
  | 'error'
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
  /** The `coderdb console` session the statement was typed in (`coderdb audit --session ID`). */
  session?: string;
}

export type AuditInput = Omit<AuditEntry, 'time' | 'user'>;

export class AuditLog {
  constructor(readonly file: string = paths.auditLog()) {}

  append(input: AuditInput, options: { durable?: boolean } = {}): AuditEntry {
    const entry: AuditEntry = { time: new Date().toISOString(), user: currentUser(), ...input };
    if (entry.statement) entry.statement = scrub(entry.statement);
    if (entry.error) entry.error = scrub(entry.error);
    if (entry.reason) entry.reason = scrub(entry.reason);
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const line = `${JSON.stringify(entry)}\n`;
    if (options.durable) {
      // Before a commit the line must reach the disk: the commit may be the last thing that happens.
      const fd = openSync(this.file, 'a', 0o600);
      try {
        appendFileSync(fd, line);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      appendFileSync(this.file, line, { mode: 0o600 });
    }
    return entry;
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
