// The client side of a warm exec holder (exec-pool.ts): a DbSession whose statements run in a psql
// session the holder lends this command, their events streamed back over the holder's socket
// (exec-wire.ts). Errors arrive as the very CoderdbError the exec session threw, so output and exit
// status are those of a cold exec command; Ctrl-C and a consumer that stops early end the lent
// session, as they end a cold one. Reading pauses the socket while events wait to be consumed, so
// a large result streams with bounded memory on both sides.

import { connect, type Socket } from 'node:net';
import { CoderdbError, connectionError } from '../core/errors.js';
import type { DbSession, OpenOptions, QueryEvent, ServerInfo } from '../transport/types.js';
import {
  type ClientMessage,
  encodeMessage,
  FrameDecoder,
  fromWireError,
  type HolderMessage,
} from './exec-wire.js';

/** Messages read ahead before the socket is paused. */
const HIGH_WATER = 64;
/** How long close() waits for the holder to take the session back. */
const CLOSE_WAIT_MS = 5_000;

const interrupted = () => new CoderdbError('interrupted', 'exec.interrupted', 'interrupted');

/** Opens a session through the warm exec holder listening on `path`. */
export async function openHeldExec(path: string, options: OpenOptions = {}): Promise<DbSession> {
  if (options.signal?.aborted) throw interrupted();
  const socket = connect(path);
  const inbox = new Inbox(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        connectionError(
          'holder.unreachable',
          `the warm session at ${path} does not answer: ${error.code ?? error.message}`,
        ),
      ),
    );
  });
  const session = new HeldExecSession(socket, inbox, options.signal);
  try {
    await session.open(options);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return session;
}

class HeldExecSession implements DbSession {
  readonly transport = 'exec (reused)' as const;
  #server: ServerInfo | undefined;
  #copyOut = false;
  #busy = false;
  #closed = false;
  readonly #socket: Socket;
  readonly #inbox: Inbox;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    // As a cold exec session does: the statement's wait ends with `interrupted`, and the lent
    // session is ended by the holder (it cannot know the state it was left in).
    this.#inbox.fail(interrupted());
    this.#send({ op: 'cancel' });
    this.#socket.destroy();
  };

  constructor(socket: Socket, inbox: Inbox, signal: AbortSignal | undefined) {
    this.#socket = socket;
    this.#inbox = inbox;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get server(): ServerInfo {
    if (!this.#server) throw new CoderdbError('internal', 'exec.not-started', 'the session has not started');
    return this.#server;
  }

  get copyOut(): boolean {
    return this.#copyOut;
  }

  async open(options: OpenOptions): Promise<void> {
    this.#send({
      op: 'open',
      options: {
        ...(options.applicationName !== undefined ? { applicationName: options.applicationName } : {}),
        ...(options.read ? { read: options.read } : {}),
        ...(options.role ? { role: options.role } : {}),
        ...(options.disabledLayers ? { disabledLayers: options.disabledLayers } : {}),
      },
    });
    const reply = await this.#inbox.next();
    if (reply.op === 'error') throw fromWireError(reply.error);
    if (reply.op !== 'opened') throw protocolError(reply.op);
    this.#server = reply.server;
    this.#copyOut = reply.copyOut;
  }

  async *execute(sql: string): AsyncGenerator<QueryEvent> {
    if (this.#closed) throw new CoderdbError('internal', 'exec.closed', 'the exec session is closed');
    if (this.#busy)
      throw new CoderdbError('internal', 'exec.busy', 'the exec session is already running a statement');
    this.#inbox.check();
    this.#busy = true;
    let finished = false;
    try {
      this.#send({ op: 'execute', sql });
      for (;;) {
        const message = await this.#inbox.next();
        if (message.op === 'event') yield message.event;
        else if (message.op === 'end') break;
        else if (message.op === 'error') {
          finished = true;
          throw fromWireError(message.error);
        } else throw protocolError(message.op);
      }
      finished = true;
    } finally {
      this.#busy = false;
      if (!finished) {
        // The consumer stopped mid-result (or the wire failed): the holder ends the lent session.
        this.#inbox.fail(connectionError('exec.abandoned', 'the previous result was abandoned'));
        this.#socket.destroy();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#socket.destroyed) return;
    // The holder resets the session for its next user once it reads this.
    this.#send({ op: 'close' });
    this.#socket.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#socket.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      this.#socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #send(message: ClientMessage): void {
    if (!this.#socket.destroyed) this.#socket.write(encodeMessage(message));
  }
}

/** The holder's messages in order, read ahead a little; the socket pauses beyond HIGH_WATER. */
class Inbox {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #queue: HolderMessage[] = [];
  #failure: CoderdbError | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#queue.push(...(this.#decoder.push(chunk) as HolderMessage[]));
      } catch (error) {
        this.fail(error as CoderdbError);
        socket.destroy();
      }
      if (this.#queue.length > HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.fail(
        connectionError('holder.lost', 'the warm session ended while the command was using it', {
          hint: 'run the command again (coderdb connect --status shows whether it is still there)',
        }),
      );
    });
  }

  fail(error: CoderdbError): void {
    this.#failure ??= error;
    this.#notify();
  }

  /** Throws if the session can no longer be used. */
  check(): void {
    if (this.#failure) throw this.#failure;
  }

  async next(): Promise<HolderMessage> {
    for (;;) {
      // An interruption wins over what was read ahead, as it does in a cold session.
      if (this.#failure?.kind === 'interrupted') throw this.#failure;
      const message = this.#queue.shift();
      if (message) {
        if (this.#queue.length < HIGH_WATER / 4) this.#socket.resume();
        return message;
      }
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function protocolError(op: string): CoderdbError {
  return connectionError('holder.protocol', `the warm session sent an unexpected message (${op})`);
}
