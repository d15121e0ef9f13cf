// The one place where failures become what a person sees and the exit status a script sees: one
// line, then any context (an SQL excerpt with a caret), then the hint. Stack traces only with
// CODERDB_DEBUG=1.

import { CoderdbError, ExitCode } from '../core/errors.js';
import { scrub } from '../core/secret.js';

export function reportError(error: unknown): number {
  const debug = Boolean(process.env.CODERDB_DEBUG);
  if (error instanceof CoderdbError) {
    const lines = [`coderdb: ${scrub(error.message)}`];
    if (error.detail)
      lines.push(
        ...scrub(error.detail)
          .split('\n')
          .map((line) => `  ${line}`),
      );
    if (error.hint) lines.push(`hint: ${scrub(error.hint)}`);
    if (debug && error.cause) lines.push(scrub(String((error.cause as Error).stack ?? error.cause)));
    process.stderr.write(`${lines.join('\n')}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`coderdb: internal error: ${scrub(message)}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${scrub(error.stack)}\n`);
  else process.stderr.write('hint: this is a bug in coderdb; run again with CODERDB_DEBUG=1 for details\n');
  return ExitCode.internal;
}
