// The exec session's view of its data channel: output as a pull-based stream of marker lines and
// the data sections between them, and input written with the channel's back-pressure. Output is
// read from the channel only when the next item is asked for, so a consumer that stops reading
// makes the channel pause its socket, and the agent stop at its buffers.

import { CoderdbError, connectionError, DOCTOR_HINT } from '../../core/errors.js';
import type { DataChannel } from '../../ssm/channel.js';
import { Base64Decoder } from './decoders.js';
import { type OutputItem, OutputReader } from './output-reader.js';

export type Marker = Extract<OutputItem, { kind: 'marker' }>;

/** Text sections (error messages, stderr) beyond this are cut; they are for people to read. */
const MAX_TEXT_BYTES = 1024 * 1024;
const WRITE_CHUNK = 16 * 1024;

export class ChannelIo {
  readonly #channel: DataChannel;
  readonly #chunks: AsyncIterator<Buffer>;
  readonly #reader: OutputReader;
  readonly #where: string;
  #items: OutputItem[] = [];
  /** While set, waiting for output fails at this time (start-up and shutdown). */
  deadline: number | undefined;
  /** The first failure; every later read reports it. */
  failure: CoderdbError | undefined;

  constructor(channel: DataChannel, markerPrefix: string, where: string) {
    this.#channel = channel;
    this.#chunks = channel.output[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.#reader = new OutputReader(markerPrefix);
    this.#where = where;
  }

  async peek(): Promise<OutputItem> {
    while (this.#items.length === 0) await this.#pull();
    return this.#items[0]!;
  }

  async next(): Promise<OutputItem> {
    const item = await this.peek();
    this.#items.shift();
    return item;
  }

  /** The next marker; data outside a section (noise before the script starts) is skipped. */
  async nextMarker(): Promise<Marker> {
    for (;;) {
      const item = await this.next();
      if (item.kind === 'marker') return item;
    }
  }

  /** The data up to the next marker, as it arrives; the marker is left to be read. */
  async *section(): AsyncGenerator<Buffer> {
    for (;;) {
      const item = await this.peek();
      if (item.kind === 'marker') return;
      this.#items.shift();
      yield item.bytes;
    }
  }

  /** A base64 section decoded as UTF-8 text (error messages, stderr). */
  async text(): Promise<string> {
    const decoder = new Base64Decoder();
    const parts: Buffer[] = [];
    let size = 0;
    for await (const bytes of this.section()) {
      const decoded = decoder.push(bytes);
      if (size < MAX_TEXT_BYTES) {
        parts.push(decoded);
        size += decoded.length;
      }
    }
    return Buffer.concat(parts).toString('utf8');
  }

  /** A plain-text section's last non-empty line (a command tag is ASCII). */
  async lastLine(): Promise<string | undefined> {
    let last: string | undefined;
    for await (const bytes of this.section()) {
      for (const line of bytes.toString('latin1').split('\n')) if (line.trim() !== '') last = line.trim();
    }
    return last;
  }

  /** Writes with back-pressure: the channel's window of unacknowledged messages is respected. */
  async write(text: string): Promise<void> {
    const input = this.#channel.input;
    const bytes = Buffer.from(text, 'utf8');
    const ended = this.#channel.closed.then(() => {
      throw connectionError('exec.channel-ended', 'the ECS Exec session ended');
    });
    ended.catch(() => undefined);
    for (let at = 0; at < bytes.length; at += WRITE_CHUNK) {
      if (!input.write(bytes.subarray(at, at + WRITE_CHUNK))) {
        await Promise.race([new Promise((resolve) => input.once('drain', resolve)), ended]);
      }
    }
  }

  /** Records the first failure and returns it. */
  fail(error: CoderdbError): CoderdbError {
    this.failure ??= error;
    return error;
  }

  async #pull(): Promise<void> {
    let result: IteratorResult<Buffer>;
    try {
      const next = this.#chunks.next();
      result =
        this.deadline === undefined ? await next : await withDeadline(next, this.deadline, this.#where);
    } catch (error) {
      throw error instanceof CoderdbError ? this.fail(error) : await this.#ended();
    }
    if (result.done) {
      const rest = this.#reader.end();
      if (rest.length === 0) throw await this.#ended();
      this.#items.push(...rest);
      return;
    }
    for (const item of this.#reader.push(result.value)) this.#items.push(item);
  }

  /** Why the output ended: the channel's own error (e.g. channel_closed with a reason), or ours. */
  async #ended(): Promise<CoderdbError> {
    const end = await Promise.race([this.#channel.closed, delay(1000)]);
    return this.fail(
      this.failure ??
        end?.error ??
        connectionError('exec.channel-ended', `the ECS Exec session ended unexpectedly (${this.#where})`, {
          hint: DOCTOR_HINT,
        }),
    );
  }
}

export function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}

async function withDeadline<T>(promise: Promise<T>, deadline: number, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          connectionError('exec.timeout', `psql in the container did not answer in time (${where})`, {
            hint: DOCTOR_HINT,
          }),
        ),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
