// Waiting for a wrapper script's ready line (markers.ts) at the start of a session's output, with a
// deadline: a container that never runs the script must not leave coderdb waiting forever. Shared
// by the one-shot and the interactive paths, which differ only in what a ready value means.

import { CoderdbError, connectionError } from '../../core/errors.js';
import { withTimeout } from '../../ssm/timing.js';
import { type Marker, type PreambleResult, PreambleScanner } from './markers.js';

/** The ready line, or undefined when the output ended first (the channel's end says why). */
export async function readReadyLine(
  output: AsyncIterator<Buffer>,
  marker: Marker,
  timeoutMs: number,
): Promise<PreambleResult | undefined> {
  const scanner = new PreambleScanner(marker, 'ready');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const next = await withTimeout(output.next(), Math.max(1, deadline - Date.now()), () =>
      connectionError('remote.no-start', 'the command in the container did not start in time', {
        hint: 'try again; run `coderdb doctor` if it keeps happening',
      }),
    );
    if (next.done) return undefined;
    let found: PreambleResult | undefined;
    try {
      found = scanner.push(next.value);
    } catch {
      throw connectionError(
        'remote.no-start',
        'the container printed something else instead of starting the command',
        {
          hint: 'check the container’s shell (`coderdb shell`)',
        },
      );
    }
    if (found) return found;
  }
}

/** A failure of the data channel itself: its output stream ends with it; `closed` has the details. */
export function isChannelFailure(error: unknown): boolean {
  return error instanceof CoderdbError && error.code.startsWith('ssm.');
}
