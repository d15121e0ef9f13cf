// Writes text to a stream and waits when the stream's buffer is full, so that a slow consumer
// (a pipe into less, a slow disk) slows the producer instead of filling memory.

import type { Writable } from 'node:stream';

export class Sink {
  constructor(readonly stream: Writable) {}

  async write(text: string | Buffer): Promise<void> {
    if (text.length === 0) return;
    if (this.stream.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.stream.off('drain', onDrain);
        this.stream.off('error', onError);
        this.stream.off('close', onDrain);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      this.stream.once('drain', onDrain);
      this.stream.once('error', onError);
      this.stream.once('close', onDrain);
    });
  }
}

/** Collects everything written, for tests and for library callers who want a string. */
export class StringSink extends Sink {
  #chunks: string[] = [];

  constructor() {
    super(undefined as unknown as Writable);
  }

  override async write(text: string | Buffer): Promise<void> {
    this.#chunks.push(typeof text === 'string' ? text : text.toString('utf8'));
  }

  text(): string {
    return this.#chunks.join('');
  }
}
