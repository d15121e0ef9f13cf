// How the emulated agent's port plugin sends bytes back: like its writePump/transferDataToMgs, it
// reads whatever is waiting (smux frames or raw TCP bytes) in chunks of at most 1024 bytes, which
// cut across frame boundaries and coalesce small frames, sends each as one Output message, and with
// realistic pacing sleeps 1 ms after each. When the session cannot take more, the destination
// sockets are paused, as a blocked Go writer would stop reading them.

import type { Socket } from 'node:net';
import { STREAM_PAYLOAD_LIMIT } from '../../src/ssm/codec.js';
import type { Pacing } from './pty-process.js';

/** What a port plugin needs from its session. */
export interface PortSink {
  /** One Output payload (≤ 1024 bytes). */
  send(payload: Buffer): void;
  /** False while the session cannot take more output. */
  ready(): boolean;
  /** A Flag message (3 = ConnectToPortError). */
  flag(value: number): void;
  /** Ends the session; `output` is the channel_closed text (empty for a normal end). */
  finish(output: string): void;
}

const PAUSE_ABOVE_BYTES = 1024 * 1024;
const RESUME_BELOW_BYTES = 256 * 1024;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class OutputPump {
  readonly #sink: PortSink;
  readonly #pacing: Pacing;
  readonly #sources = new Set<Socket>();
  #queue: Buffer[] = [];
  #bytes = 0;
  #paused = false;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(sink: PortSink, pacing: Pacing) {
    this.#sink = sink;
    this.#pacing = pacing;
    void this.#run();
  }

  write(bytes: Buffer): void {
    if (this.#stopped || bytes.length === 0) return;
    this.#queue.push(bytes);
    this.#bytes += bytes.length;
    if (!this.#paused && this.#bytes > PAUSE_ABOVE_BYTES) {
      this.#paused = true;
      for (const socket of this.#sources) socket.pause();
    }
    this.#notify();
  }

  /** A destination socket whose reading follows the pump's back-pressure. */
  watch(socket: Socket): void {
    this.#sources.add(socket);
    if (this.#paused) socket.pause();
    socket.once('close', () => this.#sources.delete(socket));
  }

  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#bytes = 0;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Up to 1024 bytes of whatever is queued, like one Read into the agent's 1024-byte buffer. */
  #take(): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < STREAM_PAYLOAD_LIMIT && this.#queue.length > 0) {
      const head = this.#queue[0] as Buffer;
      const count = Math.min(head.length, STREAM_PAYLOAD_LIMIT - size);
      parts.push(head.subarray(0, count));
      size += count;
      if (count === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(count);
    }
    this.#bytes -= size;
    if (this.#paused && this.#bytes < RESUME_BELOW_BYTES) {
      this.#paused = false;
      for (const socket of this.#sources) socket.resume();
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  async #run(): Promise<void> {
    let sinceYield = 0;
    while (!this.#stopped) {
      if (this.#bytes === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      if (!this.#sink.ready()) {
        await sleep(5);
        continue;
      }
      this.#sink.send(this.#take());
      if (this.#pacing === 'realistic') await sleep(1);
      else if (++sinceYield % 16 === 0) await nextTurn();
    }
  }
}
