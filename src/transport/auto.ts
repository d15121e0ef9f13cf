// The auto transport (the default): picks how to reach the database for the profile.
//
// - A URL is given (--url, CODERDB_URL, the profile's `url`, the sandbox profile, or the profile's
//   urlEnv variable such as CODER_PG_CONNECTION_URL set locally): direct. Whoever gives a URL can
//   reach that database.
// - Otherwise the URL is in Secrets Manager and names a private RDS endpoint: a tunnel through the
//   Coder task when the caller may start the port-forwarding session (ssm:StartSession on the task
//   and the AWS-StartPortForwardingSessionToRemoteHost document); when that permission is missing,
//   exec (psql inside the container, ecs:ExecuteCommand); when that fails too, one error naming
//   both missing pieces. Other failures (no running task, the database unreachable from the task)
//   would fail exec the same way, so they are reported as they are.
//
// The choice is made on the first open and kept for the rest of the command.

import type { AwsSession } from '../aws/session.js';
import type { Profile } from '../core/config.js';
import { CoderdbError, connectionError } from '../core/errors.js';
import { directTransport } from './direct.js';
import { resolveTarget } from './resolve.js';
import type { DbSession, OpenOptions, Transport } from './types.js';

/** Whether the profile names its database URL itself rather than leaving it to the secret. */
export function hasExplicitUrl(profile: Profile, env: NodeJS.ProcessEnv = process.env): boolean {
  return profile.url !== undefined || Boolean(env[profile.urlEnv]);
}

export function autoTransport(
  profile: Profile,
  aws: AwsSession,
  env: NodeJS.ProcessEnv = process.env,
): Transport {
  if (hasExplicitUrl(profile, env)) {
    return directTransport({ target: (open) => resolveTarget(profile, aws, open.role) });
  }
  let chosen: Transport | undefined;

  async function firstOpen(options: OpenOptions): Promise<DbSession> {
    // Loaded here so that commands with a URL never load the SSM client.
    const { tunnelTransport } = await import('./tunnel.js');
    const tunnel = tunnelTransport(profile, aws);
    try {
      const session = await tunnel.open(options);
      chosen = tunnel;
      return session;
    } catch (error) {
      if (!(error instanceof CoderdbError) || error.code !== 'tunnel.not-permitted') throw error;
      return fallBackToExec(error, options);
    }
  }

  async function fallBackToExec(tunnelError: CoderdbError, options: OpenOptions): Promise<DbSession> {
    try {
      const { execTransport } = await import('./exec/index.js');
      const exec = execTransport(profile, aws);
      const session = await exec.open(options);
      chosen = exec;
      return session;
    } catch (execError) {
      const why = execError instanceof Error ? execError.message : String(execError);
      throw connectionError(
        'auto.no-route',
        `cannot reach the database through the Coder task: ${tunnelError.message}; and psql in the container (exec) failed: ${why}`,
        {
          hint: `${tunnelError.hint ?? ''}; or, for exec, install psql in the container image and allow ecs:ExecuteCommand`,
          cause: execError,
        },
      );
    }
  }

  return {
    name: 'auto',
    describe: () => chosen?.describe() ?? 'auto (tunnel through the Coder task, else exec)',
    open: (options = {}) => (chosen ? chosen.open(options) : firstOpen(options)),
  };
}
