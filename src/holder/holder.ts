// The warm-session holder: the background process `coderdb connect` starts. It holds what saves
// later commands their session set-up, behind Unix sockets in the user's private holder directory,
// and a control socket beside them. What it holds is one of two kinds (src/holder/held.ts):
// - tunnel: one SSM port-forwarding session (tunnel-held.ts); commands speak PostgreSQL through
//   its relay with node-postgres, every read-path layer still on their side;
// - exec: psql sessions in the container (exec-pool.ts), each lent to one command at a time and
//   reset between them; commands drive them through a small framed protocol (exec-client.ts).
// This module is the lifecycle both share.
//
// It never outlives its reasons: it ends when idle for its limit, at its maximum lifetime, when the
// task it reaches through stops or is replaced (DescribeTasks, polled), when its AWS credentials
// expire, when what it holds can no longer serve (its SSM session ended; for exec, no new psql
// session can be opened), or on `coderdb disconnect` / SIGTERM; ending ends every SSM session it
// holds and removes its sockets. Each end but a requested one leaves a one-line note that the next
// command prints before it opens a fresh session.

import { chmodSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { awsModule, awsSettings } from '../aws/clients.js';
import type { AwsSession } from '../aws/session.js';
import type { TaskTarget } from '../aws/tasks.js';
import type { Profile } from '../core/config.js';
import { usageError } from '../core/errors.js';
import type { PgTarget } from '../transport/pg-url.js';
import { checkPrivate, type HolderFiles } from './dir.js';
import { formatDuration } from './duration.js';
import type { Held, HeldContext } from './held.js';
import { Usage } from './held.js';
import {
  ask,
  type ControlReply,
  type ControlRequest,
  type HolderInfo,
  serveControl,
  type WireTarget,
} from './protocol.js';

export interface HolderOptions {
  profile: Profile;
  aws: AwsSession;
  files: HolderFiles;
  /** What to hold: the tunnel's port-forwarding session (default) or exec's psql sessions. */
  transport?: 'tunnel' | 'exec';
  /** Ends after this long with no client connection open. */
  idleLimitMs: number;
  /** Ends this long after it started, busy or not (--for). */
  lifetimeMs: number;
  /** How often the task is looked up (DescribeTasks). */
  taskPollMs: number;
  /**
   * How long a session may go without traffic before the holder sends some: Session Manager ends
   * sessions idle for 20 minutes. A multiplexed session's smux keep-alives already count as traffic;
   * an old agent's single-connection session and each idle psql session get a `SELECT 1`.
   */
  keepAliveMs: number;
  /** Called once what it holds and the control socket answer. */
  onReady: (info: HolderInfo) => void;
  /** SIGTERM, SIGINT, SIGHUP (the CLI's interruption): end, terminating the session. */
  signal?: AbortSignal;
}

/**
 * Removes sockets a holder that crashed left behind (only the user's own), and refuses to start
 * beside a holder that still answers: two `coderdb connect` at once must not unlink each other.
 */
export async function removeStaleSockets(files: HolderFiles): Promise<void> {
  if (existsSync(files.control)) {
    checkPrivate(files.control, 'socket');
    const reply = await ask(files.control, { op: 'hello' }, 1_000).catch(() => undefined);
    if (reply?.ok) {
      throw usageError(
        'holder.running',
        `a warm session for profile ${reply.info?.profile} is already running`,
        {
          hint: 'coderdb connect --status lists it; coderdb disconnect ends it',
        },
      );
    }
  }
  for (const path of [files.control, files.relay, files.exec]) {
    if (!existsSync(path)) continue;
    checkPrivate(path, 'socket');
    unlinkSync(path);
  }
}

/** Runs the holder until it ends; resolves with why it ended. */
export async function runHolder(options: HolderOptions): Promise<string> {
  const { profile, aws, files } = options;
  await removeStaleSockets(files);
  rmQuiet(files.ended);
  const startedAt = Date.now();
  const usage = new Usage(startedAt);
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, work: () => void) => {
    timers.push(setInterval(work, ms));
  };
  const once = (ms: number, work: () => void) => {
    // setTimeout cannot wait longer than about 24 days; nothing here needs to.
    timers.push(setTimeout(work, Math.min(ms, 2 ** 31 - 1)));
  };

  const context: HeldContext = { profile, aws, files, keepAliveMs: options.keepAliveMs, usage, every };
  const held: Held =
    options.transport === 'exec'
      ? await (await import('./exec-pool.js')).holdExec(context)
      : await (await import('./tunnel-held.js')).holdTunnel(context);

  let resolveEnd!: (reason: string) => void;
  const ended = new Promise<string>((resolve) => {
    resolveEnd = resolve;
  });
  let ending: string | undefined;
  const end = (reason: string, note = true): void => {
    if (ending) return;
    ending = reason;
    for (const timer of timers) clearTimeout(timer);
    if (note) {
      try {
        writeFileSync(files.ended, `${reason}\n`, { mode: 0o600 });
      } catch {
        // The next command then finds no holder and opens a fresh session all the same.
      }
    }
    resolveEnd(reason);
  };

  const identity = await aws.identity().catch(() => undefined);
  const info = (): HolderInfo => ({
    pid: process.pid,
    profile: profile.name,
    region: profile.region,
    cluster: profile.cluster,
    ...held.info(),
    task: held.task.taskId,
    identity: identity ?? null,
    startedAt: new Date(startedAt).toISOString(),
    lastUsedAt: new Date(usage.lastUsedAt).toISOString(),
    served: usage.served,
    active: usage.active,
    idleLimitMs: options.idleLimitMs,
    endsAt: new Date(startedAt + options.lifetimeMs).toISOString(),
  });

  const handle = async (request: ControlRequest): Promise<ControlReply> => {
    if (ending) return { ok: false, code: 'holder.ending', message: `the warm session is ending: ${ending}` };
    switch (request.op) {
      case 'hello':
        return { ok: true, info: info() };
      case 'target':
        if (!held.target) {
          return { ok: false, code: 'holder.protocol', message: 'this warm session holds no tunnel' };
        }
        return { ok: true, target: await held.target(request.role) };
      case 'stop':
        setImmediate(() => end('disconnected', false));
        return { ok: true, info: info() };
      default:
        return { ok: false, code: 'holder.protocol', message: 'unknown request' };
    }
  };
  const control = await serveControl(files.control, handle).catch(async (error: unknown) => {
    for (const timer of timers) clearTimeout(timer);
    await held.close();
    throw error;
  });
  // The directory (0700) is the boundary; the sockets say the same on their own.
  for (const path of [files.control, ...held.sockets]) chmodSync(path, 0o600);

  once(options.lifetimeMs, () =>
    end(`it reached its maximum lifetime (${formatDuration(options.lifetimeMs)})`),
  );
  every(Math.max(200, Math.min(5_000, Math.trunc(options.idleLimitMs / 4))), () => {
    if (usage.active === 0 && !held.busy() && Date.now() - usage.lastUsedAt >= options.idleLimitMs) {
      end(`it was idle for ${formatDuration(options.idleLimitMs)}`);
    }
  });
  let polling = false;
  every(options.taskPollMs, () => {
    if (polling) return;
    polling = true;
    void taskGone(aws, held.task)
      .then((why) => {
        if (why) end(why);
      })
      .finally(() => {
        polling = false;
      });
  });
  void credentialsExpiry(profile).then((expiresAt) => {
    if (!expiresAt || ending) return;
    once(expiresAt - Date.now(), () =>
      end(`its AWS credentials expired at ${new Date(expiresAt).toISOString()}`),
    );
  });
  void held.ended.then((why) => end(why));
  const onSignal = () => end('it was stopped by a signal', false);
  if (options.signal?.aborted) onSignal();
  options.signal?.addEventListener('abort', onSignal, { once: true });

  options.onReady(info());
  const reason = await ended;
  options.signal?.removeEventListener('abort', onSignal);
  control.close();
  rmQuiet(files.control);
  // TerminateSession (or psql's quit), and every client connection closed with it.
  await held.close().catch(() => undefined);
  for (const path of held.sockets) rmQuiet(path);
  return reason;
}

/** Why the task the holder reaches through is no longer there to use, or undefined while it is. */
async function taskGone(aws: AwsSession, task: TaskTarget): Promise<string | undefined> {
  const { DescribeTasksCommand } = await awsModule('ecs');
  try {
    const answer = await (await aws.ecs()).send(
      new DescribeTasksCommand({ cluster: task.cluster, tasks: [task.taskArn] }),
    );
    const found = answer.tasks?.[0];
    if (!found) return `its task ${task.taskId} is gone (replaced by a new deployment?)`;
    if (found.lastStatus === 'RUNNING' && found.desiredStatus !== 'STOPPED') return undefined;
    const why = found.stoppedReason ? `: ${found.stoppedReason}` : '';
    return `its task ${task.taskId} is ${(found.desiredStatus === 'STOPPED' ? 'stopping' : (found.lastStatus ?? 'gone')).toLowerCase()}${why}`;
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (/Expired|InvalidClientTokenId|UnrecognizedClient/.test(name)) return 'its AWS credentials expired';
    // Anything else (a network blip) is tried again at the next poll.
    return undefined;
  }
}

/** When the credentials the holder uses expire (temporary credentials), else undefined. */
async function credentialsExpiry(profile: Profile): Promise<number | undefined> {
  try {
    const credentials = await awsSettings(profile).credentials();
    return credentials.expiration?.getTime();
  } catch {
    return undefined;
  }
}

/** A socket node-postgres drives as usual, except that it always connects to the Unix socket `path`. */
export function socketTo(path: string): Socket {
  const socket = new Socket();
  const connect = socket.connect.bind(socket);
  socket.connect = ((..._ignored: unknown[]) => connect(path)) as Socket['connect'];
  return socket;
}

export function toWire(target: PgTarget): WireTarget {
  const { password, ...rest } = target;
  return { ...rest, ...(password ? { password: password.reveal() } : {}) };
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
