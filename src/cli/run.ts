// The coderdb command: runs the program with this process's arguments and exits with its status.

import { ExitCode } from '../core/errors.js';
import { interrupt, interruptedExitCode, interruption } from './interrupt.js';
import { main } from './program.js';

// coderdb supports Node 20 on purpose; the SDK's multi-line notice about its future Node 22
// requirement would otherwise interleave with coderdb's one-line errors.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // Only the first: the stream may report the failure again while the command unwinds.
  if (interruption.aborted) return;
  // A closed pipe (coderdb … | head) is a normal way for output to end.
  if (error.code === 'EPIPE') interrupt(0);
  else interrupt(ExitCode.output, `coderdb: cannot write the output: ${error.message}\n`);
});

process.on('SIGINT', () => interrupt(130, '\ninterrupted\n'));
// `timeout`, systemd, a CI runner's cancel, a closed terminal: the same clean ending, silently.
process.on('SIGTERM', () => interrupt(143));
process.on('SIGHUP', () => interrupt(129));

// Node exits on its own when nothing is left to wait for. Before the command has finished, that
// means it stalled (a paused socket nobody resumes): its output is incomplete, so say so and fail
// instead of exiting 0 with a short result.
let finished = false;
process.on('beforeExit', () => {
  if (finished || interruption.aborted) return;
  finished = true;
  process.stderr.write(
    'coderdb: internal error: the command stalled before it finished; its output is incomplete\n',
  );
  process.exitCode = ExitCode.internal;
});

main(process.argv).then((code) => {
  finished = true;
  const interrupted = interruptedExitCode();
  // After an interruption nothing else is worth waiting for (an SDK socket, a timer).
  if (interrupted !== undefined) process.exit(interrupted);
  process.exitCode = code;
});
