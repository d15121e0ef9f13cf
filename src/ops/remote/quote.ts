// Quoting for the two parsers a command meets on its way into the container. The SSM agent splits
// the ExecuteCommand string with google/shlex and execs the words without a shell (§6.2), and our
// wrapper then hands a script to `sh -c`. Inside single quotes both take every character literally
// up to the next quote, and both read `'\''` as a literal quote, so one rule is exact for both.
// Every word is quoted, even plain ones: an unquoted `if`, `FOO=bar` or `#x` means something else
// to sh or to shlex.

import { usageError } from '../../core/errors.js';

/** One word, quoted so that both google/shlex and POSIX sh read it back unchanged. */
export function quoteWord(word: string): string {
  if (word.includes('\0')) {
    throw usageError('remote.nul-in-argument', 'a command argument cannot contain a NUL byte');
  }
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line whose shlex (or sh) split gives back exactly `words`. */
export function quoteWords(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}

/** The ExecuteCommand string that runs `script` with `sh -c` (ECS Exec itself runs no shell). */
export function shellCommand(script: string): string {
  return quoteWords(['sh', '-c', script]);
}
