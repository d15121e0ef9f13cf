// Questions on the terminal (MFA codes, confirmations, typed names). Prompts go to stderr so that
// stdout stays clean for results; without a terminal there is nobody to ask, and callers must have
// been told the answer by a flag instead.

import { createInterface } from 'node:readline';
import { CoderdbError } from './errors.js';

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks one line of input; rejects if there is no terminal or after `timeoutMs`. */
export async function ask(question: string, timeoutMs = 5 * 60_000): Promise<string> {
  if (!canPrompt()) throw new Error('no terminal to ask on');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for an answer')), timeoutMs);
      rl.question(question, resolve);
      // Ctrl-C at a question is an interruption (exit 130), not a "no" to it.
      rl.once('SIGINT', () => reject(new CoderdbError('interrupted', 'prompt.interrupted', 'interrupted')));
      rl.once('close', () => reject(new Error('input closed')));
    });
  } finally {
    clearTimeout(timer);
    rl.close();
  }
}

/** Asks for an exact answer (e.g. "yes", or a database name); true only when typed exactly. */
export async function confirmTyped(question: string, expected: string): Promise<boolean> {
  try {
    return (await ask(question)).trim() === expected;
  } catch (error) {
    if (isInterruption(error)) throw error;
    return false;
  }
}

export function isInterruption(error: unknown): boolean {
  return error instanceof CoderdbError && error.kind === 'interrupted';
}
