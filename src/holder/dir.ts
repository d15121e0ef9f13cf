// Where warm-session holders live: one 0700 directory of the user's (under $XDG_RUNTIME_DIR, which
// the system empties at logout, else under the state directory) holding, per holder, its control
// socket, its PostgreSQL relay socket and, once it has ended, a note saying why. A socket in that
// directory is a door to the database, so the directory is checked before every use: a directory
// someone else owns, or that others may enter, is refused rather than trusted or repaired.

import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../core/config.js';
import { refusedError } from '../core/errors.js';
import { paths } from '../core/paths.js';
import { redactUrl } from '../core/secret.js';

export function holderDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime?.startsWith('/') ? join(runtime, 'coderdb') : join(paths.stateDir(), 'run');
}

/** Creates the directory (0700) when missing and refuses it unless only this user can enter it. */
export function privateHolderDir(dir: string = holderDir()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkPrivate(dir, 'directory');
  return dir;
}

/** Throws unless `path` is a directory or socket (not a link) of this user's that no one else can use. */
export function checkPrivate(path: string, kind: 'directory' | 'socket'): void {
  const stat = lstatSync(path);
  const uid = process.getuid?.();
  const isKind = kind === 'directory' ? stat.isDirectory() : stat.isSocket();
  const problem = !isKind
    ? `is not a ${kind}`
    : uid !== undefined && stat.uid !== uid
      ? `belongs to uid ${stat.uid}, not to you (uid ${uid})`
      : kind === 'directory' && (stat.mode & 0o077) !== 0
        ? `has mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}; others may enter it`
        : undefined;
  if (problem) {
    throw refusedError('holder.unsafe-dir', `the warm-session ${kind} ${path} ${problem}`, {
      hint:
        kind === 'directory'
          ? `remove it (rm -r ${path}) and run coderdb connect again; it is recreated with mode 0700`
          : 'run coderdb disconnect --all, then remove the stray file',
    });
  }
}

/**
 * What a holder is for: the profile, region, cluster, service, task and database it reaches, the
 * AWS endpoint and the source of the AWS identity (named AWS profile or access key id, both known
 * without a network call). A command whose key differs never uses the holder, so a switched
 * AWS_PROFILE or access key, --task or --url opens its own session. No secret goes into the key.
 */
export function holderKey(profile: Profile, env: NodeJS.ProcessEnv = process.env): string {
  const identity = [
    profile.awsProfile ?? env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? '',
    env.AWS_ACCESS_KEY_ID ?? '',
  ];
  const database = [profile.secretId, profile.url ? redactUrl(profile.url.reveal()) : ''];
  const where = [profile.region, profile.cluster, profile.service, profile.container, profile.task ?? ''];
  const parts = [profile.name, ...where, ...database, profile.awsEndpoint ?? '', ...identity];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

export interface HolderFiles {
  control: string;
  relay: string;
  /** A warm exec holder's session socket (src/holder/exec-pool.ts). */
  exec: string;
  /** Written by a holder as it ends: one line saying why; read (and removed) by the next command. */
  ended: string;
}

export function holderFiles(key: string, dir: string = holderDir()): HolderFiles {
  return {
    control: join(dir, `${key}.ctl`),
    relay: join(dir, `${key}.pg`),
    exec: join(dir, `${key}.exec`),
    ended: join(dir, `${key}.ended`),
  };
}
