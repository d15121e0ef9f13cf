// Where pg_dump and pg_restore run for a profile. Over direct and tunnel they run on this machine
// against a PostgreSQL endpoint (the URL as the direct transport resolves it, or the local end of an
// SSM port-forwarding tunnel); over exec they run inside the Coder container, which can always reach
// the database. `auto` picks direct when a URL was given explicitly, else exec: the one path that
// needs no network route to RDS.

import { AwsSession } from '../../aws/session.js';
import type { Profile, TransportName } from '../../core/config.js';
import { usageError } from '../../core/errors.js';
import { describeTarget, type PgTarget } from '../../transport/pg-url.js';
import { resolveDirectTarget } from '../../transport/resolve.js';
import type { Context } from '../db.js';
import { type ContainerHandle, openContainer } from './container.js';

export type BackupTransport = Exclude<TransportName, 'auto'>;

/** A Context that may carry the run's AwsSession (the CLI's does). */
export type BackupContext = Context & { aws?: AwsSession };

export interface LocalReach {
  kind: 'local';
  transport: 'direct' | 'tunnel';
  target: PgTarget;
  describe: string;
}

export interface ContainerReach {
  kind: 'container';
  transport: 'exec';
  container: ContainerHandle;
  describe: string;
}

export type Reach = (LocalReach | ContainerReach) & { close(): Promise<void> };

export function chooseTransport(profile: Profile, env: NodeJS.ProcessEnv = process.env): BackupTransport {
  if (profile.transport !== 'auto') return profile.transport;
  return profile.url || env[profile.urlEnv] ? 'direct' : 'exec';
}

interface TunnelModule {
  openTunnel?: (
    profile: Profile,
    aws: AwsSession,
  ) => Promise<{ target: PgTarget; freshTarget?: () => Promise<PgTarget>; close(): Promise<void> | void }>;
}

/** Opens the way to the database; close() releases what was opened (tunnel, AWS clients). */
export async function openReach(context: BackupContext): Promise<Reach> {
  const { profile } = context;
  const ownAws = context.aws ? undefined : new AwsSession(profile);
  const aws = context.aws ?? ownAws!;
  const release = async () => ownAws?.destroy();
  try {
    const transport = chooseTransport(profile);
    if (transport === 'direct') {
      const target = await resolveDirectTarget(profile, aws);
      return {
        kind: 'local',
        transport,
        target,
        describe: `direct ${describeTarget(target)}`,
        close: release,
      };
    }
    if (transport === 'tunnel') {
      const module = (await import('../../transport/tunnel.js')) as unknown as TunnelModule;
      if (typeof module.openTunnel !== 'function') {
        throw usageError(
          'backup.tunnel-unavailable',
          'backup and restore over the tunnel transport are not available yet',
          {
            hint: 'use --transport exec (pg_dump inside the task) or --transport direct',
          },
        );
      }
      const tunnel = await module.openTunnel(profile, aws);
      const closeTunnel = async () => {
        try {
          await tunnel.close();
        } finally {
          await release();
        }
      };
      try {
        // With RDS IAM authentication the token must be fresh when pg_dump connects.
        const target = tunnel.freshTarget ? await tunnel.freshTarget() : tunnel.target;
        return {
          kind: 'local',
          transport,
          target,
          describe: `tunnel ${describeTarget(target)}`,
          close: closeTunnel,
        };
      } catch (error) {
        await closeTunnel();
        throw error;
      }
    }
    const container = await openContainer(aws, profile);
    return { kind: 'container', transport, container, describe: container.describe, close: release };
  } catch (error) {
    await release();
    throw error;
  }
}
