// Writing with back-pressure when the other end may go away: a plain `await once(stream, 'drain')`
// hangs forever if the stream is destroyed (the channel ended, stdout closed) while we wait.

import type { Writable } from 'node:stream';

/** Writes `chunk`; if the stream is full, waits for drain, or returns early when `stop` settles. */
export async function writeAll(stream: Writable, chunk: Buffer, stop: Promise<unknown>): Promise<boolean> {
  if (stream.destroyed || stream.writableEnded) return false;
  if (stream.write(chunk)) return true;
  let cleanup = () => {};
  const drained = new Promise<boolean>((resolve) => {
    const onDrain = () => resolve(true);
    const onGone = () => resolve(false);
    stream.once('drain', onDrain);
    stream.once('close', onGone);
    stream.once('error', onGone);
    cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('close', onGone);
      stream.off('error', onGone);
    };
  });
  try {
    return await Promise.race([drained, stop.then(() => false)]);
  } finally {
    cleanup();
  }
}
