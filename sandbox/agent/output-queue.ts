// The output an agent pump holds until the session takes it, for both pumps (a pty's in
// pty-process.ts, a port plugin's in port-output.ts): read out the way the agent's writePump reads,
// at most 1024 bytes at a time, cutting across and coalescing writes; and the thresholds at which
// the producer is paused and resumed, so that what waits stays bounded.

import { STREAM_PAYLOAD_LIMIT } from '../../src/ssm/codec.js';

const PAUSE_ABOVE_BYTES = 1024 * 1024;
const RESUME_BELOW_BYTES = 256 * 1024;

export class OutputQueue {
  #parts: Buffer[] = [];
  #bytes = 0;

  /** How many bytes are waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /** So much is waiting that the producer should be paused. */
  get full(): boolean {
    return this.#bytes > PAUSE_ABOVE_BYTES;
  }

  /** Little enough is waiting for a paused producer to go on. */
  get low(): boolean {
    return this.#bytes < RESUME_BELOW_BYTES;
  }

  push(bytes: Buffer): void {
    this.#parts.push(bytes);
    this.#bytes += bytes.length;
  }

  /** Up to 1024 bytes of what is waiting, like one Read into the agent's 1024-byte buffer. */
  read(): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < STREAM_PAYLOAD_LIMIT && this.#parts.length > 0) {
      const head = this.#parts[0] as Buffer;
      const count = Math.min(head.length, STREAM_PAYLOAD_LIMIT - size);
      parts.push(head.subarray(0, count));
      size += count;
      if (count === head.length) this.#parts.shift();
      else this.#parts[0] = head.subarray(count);
    }
    this.#bytes -= size;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  clear(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}
