// The exec transport: psql inside the Coder task, reached through ECS Exec over the SSM data channel,
// as the runbook does by hand, but with one session per command, no AWS CLI or plugin, and results
// that are byte-for-byte what the direct transport gives. psql connects with the URL from the
// container's own environment, so the database URL never reaches this machine.

import { randomBytes } from 'node:crypto';
import { resolveCredentialsEarly } from '../../aws/clients.js';
import type { AwsSession } from '../../aws/session.js';
import { execKmsKey, openExecChannel } from '../../aws/sessions.js';
import { findTask, type TaskTarget } from '../../aws/tasks.js';
import type { Profile } from '../../core/config.js';
import { type DataChannelOptions, loadWebSocket } from '../../ssm/channel.js';
import type { Transport } from '../types.js';
import { bootstrapCommand } from './bootstrap.js';
import { ExecSession } from './session.js';

export { ExecSession } from './session.js';

export interface ExecTransportOptions {
  /**
   * gzip -1 results in the container before base64, when `gzip -1` works there (default true).
   * Results then cross the ~1 MB/s channel about three times faster (BENCHMARKS.md), for one more
   * process per statement in the container.
   */
  compress?: boolean;
  /** Describe result columns with psql's \gdesc even where result_types is available (tests). */
  describeWithGdesc?: boolean;
  /** Data channel settings (timeouts, logging). */
  channel?: Partial<DataChannelOptions>;
  /** Every session in this task, not looked up each time (a warm holder's, src/holder/exec-pool.ts). */
  task?: TaskTarget;
}

/** Waiting for psql's first answer: the agent's start-up, psql's connection, and apk if asked. */
const START_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 180_000;

export function execTransport(
  profile: Profile,
  aws: AwsSession,
  options: ExecTransportOptions = {},
): Transport {
  let described = `exec (psql in a task of ${profile.cluster}/${profile.service}, container ${profile.container})`;
  return {
    name: 'exec',
    describe: () => described,
    async open(openOptions = {}) {
      // Built first, so that a bad urlEnv is refused before any AWS call.
      const nonce = randomBytes(16).toString('hex');
      // Reads connect with the reader role's URL when the container has one (readerUrlEnv).
      const urlEnv = (openOptions.role === 'reader' && profile.readerUrlEnv) || profile.urlEnv;
      const command = bootstrapCommand({
        nonce,
        urlEnv,
        installClient: profile.installClient,
      });
      // The cluster's KMS key (which makes the session encrypted) is looked up alongside the task.
      resolveCredentialsEarly(profile);
      const lookups = Promise.all([options.task ?? findTask(aws, profile), execKmsKey(aws, profile)]);
      // The WebSocket library loads while the lookups are answered (after they are sent).
      aws.whenEcsRequestsSent(() => loadWebSocket().catch(() => undefined));
      const [target, kmsKeyId] = await lookups;
      const where = `task ${target.taskId}, container ${target.container}`;
      described = `exec ${profile.cluster} ${where} ($${urlEnv})`;
      const channel = await openExecChannel(aws, profile, target, command, {
        kmsKeyId: kmsKeyId ?? null,
        ...(options.channel ? { channel: options.channel } : {}),
      });
      try {
        return await ExecSession.start({
          channel,
          nonce,
          where,
          urlEnv,
          applicationName: openOptions.applicationName ?? 'coderdb',
          compress: options.compress ?? true,
          ...(options.describeWithGdesc ? { describeWithGdesc: true } : {}),
          startTimeoutMs: profile.installClient ? INSTALL_TIMEOUT_MS : START_TIMEOUT_MS,
          ...(openOptions.signal ? { signal: openOptions.signal } : {}),
          session: {
            ...(openOptions.read ? { read: openOptions.read } : {}),
            ...(openOptions.disabledLayers ? { disabledLayers: openOptions.disabledLayers } : {}),
          },
        });
      } catch (error) {
        await channel.terminate().catch(() => undefined);
        throw error;
      }
    },
  };
}
