// Reads what psql wrote to stderr during one statement (or before it exited): notices and warnings
// to pass on, and the parts of an error psql keeps in no variable. With VERBOSITY terse the error
// line ends in " at character N" (the position), and `\errverbose` adds the DETAIL and HINT lines.
// Lines look like `psql:/dev/stdin:12: NOTICE:  text` (the prefix varies with the psql version).

export interface PsqlMessage {
  severity: string;
  /** First line after the severity, then continuation lines. */
  text: string;
}

export interface ErrorExtras {
  position?: number;
  detail?: string;
  hint?: string;
}

const ENTRY =
  /^(?:psql:[^\n]*?:\d+: )?(?:psql: )?(?:error: |warning: |fatal: )?(ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|LOG|DEBUG): {2}(.*)$/;
const NOTICE_SEVERITIES = new Set(['WARNING', 'NOTICE', 'INFO', 'LOG', 'DEBUG']);
const FIELD =
  /^(DETAIL|HINT|QUERY|CONTEXT|LOCATION|SCHEMA NAME|TABLE NAME|COLUMN NAME|DATATYPE NAME|CONSTRAINT NAME): {2}(.*)$/;

export function parseMessages(stderr: string): PsqlMessage[] {
  const messages: PsqlMessage[] = [];
  for (const line of stderr.replace(/\n$/, '').split('\n')) {
    const match = ENTRY.exec(line);
    if (match) messages.push({ severity: match[1]!, text: match[2]! });
    else if (messages.length > 0) messages.at(-1)!.text += `\n${line}`;
  }
  return messages;
}

/** Notices and warnings, as the direct transport reports them. */
export function noticesIn(messages: PsqlMessage[]): { severity: string; message: string }[] {
  return messages
    .filter((entry) => NOTICE_SEVERITIES.has(entry.severity))
    .map((entry) => ({ severity: entry.severity, message: entry.text }));
}

/** Position, detail and hint of the error whose message and SQLSTATE psql reported. */
export function errorExtras(messages: PsqlMessage[], message: string, sqlState: string): ErrorExtras {
  const extras: ErrorExtras = {};
  const errors = messages.filter((entry) => entry.severity === 'ERROR' || entry.severity === 'FATAL');
  for (const entry of errors) {
    if (entry.text.startsWith(`${message} at character `)) {
      const position = Number(entry.text.slice(message.length + ' at character '.length));
      if (Number.isInteger(position) && position > 0) extras.position = position;
    } else if (entry.text.startsWith(`${sqlState}: ${message}`)) {
      Object.assign(extras, verboseFields(entry.text.slice(`${sqlState}: ${message}`.length)));
    }
  }
  return extras;
}

/** DETAIL and HINT from the lines of an \errverbose report that follow the message. */
function verboseFields(rest: string): Pick<ErrorExtras, 'detail' | 'hint'> {
  const fields: Record<string, string> = {};
  let current: string | undefined;
  let skipCaret = false;
  for (const line of rest.split('\n').slice(1)) {
    const match = FIELD.exec(line);
    if (match) {
      current = match[1]!;
      fields[current] = match[2]!;
    } else if (/^LINE \d+: /.test(line)) {
      current = undefined;
      skipCaret = true;
    } else if (skipCaret && /^ *\^$/.test(line)) {
      skipCaret = false;
    } else if (current) {
      fields[current] += `\n${line}`;
    }
  }
  return {
    ...(fields.DETAIL ? { detail: fields.DETAIL } : {}),
    ...(fields.HINT ? { hint: fields.HINT } : {}),
  };
}

/** psql's own complaint when it exits, without its `psql: error: ` prefixes. */
export function exitReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) =>
      line
        .replace(/^psql:[^\n]*?:\d+: /, '')
        .replace(/^psql: /, '')
        .replace(/^(error|fatal): /, ''),
    )
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return lines.join(' ').slice(0, 1000);
}
