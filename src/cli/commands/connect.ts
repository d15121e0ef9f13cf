// coderdb connect / connect --status / disconnect: warm sessions, like SSH's ControlPersist. `connect`
// starts a detached holder (src/holder/) for the profile and returns once it answers; every later
// command on the same profile, region, cluster and AWS identity goes through it until it ends.
// The holder is this same program started again with CODERDB_HOLDER_SERVE=1, so it resolves the
// profile from the very same flags and environment.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Profile } from '../../core/config.js';
import { connectionError, usageError } from '../../core/errors.js';
import { isProcessAlive } from '../../core/process.js';
import { scrub } from '../../core/secret.js';
import type { HolderInfo } from '../../holder/protocol.js';
import { globals, outputFormat, resolveProfile, say } from '../shared.js';

const SERVE_ENV = 'CODERDB_HOLDER_SERVE';
/** How long `connect` waits for the holder to answer (task lookup, StartSession, handshake). */
const READY_TIMEOUT_MS = 90_000;
/** How long `disconnect` waits for a holder to end its session and exit. */
const STOP_TIMEOUT_MS = 20_000;

interface ConnectFlags {
  for: string;
  idle: string;
  status?: boolean;
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('keep a warm session in the background that later commands on this profile reuse')
    .option('--for <duration>', 'maximum lifetime (90s, 30m, 2h)', '1h')
    .option('--idle <duration>', 'end after this long without a command', '15m')
    .option('--status', 'list the warm sessions (profile, transport, task, age, idle, sessions served)')
    .addHelpText(
      'after',
      `
The holder keeps, behind Unix sockets in a 0700 directory of yours ($XDG_RUNTIME_DIR/coderdb, else
the state directory), either one SSM port-forwarding session (--transport tunnel, the default) or,
with --transport exec, psql sessions in the task, each lent to one command at a time and reset
(ROLLBACK, DISCARD ALL) before the next. While it runs, every command on the same profile, region,
cluster and AWS identity whose transport it holds (or auto) goes through it (its audit lines say
"tunnel (reused)" or "exec (reused)"); --no-reuse opts a command out. It ends when idle for --idle,
after --for, when its task stops or is replaced, when its AWS credentials expire, when it can no
longer open a session, or with coderdb disconnect; the next command then says why and opens a fresh
session.
Examples:
  coderdb connect --for 2h
  coderdb connect --transport exec                  # no ssm:StartSession on the task needed
  coderdb query "select count(*) from users"     # through the warm session
  coderdb connect --status -o json
  coderdb disconnect`,
    )
    .action(async (flags: ConnectFlags, cmd: Command) => {
      if (flags.status) {
        await printStatus(outputFormat(cmd) === 'json');
        return;
      }
      const { parseDuration } = await import('../../holder/duration.js');
      const lifetimeMs = parseDuration(flags.for, '--for');
      const idleLimitMs = parseDuration(flags.idle, '--idle');
      const profile = resolveProfile(cmd);
      checkHoldable(profile, globals(cmd).transport);
      if (process.env[SERVE_ENV] === '1') {
        await serve(profile, { lifetimeMs, idleLimitMs });
        return;
      }
      const [{ findHolder }, { privateHolderDir }] = await Promise.all([
        import('../../holder/reuse.js'),
        import('../../holder/dir.js'),
      ]);
      // Refused here, before anything starts, when the directory is not the user's alone.
      privateHolderDir();
      const existing = await findHolder(profile, () => undefined);
      if (existing) {
        printConnected(existing.info, outputFormat(cmd) === 'json', 'already connected');
        return;
      }
      const info = await startHolder();
      printConnected(info, outputFormat(cmd) === 'json', 'connected');
    });

  program
    .command('disconnect')
    .description('end the warm session of this profile (or every one with --all), with TerminateSession')
    .option('--all', 'end every warm session of yours')
    .action(async (flags: { all?: boolean }, cmd: Command) => {
      const holders = flags.all ? await listHolders() : await profileHolder(resolveProfile(cmd));
      if (holders.length === 0) {
        say(flags.all ? 'coderdb: no warm sessions' : 'coderdb: no warm session for this profile');
        return;
      }
      for (const holder of holders) await stopHolder(holder);
    });
}

/** The holder holds a tunnel or exec sessions; a profile that reaches the database directly has nothing to hold. */
function checkHoldable(profile: Profile, flag: string | undefined): void {
  const direct =
    profile.transport === 'direct' ||
    (profile.transport === 'auto' && (profile.url !== undefined || Boolean(process.env[profile.urlEnv])));
  if (direct) {
    throw usageError(
      'holder.direct',
      `profile "${profile.name}" reaches the database directly${flag ? '' : ' (it has a URL)'}; there is no session to keep warm`,
      {
        hint: 'a warm session holds a tunnel or psql sessions in the Coder task: add --transport tunnel or --transport exec',
      },
    );
  }
}

/** Starts this program again, detached, as the holder; resolves once it says it is ready. */
function startHolder(): Promise<HolderInfo> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [SERVE_ENV]: '1' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  return new Promise<HolderInfo>((resolve, reject) => {
    const done = (error?: Error, info?: HolderInfo) => {
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      child.removeAllListeners('exit');
      if (error) reject(error);
      else {
        child.unref();
        resolve(info as HolderInfo);
      }
    };
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      done(
        connectionError(
          'holder.timeout',
          `the warm session did not come up within ${READY_TIMEOUT_MS / 1000} s`,
          {
            hint: 'run coderdb doctor, or a command with the same --transport to see what fails',
          },
        ),
      );
    }, READY_TIMEOUT_MS);
    child.stdout.on('data', () => {
      const line = out.split('\n').find((text) => text.startsWith('{'));
      if (!line || !out.includes('\n')) return;
      try {
        done(undefined, JSON.parse(line) as HolderInfo);
      } catch {
        // wait for the whole line
      }
    });
    child.once('exit', (code) => {
      const why = scrub(err.trim().replace(/^coderdb: /, '')) || `it exited with status ${code}`;
      done(connectionError('holder.failed', `the warm session could not start: ${why.split('\n')[0]}`));
    });
  });
}

/** The holder process itself: prints its info line when ready, then holds until it ends. */
async function serve(profile: Profile, limits: { lifetimeMs: number; idleLimitMs: number }): Promise<void> {
  const [{ AwsSession }, { interruption }, { runHolder }, { holderFiles, holderKey, privateHolderDir }] =
    await Promise.all([
      import('../../aws/session.js'),
      import('../interrupt.js'),
      import('../../holder/holder.js'),
      import('../../holder/dir.js'),
    ]);
  const aws = new AwsSession(profile);
  const files = holderFiles(holderKey(profile), privateHolderDir());
  // After the ready line nobody reads stdout or stderr any more.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  try {
    await runHolder({
      profile,
      aws,
      files,
      transport: profile.transport === 'exec' ? 'exec' : 'tunnel',
      ...limits,
      taskPollMs: envMs('CODERDB_HOLDER_POLL_MS', 30_000),
      keepAliveMs: envMs('CODERDB_HOLDER_KEEPALIVE_MS', 5 * 60_000),
      signal: interruption,
      onReady: (info) => {
        process.stdout.write(`${JSON.stringify(info)}\n`);
      },
    });
  } finally {
    aws.destroy();
  }
}

/** Test knobs for the polling intervals; the defaults suit people. */
function envMs(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

function printConnected(info: HolderInfo, json: boolean, what: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  say(
    `coderdb: ${what}: profile ${info.profile}, ${info.transport} via task ${info.task} (holder pid ${info.pid}); ` +
      `ends when idle for ${minutes(info.idleLimitMs)} or at ${info.endsAt}`,
  );
}

interface Listed {
  info: HolderInfo;
  control: string;
}

async function listHolders(): Promise<Listed[]> {
  const [{ checkPrivate, holderDir }, { ask }] = await Promise.all([
    import('../../holder/dir.js'),
    import('../../holder/protocol.js'),
  ]);
  const dir = holderDir();
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.ctl'));
  } catch {
    return [];
  }
  checkPrivate(dir, 'directory');
  const listed: Listed[] = [];
  for (const name of names) {
    const control = join(dir, name);
    checkPrivate(control, 'socket');
    const reply = await ask(control, { op: 'hello' }, 2_000).catch(() => undefined);
    if (reply?.ok && reply.info) listed.push({ info: reply.info, control });
  }
  return listed;
}

async function profileHolder(profile: Profile): Promise<Listed[]> {
  const { findHolder } = await import('../../holder/reuse.js');
  const holder = await findHolder(profile, () => undefined);
  return holder ? [{ info: holder.info, control: holder.control }] : [];
}

async function stopHolder(holder: Listed): Promise<void> {
  const { ask } = await import('../../holder/protocol.js');
  await ask(holder.control, { op: 'stop' });
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isProcessAlive(holder.info.pid)) {
    if (Date.now() > deadline) {
      throw connectionError(
        'holder.stop-timeout',
        `the warm session of profile ${holder.info.profile} (pid ${holder.info.pid}) did not end within ${STOP_TIMEOUT_MS / 1000} s`,
        { hint: `kill ${holder.info.pid}` },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  say(`coderdb: disconnected profile ${holder.info.profile} (task ${holder.info.task}, session ended)`);
}

async function printStatus(json: boolean): Promise<void> {
  const holders = (await listHolders()).map(({ info }) => info);
  if (json) {
    process.stdout.write(`${JSON.stringify(holders, null, 2)}\n`);
    return;
  }
  if (holders.length === 0) {
    say('coderdb: no warm sessions');
    return;
  }
  const now = Date.now();
  const rows = [
    ['profile', 'transport', 'task', 'age', 'idle', 'served', 'pid'],
    ...holders.map((info) => [
      info.profile,
      info.transport,
      info.task,
      minutes(now - Date.parse(info.startedAt)),
      info.active > 0 ? 'busy' : minutes(now - Date.parse(info.lastUsedAt)),
      String(info.served),
      String(info.pid),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) {
    process.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
}

function minutes(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
