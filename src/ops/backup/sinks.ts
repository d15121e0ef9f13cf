// Adapters between the frame reader's sections and Node streams: a section's bytes written into a
// stream pipeline with back-pressure (the reader, and so the channel, waits while the disk catches
// up), and a failure anywhere in the pipeline surfacing at the next write instead of hanging it.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { SectionSink } from './frame.js';

export interface StreamSink extends SectionSink {
  /** The status words of the section's `end` marker, once it arrived. */
  status: string[] | undefined;
}

/**
 * Writes into `head`, whose pipeline settles `finished`; end() ends `head` and waits for the whole
 * pipeline (so a gzip trailer or disk error is known before the marker after it is read).
 */
export function streamSink(head: Writable, finished: Promise<unknown>): StreamSink {
  // A pipeline that fails while nobody awaits it must not become an unhandled rejection.
  finished.catch(() => undefined);
  const sink: StreamSink = {
    status: undefined,
    async write(bytes) {
      if (!head.write(bytes)) await Promise.race([once(head, 'drain'), finished]);
    },
    async end(status) {
      sink.status = status;
      head.end();
      await finished;
    },
  };
  return sink;
}
