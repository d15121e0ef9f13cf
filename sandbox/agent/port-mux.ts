// The emulated agent's multiplexed port session (AGENT plugins/port/port_mux.go): an smux v1
// server over the reassembled bytes of the client's Output messages. Like the agent's accept loop,
// streams are accepted in SYN order and dialled one after another; a stream whose dial fails gets
// Flag ConnectToPortError and then a FIN. Each dialled stream is copied both ways; when either
// direction ends both are closed (no half-close), which FINs the stream back to the client.

import type { Socket } from 'node:net';
import { Flag } from '../../src/ssm/codec.js';
import {
  encodeSmuxFrame,
  SMUX_KEEPALIVE,
  SMUX_MAX_FRAME_DATA,
  SmuxCmd,
  type SmuxFrame,
  SmuxFrameReader,
} from '../../src/ssm/smux.js';
import type { OutputPump, PortSink } from './port-output.js';

export interface MuxServerSettings {
  /** Connects to the session's destination (host and port are the session's). */
  dial: () => Promise<Socket>;
  sink: PortSink;
  pump: OutputPump;
  /** Old agents and old clients keep smux keepalive on (§7.1). */
  keepAlive: boolean;
  log: (line: string) => void;
}

interface ServerStream {
  id: number;
  socket: Socket | undefined;
  /** Data that arrived before the dial finished (smux buffers it in the stream). */
  pending: Buffer[];
  clientFinished: boolean;
  finSent: boolean;
}

export class MuxServer {
  readonly #settings: MuxServerSettings;
  readonly #reader = new SmuxFrameReader();
  readonly #streams = new Map<number, ServerStream>();
  readonly #accepts: ServerStream[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  #accepting = false;
  #heardSinceCheck = false;
  #stopped = false;

  constructor(settings: MuxServerSettings) {
    this.#settings = settings;
    if (settings.keepAlive) {
      this.#timers.push(
        setInterval(() => settings.pump.write(encodeSmuxFrame(SmuxCmd.nop, 0)), SMUX_KEEPALIVE.intervalMs),
        setInterval(() => {
          if (!this.#heardSinceCheck) {
            settings.log('smux keepalive timed out; ending the session');
            settings.sink.finish('');
          }
          this.#heardSinceCheck = false;
        }, SMUX_KEEPALIVE.timeoutMs),
      );
    }
  }

  /** The payload of one client Output message. */
  input(bytes: Buffer): void {
    if (this.#stopped) return;
    let frames: SmuxFrame[];
    try {
      frames = this.#reader.push(bytes);
    } catch (error) {
      // smux's recvLoop stops on a protocol error; AcceptStream fails and the plugin ends.
      this.#settings.log(`smux protocol error: ${(error as Error).message}`);
      this.#settings.sink.finish('');
      return;
    }
    if (frames.length > 0) this.#heardSinceCheck = true;
    for (const frame of frames) this.#dispatch(frame);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const stream of this.#streams.values()) stream.socket?.destroy();
    this.#streams.clear();
  }

  #dispatch(frame: SmuxFrame): void {
    const stream = this.#streams.get(frame.streamId);
    switch (frame.cmd) {
      case SmuxCmd.syn:
        if (stream) return;
        {
          const created: ServerStream = {
            id: frame.streamId,
            socket: undefined,
            pending: [],
            clientFinished: false,
            finSent: false,
          };
          this.#streams.set(created.id, created);
          this.#accepts.push(created);
          void this.#acceptLoop();
        }
        return;
      case SmuxCmd.psh:
        if (!stream || stream.clientFinished) return;
        if (stream.socket) stream.socket.write(frame.data);
        else stream.pending.push(frame.data);
        return;
      case SmuxCmd.fin:
        if (!stream) return;
        stream.clientFinished = true;
        // io.Copy(conn, stream) returns and the agent closes the destination connection.
        if (stream.socket) this.#close(stream);
        return;
      default:
        return;
    }
  }

  /** handleServerConnections: AcceptStream, dial, one stream at a time. */
  async #acceptLoop(): Promise<void> {
    if (this.#accepting) return;
    this.#accepting = true;
    try {
      for (let stream = this.#accepts.shift(); stream; stream = this.#accepts.shift()) {
        if (this.#stopped) return;
        let socket: Socket;
        try {
          socket = await this.#settings.dial();
        } catch (error) {
          this.#settings.log(`stream ${stream.id}: ${(error as Error).message}`);
          if (this.#stopped) return;
          this.#settings.sink.flag(Flag.connectToPortError);
          this.#sendFin(stream);
          this.#streams.delete(stream.id);
          continue;
        }
        if (this.#stopped) {
          socket.destroy();
          return;
        }
        this.#attach(stream, socket);
      }
    } finally {
      this.#accepting = false;
    }
  }

  #attach(stream: ServerStream, socket: Socket): void {
    stream.socket = socket;
    socket.on('error', () => socket.destroy());
    socket.on('data', (data: Buffer) => {
      if (stream.finSent) return;
      for (let offset = 0; offset < data.length; offset += SMUX_MAX_FRAME_DATA) {
        this.#settings.pump.write(
          encodeSmuxFrame(SmuxCmd.psh, stream.id, data.subarray(offset, offset + SMUX_MAX_FRAME_DATA)),
        );
      }
    });
    socket.once('close', () => this.#close(stream));
    this.#settings.pump.watch(socket);
    for (const data of stream.pending.splice(0)) socket.write(data);
    if (stream.clientFinished) this.#close(stream);
  }

  /** Either direction ended: close the connection and FIN the stream (once). */
  #close(stream: ServerStream): void {
    const socket = stream.socket;
    if (socket && !socket.destroyed) socket.end(() => socket.destroy());
    this.#sendFin(stream);
    this.#streams.delete(stream.id);
  }

  #sendFin(stream: ServerStream): void {
    if (stream.finSent || this.#stopped) return;
    stream.finSent = true;
    this.#settings.pump.write(encodeSmuxFrame(SmuxCmd.fin, stream.id));
  }
}
