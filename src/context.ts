// The composition root: from a profile to a ready Context (transport, audit log, AWS session).
// Commands and library callers start here; nothing below knows how the pieces were chosen.

import { cloudWatchAuditSink } from './aws/audit-sink.js';
import { AwsSession } from './aws/session.js';
import { AuditLog, type AuditSink } from './core/audit.js';
import { type LoadOptions, loadProfile, type Profile, type TransportName } from './core/config.js';
import { usageError } from './core/errors.js';
import type { DisabledLayers } from './core/layers.js';
import type { Context } from './ops/db.js';
import { hasExplicitUrl } from './transport/auto.js';
import { directTransport } from './transport/direct.js';
import { resolveTarget } from './transport/resolve.js';
import type { Transport } from './transport/types.js';

export interface CoderdbContext extends Context {
  aws: AwsSession;
  /** Releases AWS clients; sessions are closed by the operations that open them. */
  dispose(): void;
}

export interface ContextOptions extends LoadOptions {
  /** An already resolved profile (skips loading). */
  resolvedProfile?: Profile;
  auditFile?: string;
  /** Aborts the sessions and operations run under the context. */
  signal?: AbortSignal;
  /** Test-only: defence layers to switch off, to prove that each other layer holds alone. */
  disabledLayers?: DisabledLayers;
  /**
   * Go through the profile's warm session (`coderdb connect`, src/holder/) when one is alive and
   * holds the profile's transport (tunnel or exec), or the transport is auto with no URL. The CLI does unless --no-reuse; default false.
   */
  reuseWarmSession?: boolean;
}

export function createContext(options: ContextOptions = {}): CoderdbContext {
  const profile = options.resolvedProfile ?? loadProfile(options);
  const aws = new AwsSession(profile);
  const transport = createTransport(profile, aws, options.reuseWarmSession ?? false);
  const audit = new AuditLog(options.auditFile, auditSink(profile));
  return {
    profile,
    transport,
    aws,
    audit,
    identity: () => aws.knownIdentity(),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.disabledLayers ? { disabledLayers: options.disabledLayers } : {}),
    dispose: () => {
      // A library caller that did not settle the audit log still gets its records to the sink.
      void audit.settle();
      aws.destroy();
    },
  };
}

/** The profile's shared audit trail, if it has one. Callers end with `await context.audit.settle()`. */
function auditSink(profile: Profile): AuditSink | undefined {
  if (!profile.auditLogGroup) {
    if (profile.auditRequired) {
      throw usageError(
        'config.audit-required',
        `profile "${profile.name}" sets auditRequired but no auditLogGroup`,
        {
          hint: 'set auditLogGroup (e.g. /coderdb/audit) to the CloudWatch Logs group that must take every record',
        },
      );
    }
    return undefined;
  }
  return cloudWatchAuditSink(profile, profile.auditLogGroup);
}

export function createTransport(profile: Profile, aws: AwsSession, reuseWarmSession = false): Transport {
  const warm = reuseWarmSession && profile.transport !== 'direct';
  if (warm && !(profile.transport === 'auto' && hasExplicitUrl(profile))) {
    const cold = async () =>
      profile.transport === 'tunnel'
        ? (await import('./transport/tunnel.js')).tunnelTransport(profile, aws)
        : profile.transport === 'exec'
          ? (await import('./transport/exec/index.js')).execTransport(profile, aws)
          : (await import('./transport/auto.js')).autoTransport(profile, aws);
    return lazyTransport(profile.transport, async () => {
      const { findHolder, warmTransport } = await import('./holder/reuse.js');
      const holder = await findHolder(profile);
      // A holder serves its own transport, and auto (which would have chosen one of the two).
      const serves = holder && (profile.transport === 'auto' || holder.info.transport === profile.transport);
      if (!holder || !serves) return cold();
      if (holder.info.identity) aws.adoptIdentity(holder.info.identity);
      return warmTransport(holder, cold);
    });
  }
  switch (profile.transport) {
    case 'direct':
      return directTransport({ target: (open) => resolveTarget(profile, aws, open.role) });
    case 'exec':
      return lazyTransport('exec', async () =>
        (await import('./transport/exec/index.js')).execTransport(profile, aws),
      );
    case 'tunnel':
      return lazyTransport('tunnel', async () =>
        (await import('./transport/tunnel.js')).tunnelTransport(profile, aws),
      );
    case 'auto':
      return lazyTransport('auto', async () =>
        (await import('./transport/auto.js')).autoTransport(profile, aws),
      );
  }
}

/** A transport whose implementation is loaded on first use, so unused transports cost nothing. */
function lazyTransport(name: TransportName, load: () => Promise<Transport>): Transport {
  let loaded: Promise<Transport> | undefined;
  let current: Transport | undefined;
  return {
    name,
    describe: () => current?.describe() ?? `${name} transport`,
    async open(options) {
      loaded ??= load();
      current = await loaded;
      return current.open(options);
    },
  };
}
