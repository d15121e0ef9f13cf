// How the emulated agent's port plugin sends bytes back: like its writePump/transferDataToMgs, it
// reads whatever is waiting (smux frames or raw TCP bytes) in chunks of at most 1024 bytes, which
// cut across frame boundaries and coalesce small frames, sends each as one Output message, and with
// realistic pacing sleeps 1 ms after each. When the session cannot take more, the destination
// sockets are paused, as a blocked Go writer would stop reading them.

import type { Socket } from 'node:net';
import { OutputQueue } from './output-queue.js';
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class OutputPump {
  readonly #sink: PortSink;
  readonly #pacing: Pacing;
  readonly #sources = new Set<Socket>();
  readonly #queue = new OutputQueue();
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
    if (!this.#paused && this.#queue.full) {
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
    this.#queue.clear();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** One read of what is queued; resumes the sockets once little is left. */
  #take(): Buffer {
    const payload = this.#queue.read();
    if (this.#paused && this.#queue.low) {
      this.#paused = false;
      for (const socket of this.#sources) socket.resume();
    }
    return payload;
  }

  async #run(): Promise<void> {
    let sinceYield = 0;
    while (!this.#stopped) {
      if (this.#queue.bytes === 0) {
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
