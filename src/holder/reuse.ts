// The client side of a warm session: a command finds the holder for its profile, region, cluster
// and AWS identity (src/holder/dir.ts) and speaks PostgreSQL through the holder's relay socket with
// node-postgres, exactly as the tunnel transport does through its local port, so the guard, the
// session-level read-only setting, the settings watch and the audit run here as they always do.
// Sessions say `tunnel (reused)` in the context line and the audit log. An exec holder lends its
// psql sessions instead (exec-client.ts); those sessions say `exec (reused)`.

import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import type { Profile } from '../core/config.js';
import { CoderdbError } from '../core/errors.js';
import { rememberSecret, Secret } from '../core/secret.js';
import type { PgTarget } from '../transport/pg-url.js';
import type { DbSession, OpenOptions, Transport } from '../transport/types.js';
import { checkPrivate, holderDir, holderFiles, holderKey } from './dir.js';
import { socketTo } from './holder.js';
import { ask, type HolderInfo, type WireTarget } from './protocol.js';

/** How long a command waits for a holder's hello before going its own way. */
const HELLO_TIMEOUT_MS = 2_000;

export interface WarmHolder {
  info: HolderInfo;
  control: string;
  relay: string;
  /** An exec holder's session socket. */
  exec: string;
}

/**
 * The live holder for `profile`, or undefined. A note left by a holder that ended is printed once
 * (`say`) and removed: the command then opens a fresh session.
 */
export async function findHolder(
  profile: Profile,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<WarmHolder | undefined> {
  const dir = holderDir();
  const files = holderFiles(holderKey(profile), dir);
  if (existsSync(files.ended)) {
    const reason = readNote(files.ended);
    unlinkQuiet(files.ended);
    say(`coderdb: the warm session for profile ${profile.name} ended (${reason}); opening a fresh session`);
  }
  if (!existsSync(files.control)) return undefined;
  checkPrivate(dir, 'directory');
  checkPrivate(files.control, 'socket');
  const reply = await ask(files.control, { op: 'hello' }, HELLO_TIMEOUT_MS).catch(() => undefined);
  if (!reply?.ok || !reply.info) return undefined;
  checkPrivate(reply.info.transport === 'exec' ? files.exec : files.relay, 'socket');
  return { info: reply.info, control: files.control, relay: files.relay, exec: files.exec };
}

/**
 * A Transport whose sessions go through the holder's relay. A holder that ends (or stops
 * answering) between the command's look-up and a session is replaced by `fallback`, the transport
 * the command would have used without it, after one line saying so.
 */
export function warmTransport(
  holder: WarmHolder,
  fallback: () => Promise<Transport>,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Transport {
  const { info } = holder;
  const exec = info.transport === 'exec';
  let described = `${info.transport} (reused) ${info.database} via task ${info.task} (warm session, pid ${info.pid})`;
  let cold: Transport | undefined;
  return {
    name: info.transport,
    describe: () => cold?.describe() ?? described,
    async open(options: OpenOptions = {}): Promise<DbSession> {
      if (cold) return cold.open(options);
      let target: PgTarget | undefined;
      try {
        if (exec) return await (await import('./exec-client.js')).openHeldExec(holder.exec, options);
        target = await targetFrom(holder, options.role ?? 'main');
      } catch (error) {
        if (!(error instanceof CoderdbError) || !error.code.startsWith('holder.')) throw error;
        say(
          `coderdb: the warm session for profile ${info.profile} is gone (${error.message}); opening a fresh session`,
        );
        cold = await fallback();
        described = cold.describe();
        return cold.open(options);
      }
      // Loaded here: an exec holder's commands need no node-postgres.
      const { directTransport } = await import('../transport/direct.js');
      const session = await directTransport({
        name: 'tunnel',
        target: async () => target,
        socket: () => socketTo(holder.relay),
      }).open(options);
      return {
        transport: 'tunnel (reused)',
        get server() {
          return session.server;
        },
        copyOut: session.copyOut,
        ...(session.cancel ? { cancel: () => session.cancel!() } : {}),
        execute: (sql) => session.execute(sql),
        close: () => session.close(),
      };
    },
  };
}

async function targetFrom(holder: WarmHolder, role: 'main' | 'reader'): Promise<PgTarget> {
  const reply = await ask(holder.control, { op: 'target', role });
  if (!reply.ok) {
    throw new CoderdbError('connection', reply.code, reply.message, reply.hint ? { hint: reply.hint } : {});
  }
  return fromWire(reply.target as WireTarget);
}

function fromWire(target: WireTarget): PgTarget {
  const { password, ...rest } = target;
  if (password === undefined) return rest;
  rememberSecret(password);
  return { ...rest, password: new Secret(password) };
}

function readNote(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().slice(0, 500) || 'no reason recorded';
  } catch {
    return 'no reason recorded';
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
