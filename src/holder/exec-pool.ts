// What an exec holder holds: psql sessions in the container (ExecSession, opened by the exec
// transport itself), lent to one command at a time over a Unix socket in the holder directory
// (the wire: exec-wire.ts; the client: exec-client.ts). A command that finds one idle skips task
// lookup, ExecuteCommand, the WebSocket handshake, the agent's start-up wait and psql's connection.
//
// Between commands a session is reset (ROLLBACK, DISCARD ALL) and then set up for the next one as
// a fresh session would be (ExecSession.reset/prepare); a session whose reset fails in any way,
// whose command was interrupted or vanished mid-statement, is terminated and never lent again.
// Sessions are keyed by the URL variable psql connects with (main or reader role). At most one
// idle session per key is kept: a command that finds none (a concurrent one) gets a session of its
// own, opened cold, which is closed after use if another is idle by then.
//
// Idle sessions get a `SELECT 1` before Session Manager's idle timeout. A session lost on its own
// (its channel ended) or ended by the holder is replaced in the background; the holder ends when a
// replacement cannot be opened (the task gone, access revoked): it can no longer serve.

import { createServer, type Server, type Socket } from 'node:net';
import type { Profile } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import { scrub } from '../core/secret.js';
import type { ExecSession } from '../transport/exec/session.js';
import type { Transport } from '../transport/types.js';
import {
  type ClientMessage,
  encodeMessage,
  FrameDecoder,
  type HolderMessage,
  toWireError,
  type WireOpenOptions,
} from './exec-wire.js';
import type { Held, HeldContext } from './held.js';

type Key = 'main' | 'reader';

interface Pooled {
  session: ExecSession;
  key: Key;
  lastTrafficAt: number;
  /** The reset or keep-alive under way (never rejects); a client waits for it. */
  work: Promise<void>;
  /** Lent to a client now. */
  lent: boolean;
  /** A keep-alive runs. */
  pinging: boolean;
  /** The holder ends it (an end expected, not a lost session). */
  closing: boolean;
}

/** The psql a role connects with: reads use the reader's URL variable when the profile has one. */
function keyFor(profile: Profile, role: 'main' | 'reader' | undefined): Key {
  return role === 'reader' && profile.readerUrlEnv ? 'reader' : 'main';
}

export async function holdExec(context: HeldContext): Promise<Held> {
  const { profile, aws, files } = context;
  const [{ findTask }, { execTransport }] = await Promise.all([
    import('../aws/tasks.js'),
    import('../transport/exec/index.js'),
  ]);
  const task = await findTask(aws, profile);
  const pool = new ExecPool(profile, execTransport(profile, aws, { task }), context);
  // The session most commands (reads) use, opened now: `connect` returns once the way works.
  await pool.warm(keyFor(profile, 'reader'));
  let server: Server;
  try {
    server = await listen(files.exec, (socket) => pool.serve(socket));
  } catch (error) {
    await pool.close();
    throw error;
  }
  return {
    task,
    sockets: [files.exec],
    info: () => ({
      transport: 'exec',
      database: `$${profile.readerUrlEnv && pool.usesReader ? `${profile.urlEnv}, $${profile.readerUrlEnv}` : profile.urlEnv} in the container`,
      sessionId: pool.lastSessionId,
      sessions: pool.size,
      keepAlives: pool.keepAlives,
    }),
    ended: pool.ended,
    busy: () => pool.busy(),
    async close() {
      server.close();
      await pool.close();
    },
  };
}

function listen(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createServer(onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

class ExecPool {
  readonly #profile: Profile;
  readonly #transport: Transport;
  readonly #context: HeldContext;
  readonly #all = new Set<Pooled>();
  readonly #idle = new Map<Key, Pooled>();
  readonly #clients = new Set<Socket>();
  /** Sessions being opened (a client's or a replacement), awaited on close. */
  readonly #opening = new Set<Promise<unknown>>();
  readonly #replacing = new Set<Key>();
  #closed = false;
  #resolveEnded!: (reason: string) => void;
  readonly ended = new Promise<string>((resolve) => {
    this.#resolveEnded = resolve;
  });
  keepAlives = 0;
  lastSessionId = '';
  usesReader = false;

  constructor(profile: Profile, transport: Transport, context: HeldContext) {
    this.#profile = profile;
    this.#transport = transport;
    this.#context = context;
    const { keepAliveMs } = context;
    context.every(Math.max(1_000, Math.trunc(keepAliveMs / 4)), () => this.#keepAlive());
  }

  get size(): number {
    return this.#all.size;
  }

  busy(): boolean {
    return this.#opening.size > 0 || [...this.#all].some((entry) => entry.pinging);
  }

  /** Opens an idle session for `key` (start-up, and replacing one that was lost or ended). */
  async warm(key: Key): Promise<void> {
    // Opened with no user's settings, as a reset leaves one: prepare() sets it up for each user.
    const entry = await this.#open(key, { applicationName: 'coderdb warm session' });
    this.#park(entry);
  }

  /** Serves one client connection: open, statements one at a time, then close or vanish. */
  serve(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#clients.add(socket);
    const done = this.#context.usage.begin();
    const decoder = new FrameDecoder();
    let entry: Pooled | undefined;
    let opening = false;
    let running = false;
    /** The client said it is done with the session (not a crash, not Ctrl-C). */
    let clean = false;

    const send = (message: HolderMessage): Promise<void> =>
      new Promise((resolve, reject) => {
        if (socket.destroyed) {
          reject(new Error('client gone'));
          return;
        }
        // Back-pressure: the next event is asked for only once the socket took this one.
        if (socket.write(encodeMessage(message))) {
          resolve();
          return;
        }
        const settle = (ok: boolean) => {
          socket.off('drain', onDrain);
          socket.off('close', onClose);
          if (ok) resolve();
          else reject(new Error('client gone'));
        };
        const onDrain = () => settle(true);
        const onClose = () => settle(false);
        socket.on('drain', onDrain);
        socket.on('close', onClose);
      });

    const giveBack = () => {
      const lent = entry;
      entry = undefined;
      if (!lent) return;
      // Interrupted, vanished or mid-statement: its state is unknown, so it is not lent again.
      this.#release(lent, clean && !running ? 'reset' : 'terminate');
    };

    const open = async (options: WireOpenOptions) => {
      opening = true;
      try {
        const lent = await this.#lend(options);
        if (socket.destroyed) {
          // Gone before it ran anything: the session is as prepare() left it.
          this.#release(lent, 'reset');
          return;
        }
        entry = lent;
        await send({ op: 'opened', server: lent.session.server, copyOut: true });
      } catch (error) {
        await send({ op: 'error', error: toWireError(error) }).catch(() => undefined);
        socket.end();
      } finally {
        opening = false;
      }
    };

    const run = async (lent: Pooled, sql: string) => {
      running = true;
      try {
        for await (const event of lent.session.execute(sql)) await send({ op: 'event', event });
        await send({ op: 'end' });
      } catch (error) {
        if (!socket.destroyed) await send({ op: 'error', error: toWireError(error) }).catch(() => undefined);
      } finally {
        running = false;
        lent.lastTrafficAt = Date.now();
        if (clean && entry === lent) {
          giveBack();
          socket.end();
        }
      }
    };

    const onMessage = (message: ClientMessage) => {
      switch (message.op) {
        case 'open':
          if (entry || opening) break;
          void open(message.options);
          return;
        case 'execute':
          if (!entry || running || typeof message.sql !== 'string') break;
          void run(entry, message.sql);
          return;
        case 'cancel':
          socket.destroy();
          return;
        case 'close':
          clean = true;
          if (!running) {
            giveBack();
            socket.end();
          }
          return;
      }
      // Out of order or unknown: the client is not one of ours, or confused; the session ends.
      socket.destroy();
    };

    socket.on('data', (chunk: Buffer) => {
      let messages: ClientMessage[];
      try {
        messages = decoder.push(chunk) as ClientMessage[];
      } catch {
        socket.destroy();
        return;
      }
      for (const message of messages) onMessage(message);
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#clients.delete(socket);
      giveBack();
      done();
    });
  }

  /** An idle session of the client's key, set up for it; else one opened for it (cold). */
  async #lend(options: WireOpenOptions): Promise<Pooled> {
    const key = keyFor(this.#profile, options.role);
    const applicationName = options.applicationName ?? 'coderdb';
    const settings = {
      ...(options.read ? { read: options.read } : {}),
      ...(options.disabledLayers ? { disabledLayers: options.disabledLayers } : {}),
    };
    const idle = this.#idle.get(key);
    if (idle) {
      this.#idle.delete(key);
      idle.lent = true;
      await idle.work;
      if (this.#all.has(idle) && idle.session.usable) {
        try {
          await idle.session.prepare(applicationName, settings);
          idle.lastTrafficAt = Date.now();
          return idle;
        } catch {
          this.#release(idle, 'terminate');
        }
      } else {
        this.#release(idle, 'terminate');
      }
    }
    const entry = await this.#open(key, { applicationName, ...settings });
    entry.lent = true;
    return entry;
  }

  /** A new session in the pool's task, tracked from here until its channel ends. */
  async #open(
    key: Key,
    options: { applicationName: string } & Pick<WireOpenOptions, 'read' | 'disabledLayers'>,
  ): Promise<Pooled> {
    if (this.#closed) throw new CoderdbError('connection', 'holder.ending', 'the warm session is ending');
    const opening = this.#transport.open({ ...options, role: key });
    this.#opening.add(opening);
    let session: ExecSession;
    try {
      session = (await opening) as ExecSession;
    } finally {
      this.#opening.delete(opening);
    }
    if (this.#closed) {
      await session.close().catch(() => undefined);
      throw new CoderdbError('connection', 'holder.ending', 'the warm session is ending');
    }
    if (key === 'reader') this.usesReader = true;
    this.lastSessionId = session.sessionId;
    const entry: Pooled = {
      session,
      key,
      lastTrafficAt: Date.now(),
      work: Promise.resolve(),
      lent: false,
      pinging: false,
      closing: false,
    };
    this.#all.add(entry);
    void session.ended.then(() => this.#lost(entry));
    return entry;
  }

  /** Back from a client: reset for the next one, or ended when its state cannot be known. */
  #release(entry: Pooled, how: 'reset' | 'terminate'): void {
    entry.lent = false;
    if (how === 'terminate' || !entry.session.usable || this.#closed) {
      this.#end(entry, 'terminate');
      this.#replace(entry.key);
      return;
    }
    entry.work = this.#reset(entry);
    if (this.#idle.has(entry.key)) {
      // One idle session per key is enough: this extra one closes once its client is done.
      void entry.work.then(() => this.#end(entry, 'close'));
      return;
    }
    this.#park(entry);
  }

  #park(entry: Pooled): void {
    if (this.#idle.has(entry.key)) this.#end(entry, 'close');
    else this.#idle.set(entry.key, entry);
  }

  /** ROLLBACK + DISCARD ALL; a failure ends the session (and a replacement is opened). */
  #reset(entry: Pooled): Promise<void> {
    return entry.session.reset().then(
      () => {
        entry.lastTrafficAt = Date.now();
      },
      () => {
        this.#end(entry, 'terminate');
        this.#replace(entry.key);
      },
    );
  }

  #end(entry: Pooled, how: 'close' | 'terminate'): void {
    entry.closing = true;
    this.#all.delete(entry);
    if (this.#idle.get(entry.key) === entry) this.#idle.delete(entry.key);
    void (how === 'close' ? entry.session.close() : entry.session.terminate()).catch(() => undefined);
  }

  /** A session's channel ended: expected when the holder ended it, else it was lost. */
  #lost(entry: Pooled): void {
    if (entry.closing) return;
    entry.closing = true;
    this.#all.delete(entry);
    if (this.#idle.get(entry.key) === entry) this.#idle.delete(entry.key);
    this.#replace(entry.key);
  }

  /** Opens a new idle session for `key` in the background; the holder ends if it cannot. */
  #replace(key: Key): void {
    if (this.#closed || this.#replacing.has(key) || this.#idle.has(key)) return;
    this.#replacing.add(key);
    void this.warm(key)
      .catch((error: unknown) => {
        if (this.#closed) return;
        const why = error instanceof Error ? scrub(error.message) : String(error);
        this.#resolveEnded(`its SSM session ended and no new exec session could be opened: ${why}`);
      })
      .finally(() => this.#replacing.delete(key));
  }

  /** `SELECT 1` through each idle session Session Manager would otherwise time out. */
  #keepAlive(): void {
    const now = Date.now();
    for (const entry of this.#idle.values()) {
      if (entry.pinging || now - entry.lastTrafficAt < this.#context.keepAliveMs) continue;
      entry.pinging = true;
      this.keepAlives += 1;
      entry.work = entry.work
        .then(async () => {
          for await (const _event of entry.session.execute('SELECT 1')) {
            // drained: traffic with no effect on the database
          }
          entry.lastTrafficAt = Date.now();
        })
        .catch(() => {
          this.#end(entry, 'terminate');
          this.#replace(entry.key);
        })
        .finally(() => {
          entry.pinging = false;
        });
    }
  }

  /** Ends every session: psql quits where it is idle, TerminateSession where a client had it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#clients) socket.destroy();
    await Promise.allSettled([...this.#opening]);
    await Promise.allSettled(
      [...this.#all].map(async (entry) => {
        entry.closing = true;
        if (entry.lent) return entry.session.terminate();
        await entry.work;
        await entry.session.close();
      }),
    );
    this.#all.clear();
    this.#idle.clear();
  }
}
