// Raw terminal passthrough for `coderdb shell` and `coderdb psql`: every input byte goes to the
// remote pty as typed (^C arrives there as 0x03 and interrupts the remote program, not coderdb),
// every output byte is written as it arrives, the terminal size follows the local one, and the
// session ends when the service sends channel_closed. Local end of input does not end it (the
// plugin's bug: it exits at once and loses the remaining output); it becomes ^D instead, which is
// what a terminal would send.

import { CoderdbError, connectionError } from '../../core/errors.js';
import type { DataChannel } from '../../ssm/channel.js';
import { type Marker, StatusScanner } from './markers.js';
import { isChannelFailure, readReadyLine } from './preamble.js';
import { writeAll } from './streams.js';
import type { SessionSignal, Terminal } from './terminal.js';

const CTRL_C = Buffer.from([0x03]);
const CTRL_D = Buffer.from([0x04]);

export interface Preamble {
  marker: Marker;
  /** How long the wrapper may take to print its ready line. */
  timeoutMs: number;
  /** An error for a ready value that means the command cannot run; undefined to go on. */
  check(value: string): CoderdbError | undefined;
}

export interface InteractiveOptions {
  /** For wrapped commands: output is shown only after the wrapper's ready line. */
  preamble?: Preamble;
  /** For wrapped commands that print `<marker>:rc:<n>` at the end: that line is cut from the output. */
  status?: Marker;
}

/**
 * Runs the session to its end; throws the channel's error, or `interrupted` on SIGTERM/SIGHUP.
 * With `options.status`, resolves with the reported exit status (and throws when none came).
 */
export async function runInteractive(
  channel: DataChannel,
  terminal: Terminal,
  options: InteractiveOptions = {},
): Promise<number | undefined> {
  const cleanups: Array<() => void> = [];
  let stoppedBy: SessionSignal | undefined;
  try {
    channel.resize(terminal.size());
    cleanups.push(terminal.onResize(() => channel.resize(terminal.size())));
    cleanups.push(
      terminal.interceptSignals((signal) => {
        if (signal === 'SIGINT') {
          // Like the plugin: a SIGINT from outside the keyboard still reaches the remote program.
          channel.write(CTRL_C);
          return;
        }
        stoppedBy ??= signal;
        void channel.terminate();
      }),
    );
    terminal.setRaw(true);
    cleanups.push(() => terminal.setRaw(false));
    cleanups.push(forwardInput(channel, terminal));

    const output = channel.output[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const ended = channel.closed;
    const status = options.status ? new StatusScanner(options.status) : undefined;
    const emit = async (bytes: Buffer) => {
      const data = status ? status.push(bytes) : bytes;
      if (data.length > 0) await writeAll(terminal.output, data, ended);
    };
    try {
      const preamble = options.preamble;
      if (preamble) {
        const ready = await readReadyLine(output, preamble.marker, preamble.timeoutMs);
        if (!ready) {
          throw (
            (await ended).error ??
            connectionError(
              'remote.no-start',
              'the session ended before the command in the container started',
            )
          );
        }
        const problem = preamble.check(ready.value);
        if (problem) throw problem;
        if (ready.after.length > 0) await emit(ready.after);
      }
      for (let next = await output.next(); !next.done; next = await output.next()) {
        await emit(next.value);
      }
    } catch (error) {
      // A failed channel ends its output with the error; the channel's end says it better.
      if (!isChannelFailure(error)) throw error;
    }
    const held = status?.flush();
    if (held && held.length > 0) await writeAll(terminal.output, held, ended);
    const end = await channel.closed;
    if (stoppedBy) {
      throw new CoderdbError('interrupted', 'remote.interrupted', `the session was ended by ${stoppedBy}`);
    }
    if (end.error) throw end.error;
    if (!status) return undefined;
    if (status.status === undefined) {
      throw connectionError('remote.no-status', 'the shell ended without reporting its exit status', {
        hint: 'the wrapper in the container was killed (out of memory, or the task stopped?)',
      });
    }
    return status.status;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    await channel.terminate();
  }
}

/** Input → channel with back-pressure; end of piped input becomes ^D. Returns the undo. */
function forwardInput(channel: DataChannel, terminal: Terminal): () => void {
  const input = terminal.input;
  let lastByte = 0x0a;
  let done = false;
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (bytes.length === 0) return;
    lastByte = bytes[bytes.length - 1] ?? lastByte;
    if (!channel.input.writable) return;
    if (!channel.input.write(bytes)) {
      input.pause();
      channel.input.once('drain', () => {
        if (!done) input.resume();
      });
    }
  };
  const onEnd = () => {
    // ^D ends input only at the start of a line; after a partial line the first one sends the line.
    const atLineStart = lastByte === 0x0a || lastByte === 0x0d;
    channel.write(atLineStart ? CTRL_D : Buffer.concat([CTRL_D, CTRL_D]));
  };
  input.on('data', onData);
  input.once('end', onEnd);
  input.resume();
  return () => {
    done = true;
    input.off('data', onData);
    input.off('end', onEnd);
    input.pause();
  };
}
