// One error type for everything coderdb reports to a user: a stable code, a one-line message, an
// optional hint, and the exit status the CLI maps it to. Library callers catch `CoderdbError` and
// read `code`; the CLI prints `message` and `hint` and exits with `exitCode`.

/** Exit statuses, documented in the README. */
export const ExitCode = {
  ok: 0,
  /** The database rejected a statement (syntax, constraint, permission, timeout…). */
  sql: 1,
  /** Bad flags, arguments, config or input files. */
  usage: 2,
  /** Could not reach or authenticate to the database or AWS; no running task; dropped connection. */
  connection: 3,
  /** Refused by a safety rule: the read-only guard, a declined confirmation, a protected target. */
  refused: 4,
  /** `coderdb doctor` found a failing check. */
  checkFailed: 5,
  /** The output could not be written (disk full, a closed terminal); sysexits' EX_IOERR. */
  output: 74,
  /** A bug in coderdb itself. */
  internal: 70,
  /** Interrupted by the user (Ctrl-C). */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = Exclude<keyof typeof ExitCode, 'ok'>;

export interface ErrorDetails {
  hint?: string;
  /** Context shown under the message, such as the SQL line with a caret under the error. */
  detail?: string;
  /** SQLSTATE when the database raised it. */
  sqlState?: string;
  /** 1-based character position in the statement, for syntax errors. */
  position?: number;
  cause?: unknown;
}

export class CoderdbError extends Error {
  readonly kind: ErrorKind;
  /** Machine-readable code, e.g. `guard.write-refused`, `aws.no-running-task`, `sql.42601`. */
  readonly code: string;
  readonly hint: string | undefined;
  readonly detail: string | undefined;
  readonly sqlState: string | undefined;
  readonly position: number | undefined;

  constructor(kind: ErrorKind, code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CoderdbError';
    this.kind = kind;
    this.code = code;
    this.hint = details.hint;
    this.detail = details.detail;
    this.sqlState = details.sqlState;
    this.position = details.position;
  }

  get exitCode(): ExitCodeValue {
    return ExitCode[this.kind];
  }
}

export const usageError = (code: string, message: string, details?: ErrorDetails) =>
  new CoderdbError('usage', code, message, details);
export const connectionError = (code: string, message: string, details?: ErrorDetails) =>
  new CoderdbError('connection', code, message, details);
export const refusedError = (code: string, message: string, details?: ErrorDetails) =>
  new CoderdbError('refused', code, message, details);
export const sqlError = (code: string, message: string, details?: ErrorDetails) =>
  new CoderdbError('sql', code, message, details);

export function isCoderdbError(value: unknown): value is CoderdbError {
  return value instanceof CoderdbError;
}

export const DOCTOR_HINT = 'try `coderdb doctor`';
