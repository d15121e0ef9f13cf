// smux v1 (github.com/xtaci/smux), the stream multiplexer inside an SSM port-forwarding session
// when the agent supports it (§7.3): many TCP connections share one data channel. We are the smux
// client, the agent is the server. The smux byte stream travels as Output payloads cut at 1024
// bytes that do not line up with frames, so frames are read from a reassembled byte stream.
//
// Only what the plugin and agent use of v1 is here: SYN/FIN/PSH/NOP, client stream ids 3, 5, 7…,
// optional keepalive, and the session-wide receive budget (MaxReceiveBuffer) that is v1's only flow
// control: when streams hold that much unread data, we stop reading the session, which holds back
// the data channel and, through it, the agent.

import { EventEmitter } from 'node:events';
import { Duplex, type Readable, type Writable } from 'node:stream';

export const SMUX_VERSION = 1;
export const SmuxCmd = { syn: 0, fin: 1, psh: 2, nop: 3 } as const;
export const SMUX_HEADER_SIZE = 8;
/** DefaultConfig.MaxFrameSize: the most data one PSH frame carries. */
export const SMUX_MAX_FRAME_DATA = 32_768;
/** DefaultConfig.MaxReceiveBuffer: unread bytes across all streams before the session stops reading. */
export const SMUX_MAX_RECEIVE_BUFFER = 4 * 1024 * 1024;
/** DefaultConfig.KeepAliveInterval / KeepAliveTimeout. */
export const SMUX_KEEPALIVE = { intervalMs: 10_000, timeoutMs: 30_000 } as const;

export interface SmuxFrame {
  cmd: number;
  streamId: number;
  /** PSH data; empty for the other commands. */
  data: Buffer;
}

export class SmuxProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmuxProtocolError';
  }
}

/** One frame: ver, cmd, length (uint16 LE), stream id (uint32 LE), then the data. */
export function encodeSmuxFrame(cmd: number, streamId: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  if (data.length > 0xffff) throw new RangeError(`smux frame data of ${data.length} bytes exceeds 65535`);
  const frame = Buffer.allocUnsafe(SMUX_HEADER_SIZE + data.length);
  frame[0] = SMUX_VERSION;
  frame[1] = cmd;
  frame.writeUInt16LE(data.length, 2);
  frame.writeUInt32LE(streamId >>> 0, 4);
  frame.set(data, SMUX_HEADER_SIZE);
  return frame;
}

/**
 * Reassembles frames from chunks cut anywhere. Like smux's recvLoop, only PSH frames carry data:
 * the length of SYN, FIN and NOP is not read. A wrong version or an unknown command is a protocol
 * error, after which the byte stream cannot be trusted.
 */
export class SmuxFrameReader {
  #chunks: Buffer[] = [];
  #length = 0;

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): SmuxFrame[] {
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#length += chunk.length;
    }
    const frames: SmuxFrame[] = [];
    while (this.#length >= SMUX_HEADER_SIZE) {
      const header = this.#peek(SMUX_HEADER_SIZE);
      if (header[0] !== SMUX_VERSION) {
        throw new SmuxProtocolError(`smux frame with version ${header[0]}, expected ${SMUX_VERSION}`);
      }
      const cmd = header[1] as number;
      if (cmd > SmuxCmd.nop) throw new SmuxProtocolError(`unknown smux command ${cmd}`);
      const dataLength = cmd === SmuxCmd.psh ? header.readUInt16LE(2) : 0;
      if (this.#length < SMUX_HEADER_SIZE + dataLength) break;
      this.#take(SMUX_HEADER_SIZE);
      frames.push({
        cmd,
        streamId: header.readUInt32LE(4),
        data: dataLength > 0 ? this.#take(dataLength) : Buffer.alloc(0),
      });
    }
    return frames;
  }

  /** The first `n` bytes without consuming them (copied only when they span chunks). */
  #peek(n: number): Buffer {
    const head = this.#chunks[0] as Buffer;
    if (head.length >= n) return head.subarray(0, n);
    return this.#gather(n, false);
  }

  #take(n: number): Buffer {
    const head = this.#chunks[0] as Buffer;
    if (head.length >= n) {
      const taken = head.subarray(0, n);
      if (head.length === n) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
      this.#length -= n;
      return taken;
    }
    return this.#gather(n, true);
  }

  #gather(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let index = 0;
    while (filled < n) {
      const chunk = this.#chunks[index] as Buffer;
      const count = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (consume) {
        if (count === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(count);
      } else {
        index += 1;
      }
    }
    if (consume) this.#length -= n;
    return out;
  }
}

export interface SmuxSessionOptions {
  /** Bytes from the peer: the reassembled Output stream of the data channel. */
  input: Readable;
  /** Bytes to the peer: the data channel's input. */
  output: Writable;
  /** NOP every intervalMs; the session dies when nothing arrived for timeoutMs. False: off. */
  keepAlive?: { intervalMs: number; timeoutMs: number } | false;
  maxReceiveBuffer?: number;
  /**
   * Asked when the peer ends a stream that never carried data: an Error makes the stream fail with
   * it instead of ending quietly (the SSM agent refuses a stream this way when its dial fails).
   */
  refusal?: (stream: SmuxStream) => Error | undefined;
}

export interface SmuxSessionEvents {
  /** The session is over; streams still open were destroyed with `error` (or a generic one). */
  close: [Error | undefined];
}

/** The client side of an smux v1 session. */
export class SmuxSession extends EventEmitter<SmuxSessionEvents> {
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #reader = new SmuxFrameReader();
  readonly #streams = new Map<number, SmuxStream>();
  readonly #maxReceiveBuffer: number;
  readonly #refusal: SmuxSessionOptions['refusal'];
  readonly #timers: NodeJS.Timeout[] = [];
  #nextStreamId = 1;
  #readPaused = false;
  #dataSinceCheck = false;
  #closed = false;
  #drainWaiters: Array<() => void> = [];
  readonly #wakeWriters = () => {
    for (const wake of this.#drainWaiters.splice(0)) wake();
  };
  readonly #onData = (chunk: Buffer) => this.#receive(chunk);
  readonly #onEnd = () => this.close(new Error('the port-forwarding session ended'));
  readonly #onError = (error: Error) => this.close(error);

  constructor(options: SmuxSessionOptions) {
    super();
    this.#input = options.input;
    this.#output = options.output;
    this.#maxReceiveBuffer = options.maxReceiveBuffer ?? SMUX_MAX_RECEIVE_BUFFER;
    this.#refusal = options.refusal;
    this.#input.on('data', this.#onData);
    this.#input.once('end', this.#onEnd);
    this.#input.once('error', this.#onError);
    const keepAlive = options.keepAlive;
    if (keepAlive) {
      const ping = setInterval(() => this.#writeControl(SmuxCmd.nop, 0), keepAlive.intervalMs);
      const check = setInterval(() => this.#checkAlive(), keepAlive.timeoutMs);
      // Keepalive alone must not keep the process running.
      ping.unref();
      check.unref();
      this.#timers.push(ping, check);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** OpenStream: SYN with the next odd id (3, 5, 7, …), as smux's client does. */
  openStream(): SmuxStream {
    if (this.#closed) throw new Error('the smux session is closed');
    const id = this.#nextStreamId + 2;
    if (id > 0xffffffff) throw new Error('smux stream ids are exhausted; open a new session');
    this.#nextStreamId = id;
    const stream = new SmuxStream(id, this);
    this.#streams.set(id, stream);
    this.#writeControl(SmuxCmd.syn, id);
    return stream;
  }

  /** Destroys every stream and stops reading; the data channel itself is its owner's to close. */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#input.off('data', this.#onData);
    this.#input.off('end', this.#onEnd);
    this.#input.off('error', this.#onError);
    this.#output.off('drain', this.#wakeWriters);
    this.#wakeWriters();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) stream.destroy(error ?? new Error('the smux session was closed'));
    this.emit('close', error);
  }

  // ── for SmuxStream ─────────────────────────────────────────────────────────────────────────

  /** Writes data as PSH frames; calls back once the channel took them (back-pressure). */
  writeData(id: number, data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.#closed) {
      callback(new Error('the smux session is closed'));
      return;
    }
    let accepted = true;
    for (let offset = 0; offset < data.length; offset += SMUX_MAX_FRAME_DATA) {
      const part = data.subarray(offset, offset + SMUX_MAX_FRAME_DATA);
      accepted = this.#output.write(encodeSmuxFrame(SmuxCmd.psh, id, part));
    }
    if (accepted) {
      callback();
      return;
    }
    // One 'drain' listener for all waiting streams, however many there are.
    this.#drainWaiters.push(() => callback());
    if (this.#drainWaiters.length === 1) this.#output.once('drain', this.#wakeWriters);
  }

  /** Our side of the stream is finished (end or destroy): FIN, once. */
  sendFin(id: number): void {
    this.#writeControl(SmuxCmd.fin, id);
  }

  forget(id: number): void {
    this.#streams.delete(id);
    this.#maybeResume();
  }

  /** A stream's consumer wants more: resume reading when under the receive budget. */
  streamRead(): void {
    this.#maybeResume();
  }

  // ── receiving ──────────────────────────────────────────────────────────────────────────────

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: SmuxFrame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (error) {
      this.close(error as Error);
      return;
    }
    if (frames.length > 0) this.#dataSinceCheck = true;
    for (const frame of frames) this.#dispatch(frame);
    if (!this.#readPaused && this.#unread() >= this.#maxReceiveBuffer) {
      this.#readPaused = true;
      this.#input.pause();
    }
  }

  #dispatch(frame: SmuxFrame): void {
    const stream = this.#streams.get(frame.streamId);
    switch (frame.cmd) {
      case SmuxCmd.psh:
        // Data for a stream we already closed is dropped, as smux does.
        stream?.receive(frame.data);
        return;
      case SmuxCmd.fin:
        if (!stream) return;
        stream.remoteFinished(stream.bytesReceived === 0 ? this.#refusal?.(stream) : undefined);
        return;
      default:
        // NOP is keepalive; a SYN from the server is never accepted by a client.
        return;
    }
  }

  #unread(): number {
    let total = 0;
    for (const stream of this.#streams.values()) total += stream.queuedBytes;
    return total;
  }

  #maybeResume(): void {
    if (!this.#readPaused || this.#closed) return;
    if (this.#unread() < this.#maxReceiveBuffer) {
      this.#readPaused = false;
      this.#input.resume();
    }
  }

  #checkAlive(): void {
    // smux only counts silence against the peer while the session is not holding back itself.
    if (!this.#dataSinceCheck && !this.#readPaused) {
      this.close(new Error('smux keepalive: nothing received from the agent in time'));
      return;
    }
    this.#dataSinceCheck = false;
  }

  #writeControl(cmd: number, id: number): void {
    if (this.#closed || this.#output.destroyed || this.#output.writableEnded) return;
    this.#output.write(encodeSmuxFrame(cmd, id));
  }
}

/**
 * One multiplexed connection. Ending the writable side sends FIN; the peer's FIN ends the readable
 * side. The SSM agent closes both directions when either ends, so there is no useful half-close.
 * Received data waits in the stream's own queue and is pushed as the consumer reads, so the session
 * can tell how much is unread (its receive budget) and learns when that shrinks.
 */
export class SmuxStream extends Duplex {
  readonly id: number;
  bytesReceived = 0;
  readonly #session: SmuxSession;
  #queue: Buffer[] = [];
  #queued = 0;
  #wanted = false;
  #remoteEnded = false;
  #finSent = false;

  constructor(id: number, session: SmuxSession) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.#session = session;
  }

  /** Received bytes the consumer has not taken yet. */
  get queuedBytes(): number {
    return this.#queued;
  }

  receive(data: Buffer): void {
    if (this.destroyed || this.#remoteEnded) return;
    this.bytesReceived += data.length;
    if (this.#wanted && this.#queue.length === 0) {
      this.#wanted = this.push(data);
      return;
    }
    this.#queue.push(data);
    this.#queued += data.length;
  }

  remoteFinished(error: Error | undefined): void {
    if (error) {
      this.destroy(error);
      return;
    }
    if (this.destroyed || this.#remoteEnded) return;
    this.#remoteEnded = true;
    if (this.#queue.length === 0) this.push(null);
  }

  override _read(): void {
    this.#wanted = true;
    while (this.#wanted && this.#queue.length > 0) {
      const chunk = this.#queue.shift() as Buffer;
      this.#queued -= chunk.length;
      this.#wanted = this.push(chunk);
    }
    if (this.#queue.length === 0 && this.#remoteEnded) this.push(null);
    this.#session.streamRead();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#session.writeData(this.id, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#fin();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#queue = [];
    this.#queued = 0;
    this.#fin();
    this.#session.forget(this.id);
    callback(error);
  }

  #fin(): void {
    if (this.#finSent) return;
    this.#finSent = true;
    this.#session.sendFin(this.id);
  }
}
