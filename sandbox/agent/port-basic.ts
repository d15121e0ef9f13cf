// The emulated agent's basic port session (AGENT plugins/port/port_basic.go), for clients or agents
// too old for smux: the Output payloads are the raw bytes of one TCP connection. The destination is
// dialled when the session starts (a failure ends the session); Flag DisconnectToPort closes it and
// the next Output re-dials; a destination that closes is re-dialled on the next Output too. There
// is no ConnectToPortError in this mode.

import type { Socket } from 'node:net';
import { Flag } from '../../src/ssm/codec.js';
import { pluginFailureOutput } from './command.js';
import type { OutputPump, PortSink } from './port-output.js';

export interface BasicPortSettings {
  dial: () => Promise<Socket>;
  sink: PortSink;
  pump: OutputPump;
  log: (line: string) => void;
}

export type PortInput = 'ok' | 'not-ready' | 'error';

export class BasicPort {
  readonly #settings: BasicPortSettings;
  #socket: Socket | undefined;
  #dialing: Promise<Socket | undefined> | undefined;
  #stopped = false;

  constructor(settings: BasicPortSettings) {
    this.#settings = settings;
  }

  /** InitializeSession: the first dial; the session fails if it does. */
  async start(): Promise<void> {
    await this.#dial();
  }

  async output(bytes: Buffer): Promise<PortInput> {
    if (this.#stopped) return 'ok';
    // IsConnectionAvailable is false until the first dial is done: the client resends.
    if (this.#dialing) return 'not-ready';
    // reconnectToPort: the first bytes after a disconnect re-dial, then go to the new connection.
    const socket = this.#socket ?? (await this.#dial());
    if (!socket) return 'ok';
    socket.write(bytes);
    return 'ok';
  }

  flag(value: number): PortInput {
    if (value === Flag.disconnectToPort) {
      this.#settings.log('DisconnectToPort: closing the destination connection');
      this.#drop();
    } else if (value === Flag.terminateSession) {
      this.#settings.sink.finish('');
    }
    return 'ok';
  }

  stop(): void {
    this.#stopped = true;
    this.#drop();
  }

  async #dial(): Promise<Socket | undefined> {
    this.#dialing ??= this.#settings
      .dial()
      .then((socket) => {
        if (this.#stopped) {
          socket.destroy();
          return undefined;
        }
        this.#attach(socket);
        return socket;
      })
      .catch((error: unknown) => {
        const message = `Unable to connect to specified port: ${(error as Error).message}`;
        this.#settings.log(message);
        this.#settings.sink.finish(pluginFailureOutput(message));
        return undefined;
      })
      .finally(() => {
        this.#dialing = undefined;
      });
    return this.#dialing;
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('error', () => socket.destroy());
    socket.on('data', (data: Buffer) => {
      if (socket === this.#socket) this.#settings.pump.write(data);
    });
    socket.once('close', () => {
      if (socket === this.#socket) this.#socket = undefined;
    });
    this.#settings.pump.watch(socket);
  }

  #drop(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
  }
}
