// One command, run to completion: the client side of execScript (scripts.ts). It waits for the
// wrapper's ready line, streams piped stdin as base64 lines, writes the command's output as it
// arrives with the status line cut off, and returns the command's real exit status, which ECS Exec
// itself never reports. The first SIGINT is passed on as ^C (the command gets it, the wrapper still
// reports its status); a second one, or SIGTERM/SIGHUP, ends the session.

import { CoderdbError, connectionError, usageError } from '../../core/errors.js';
import type { DataChannel } from '../../ssm/channel.js';
import { base64Lines, END_OF_INPUT } from './base64-lines.js';
import { CrlfToLf, type Marker, type PreambleResult, StatusScanner } from './markers.js';
import { isChannelFailure, readReadyLine } from './preamble.js';
import { ReadyMode } from './scripts.js';
import { writeAll } from './streams.js';
import type { Terminal } from './terminal.js';

const CTRL_C = Buffer.from([0x03]);
/** How long the wrapper may take to print its ready line. */
const READY_TIMEOUT_MS = 60_000;
/** After the status line only the session's end is missing; it should follow at once. */
const CLOSE_AFTER_STATUS_MS = 10_000;

export interface ExecRun {
  marker: Marker;
  forwardStdin: boolean;
  /** An error for a ready value from the script's own checks (psqlPipeScript); undefined to go on. */
  check?(value: string): CoderdbError | undefined;
}

/** Runs to the end of the session and returns the command's exit status. */
export async function runExec(channel: DataChannel, run: ExecRun, terminal: Terminal): Promise<number> {
  const cleanups: Array<() => void> = [];
  let interrupts = 0;
  let stoppedBy: string | undefined;
  let closeTimer: NodeJS.Timeout | undefined;
  const ended = channel.closed;
  try {
    channel.resize(terminal.size());
    cleanups.push(terminal.onResize(() => channel.resize(terminal.size())));
    cleanups.push(
      terminal.interceptSignals((signal) => {
        if (signal === 'SIGINT' && interrupts++ === 0) {
          channel.write(CTRL_C);
          return;
        }
        stoppedBy ??= signal;
        void channel.terminate();
      }),
    );

    const output = channel.output[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let ready: PreambleResult | undefined;
    try {
      ready = await readReadyLine(output, run.marker, READY_TIMEOUT_MS);
    } catch (error) {
      if (!isChannelFailure(error)) throw error;
    }
    if (!ready) {
      const end = await ended;
      if (stoppedBy || interrupts > 0) throw interrupted(stoppedBy);
      throw end.error ?? connectionError('remote.no-start', 'the session ended before the command started');
    }
    const problem = run.check?.(ready.value);
    if (problem) throw problem;
    if (ready.value === ReadyMode.unsupported) {
      throw usageError(
        'remote.stdin-unsupported',
        'piped input needs `stty` and `base64` in the container, and one of them is missing',
        { hint: 'run with -n (--no-stdin), or copy the input into the container another way' },
      );
    }
    const exact = ready.value === ReadyMode.raw;
    const stopInput = run.forwardStdin ? forwardStdin(terminal, channel, ended) : () => {};
    cleanups.push(stopInput);

    const status = new StatusScanner(run.marker);
    // Output processing stayed on: undo ONLCR for files and pipes; a terminal wants CR LF anyway.
    const newlines = !exact && !terminal.outputIsTty ? new CrlfToLf() : undefined;
    const emit = async (bytes: Buffer) => {
      const data = newlines ? newlines.push(bytes) : bytes;
      if (data.length > 0) await writeAll(terminal.output, data, ended);
    };
    const onStatus = () => {
      // The command is done: stop reading stdin, end the decoder's input so the wrapper can exit,
      // and give the session a moment to close by itself.
      stopInput();
      if (run.forwardStdin) channel.write(END_OF_INPUT);
      closeTimer ??= setTimeout(() => void channel.terminate(), CLOSE_AFTER_STATUS_MS);
    };
    try {
      await emit(status.push(ready.after));
      if (status.status !== undefined) onStatus();
      for (let next = await output.next(); !next.done; next = await output.next()) {
        const known = status.status !== undefined;
        await emit(status.push(next.value));
        if (!known && status.status !== undefined) onStatus();
      }
    } catch (error) {
      if (!isChannelFailure(error)) throw error;
    }
    await emit(status.flush());
    if (newlines) await emit(newlines.flush());
    const end = await ended;
    if (status.status !== undefined) return status.status;
    if (stoppedBy || interrupts > 0) throw interrupted(stoppedBy);
    throw (
      end.error ??
      connectionError('remote.no-status', 'the command ended without reporting its exit status', {
        hint: 'the shell in the container was killed (out of memory, or the task stopped?); run it again',
      })
    );
  } finally {
    clearTimeout(closeTimer);
    for (const cleanup of cleanups.reverse()) cleanup();
    await channel.terminate();
  }
}

function interrupted(signal: string | undefined): CoderdbError {
  return new CoderdbError(
    'interrupted',
    'remote.interrupted',
    signal ? `the command was stopped by ${signal}` : 'the command was interrupted',
  );
}

/**
 * Piped stdin → base64 lines → the pty, then ^D. Starts only after the ready line, when echo is
 * off. Returns the undo, which stops reading (the command may finish before its input does).
 */
function forwardStdin(terminal: Terminal, channel: DataChannel, ended: Promise<unknown>): () => void {
  const input = terminal.input;
  let stopped = false;
  const stop = new Promise<void>((resolve) => {
    void ended.then(() => resolve());
    input.once('close', () => resolve());
  });
  void (async () => {
    try {
      for await (const chunk of input) {
        if (stopped) return;
        const bytes = base64Lines(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer));
        if (bytes.length > 0 && !(await writeAll(channel.input, bytes, stop))) return;
      }
      if (stopped) return;
      channel.write(END_OF_INPUT);
    } catch {
      // stdin broke: end the command's input there, as a local pipe would.
      if (!stopped) channel.write(END_OF_INPUT);
    }
  })();
  return () => {
    if (stopped) return;
    stopped = true;
    input.pause();
    // A reader blocked on a pipe that never ends would keep the process alive.
    input.destroy();
  };
}
