// The audit log's hash chain: every record carries `seq` (1, 2, 3 …), `prev` (the `hash` of the
// record before it, GENESIS for the first) and `hash` (SHA-256 over its own canonical form). An
// edited record no longer matches its hash; a removed, inserted or reordered one breaks the run of
// seq and prev. The chain proves the file was not edited by hand; it cannot stop someone who
// rewrites the whole chain from the edit onwards: only a copy kept elsewhere (a log sink) can.

import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { isProcessAlive } from './process.js';

/** The `prev` of the first chained record. */
export const GENESIS = '0'.repeat(64);

export interface ChainFields {
  seq: number;
  prev: string;
  hash: string;
}

/** SHA-256 (hex) of a record's canonical form: its fields but `hash`, keys sorted, as JSON. */
export function recordHash(record: Record<string, unknown>): string {
  const canonical: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) {
    if (key !== 'hash' && record[key] !== undefined) canonical[key] = record[key];
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

export function isChained(record: unknown): record is ChainFields {
  const r = record as Partial<ChainFields> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.seq === 'number' &&
    typeof r.prev === 'string' &&
    typeof r.hash === 'string'
  );
}

const TAIL_CHUNK = 64 * 1024;

/**
 * The last chained record of the file (its seq and hash), and whether the file ends mid-line (a
 * torn write, to be closed with a newline before the next record). Reads backwards from the end
 * in chunks, so appending costs the same on a large log.
 */
export function chainTail(fd: number): { last: ChainFields | undefined; torn: boolean } {
  const stat = fstatSync(fd);
  if (!stat.isFile() || stat.size === 0) {
    // A directory fails the write that follows with its own errno; a device has no tail.
    if (stat.isDirectory()) readSync(fd, Buffer.alloc(1), 0, 1, 0);
    return { last: undefined, torn: false };
  }
  const size = stat.size;
  const lastByte = Buffer.alloc(1);
  readSync(fd, lastByte, 0, 1, size - 1);
  const torn = lastByte[0] !== 0x0a;
  let end = size;
  let carry = Buffer.alloc(0);
  while (end > 0) {
    const start = Math.max(0, end - TAIL_CHUNK);
    const chunk = Buffer.alloc(end - start);
    readSync(fd, chunk, 0, chunk.length, start);
    const text = Buffer.concat([chunk, carry]);
    const lines = text.toString('utf8').split('\n');
    // The first piece may be the end of a line that starts in an earlier chunk.
    const complete = start === 0 ? lines : lines.slice(1);
    for (let i = complete.length - 1; i >= 0; i--) {
      const line = complete[i]!.trim();
      if (!line) continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        continue; // a torn or foreign line: the chain goes on from the last record before it
      }
      return { last: isChained(record) ? record : undefined, torn };
    }
    carry = start === 0 ? Buffer.alloc(0) : Buffer.from(lines[0]!, 'utf8');
    end = start;
  }
  return { last: undefined, torn };
}

const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 30_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `body` holding `file.lock`, an O_EXCL lock file with this process's pid, so that two
 * coderdb processes never read the same tail and fork the chain. Waits at most LOCK_WAIT_MS; a lock
 * whose process is gone (or older than LOCK_STALE_MS) is taken over. Synchronous on purpose: the
 * audit line is written before the statement it records runs, on every path.
 */
export function withFileLock<T>(file: string, body: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (lockIsStale(lock)) {
        try {
          unlinkSync(lock);
        } catch {
          // another process took it over first
        }
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`its lock ${lock} is held by another process (remove it if no coderdb is running)`);
      }
      Atomics.wait(sleeper, 0, 0, Math.min(2 + attempt * 2, 25));
    }
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    return body();
  } finally {
    closeSync(fd);
    try {
      unlinkSync(lock);
    } catch {
      // removed as stale by another process: nothing of ours is left
    }
  }
}

function lockIsStale(lock: string): boolean {
  try {
    if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) return true;
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written: not yet stale
    return !isProcessAlive(pid);
  } catch {
    return false; // gone already: the next attempt takes it
  }
}

export interface VerifyReport {
  /** Records checked (chained or not). */
  records: number;
  chained: number;
  /** 1-based line of the first chained record, when lines without the chain come before it. */
  unchainedBefore: number | undefined;
  findings: string[];
}

/** Walks the log line by line (streaming) and names every break in the chain. */
export async function verifyChain(file: string): Promise<VerifyReport> {
  const report: VerifyReport = { records: 0, chained: 0, unchainedBefore: undefined, findings: [] };
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  let last: { seq: number; hash: string; line: number } | undefined;
  let unchained = 0;
  const find = (message: string) => report.findings.push(message);
  for await (const text of lines) {
    lineNo++;
    if (!text.trim()) continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      find(`line ${lineNo}: not a JSON record (torn or edited)`);
      continue;
    }
    report.records++;
    if (!isChained(record)) {
      if (last === undefined) unchained++;
      else find(`line ${lineNo}: a record without seq/prev/hash inside the chain (inserted)`);
      continue;
    }
    report.chained++;
    if (last === undefined && unchained > 0) report.unchainedBefore = lineNo;
    const { seq, prev, hash } = record;
    const at = `line ${lineNo} (seq ${seq})`;
    const expected = last === undefined ? 1 : last.seq + 1;
    if (recordHash(record as unknown as Record<string, unknown>) !== hash) {
      find(`${at}: edited (its content does not match its hash)`);
    } else if (last !== undefined && seq <= last.seq) {
      find(
        `${at}: out of order or duplicated (after seq ${last.seq} on line ${last.line}) (reordered or inserted)`,
      );
      continue; // the chain goes on from the record before it
    } else if (seq > expected) {
      const missing = seq - 1 === expected ? `seq ${expected}` : `seq ${expected}–${seq - 1}`;
      find(`${at}: ${missing} missing before it (removed or reordered)`);
    } else if (prev !== (last?.hash ?? GENESIS)) {
      find(
        last === undefined
          ? `${at}: prev is not the genesis value (inserted)`
          : `${at}: prev does not match the hash of line ${last.line} (seq ${last.seq}) (edited or inserted)`,
      );
    }
    last = { seq, hash, line: lineNo };
  }
  return report;
}
