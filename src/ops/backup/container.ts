// Running one framed script in the Coder container over ECS Exec and reading its output as it
// arrives. It owns the session's life: bounded silence (a stalled agent fails the run instead of
// hanging it), an optional upload on stdin once the script says it is ready, and TerminateSession
// whenever the run ends early, so no session outlives the operation that opened it.

import type { Writable } from 'node:stream';
import type { AwsSession } from '../../aws/session.js';
import { execKmsKey, openExecChannel } from '../../aws/sessions.js';
import { findTask, type TaskTarget } from '../../aws/tasks.js';
import type { Profile } from '../../core/config.js';
import { CoderdbError, connectionError, DOCTOR_HINT } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';
import type { DataChannel } from '../../ssm/channel.js';
import { type FrameHandlers, type FrameOutcome, FrameReader } from './frame.js';
import { shellCommand } from './remote-script.js';

/** ECS Exec closes sessions idle for 20 minutes; scripts print a tick every 30 s when quiet. */
export const DEFAULT_STALL_MS = 10 * 60_000;
/** After the script's last marker, how long the agent gets to close the session by itself. */
const CLOSE_WAIT_MS = 5_000;

export interface ContainerHandle {
  aws: AwsSession;
  profile: Profile;
  task: TaskTarget;
  /** The cluster's ECS Exec KMS key (null: none), looked up once for all sessions. */
  kmsKeyId: string | null;
  describe: string;
}

export async function openContainer(aws: AwsSession, profile: Profile): Promise<ContainerHandle> {
  const task = await findTask(aws, profile);
  const kmsKeyId = (await execKmsKey(aws, profile)) ?? null;
  return {
    aws,
    profile,
    task,
    kmsKeyId,
    describe: `exec task ${task.taskId} container ${task.container}`,
  };
}

export interface RunScriptOptions {
  handlers?: FrameHandlers;
  /** Fails the run when the container prints nothing for this long. */
  stallMs?: number;
  /** Writes stdin once the script prints the `ready` marker (raw mode is on by then). */
  upload?: (input: Writable) => Promise<void>;
  signal?: AbortSignal;
  /** What the script does, for messages: "backup", "restore" … */
  label: string;
}

/** Runs `script`; resolves with its outcome once its output has ended (complete or not). */
export async function runScript(
  handle: ContainerHandle,
  script: string,
  nonce: string,
  options: RunScriptOptions,
): Promise<FrameOutcome> {
  options.signal?.throwIfAborted();
  const channel = await openExecChannel(handle.aws, handle.profile, handle.task, shellCommand(script), {
    kmsKeyId: handle.kmsKeyId,
  });
  let closeTimer: NodeJS.Timeout | undefined;
  let uploadFailure: unknown;
  let uploading: Promise<void> | undefined;
  const startUpload = () => {
    if (!options.upload || uploading) return;
    uploading = options.upload(channel.input).catch((error: unknown) => {
      uploadFailure = error;
      void channel.terminate();
    });
  };
  const reader = new FrameReader(nonce, {
    ...options.handlers,
    event(verb, args) {
      if (verb === 'ready') startUpload();
      options.handlers?.event?.(verb, args);
    },
  });
  const watchdog = new Watchdog(options.stallMs ?? DEFAULT_STALL_MS, () => void channel.terminate());
  const abort = () => void channel.terminate();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    try {
      // Read to the end even after `done`: leaving the loop would stop reading the socket, and
      // the channel_closed after the script's last line would never be seen.
      for await (const chunk of channel.output) {
        watchdog.touch();
        await reader.write(chunk as Buffer);
        if (reader.done && !closeTimer) {
          closeTimer = setTimeout(() => void channel.terminate(), CLOSE_WAIT_MS);
        }
      }
    } catch (error) {
      // Our own verdicts (corrupt stream, damaged chunk) stand; channel failures are interruptions.
      if (error instanceof CoderdbError && error.code.startsWith('backup.')) throw error;
      throw interrupted(options.label, error);
    }
    if (uploadFailure !== undefined) throw uploadFailure;
    options.signal?.throwIfAborted();
    if (watchdog.fired) {
      throw connectionError(
        'backup.stalled',
        `the ${options.label} in the container produced no output for ${Math.round((options.stallMs ?? DEFAULT_STALL_MS) / 1000)} s and was stopped`,
        { hint: DOCTOR_HINT },
      );
    }
    const outcome = reader.end();
    if (!outcome.done) throw await truncated(options.label, channel, outcome);
    await uploading;
    if (uploadFailure !== undefined) throw uploadFailure;
    return outcome;
  } finally {
    clearTimeout(closeTimer);
    watchdog.stop();
    options.signal?.removeEventListener('abort', abort);
    // Ends the session if it is still open (an error, an abort); a no-op once it has closed.
    await channel.terminate();
  }
}

function interrupted(label: string, error: unknown): CoderdbError {
  const reason = error instanceof Error ? error.message : String(error);
  return connectionError(
    'backup.interrupted',
    `the ${label} stream through ECS Exec was interrupted: ${scrub(reason)}`,
    {
      hint: 'nothing incomplete was kept; run it again (`coderdb doctor` if it keeps happening)',
      cause: error,
    },
  );
}

async function truncated(label: string, channel: DataChannel, outcome: FrameOutcome): Promise<CoderdbError> {
  const end = await channel.closed;
  const why = end.error ? `: ${end.error.message}` : '';
  const where = outcome.openSection ? ` in the middle of its "${outcome.openSection}" data` : '';
  const noise = outcome.noise.length ? `\nlast output: ${outcome.noise.slice(-3).join(' | ')}` : '';
  return connectionError(
    'backup.truncated',
    `the ${label} output from the container ended before the script finished${where}${why}`,
    {
      hint: 'nothing incomplete was kept; run it again (`coderdb doctor` if it keeps happening)',
      ...(noise ? { detail: noise.trim() } : {}),
    },
  );
}

/** Calls `onStall` once when touch() has not been called for `ms`. */
class Watchdog {
  #last = Date.now();
  #timer: NodeJS.Timeout;
  fired = false;

  constructor(ms: number, onStall: () => void) {
    this.#timer = setInterval(
      () => {
        if (Date.now() - this.#last < ms) return;
        this.fired = true;
        this.stop();
        onStall();
      },
      Math.min(ms, 5_000),
    );
    this.#timer.unref();
  }

  touch(): void {
    this.#last = Date.now();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
