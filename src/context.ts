// The composition root: from a profile to a ready Context (transport, audit log, AWS session).
// Commands and library callers start here; nothing below knows how the pieces were chosen.

import { AwsSession } from './aws/session.js';
import { AuditLog } from './core/audit.js';
import { type LoadOptions, loadProfile, type Profile } from './core/config.js';
import { usageError } from './core/errors.js';
import type { Context } from './ops/db.js';
import { directTransport } from './transport/direct.js';
import { resolveDirectTarget } from './transport/resolve.js';
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
}

export function createContext(options: ContextOptions = {}): CoderdbContext {
  const profile = options.resolvedProfile ?? loadProfile(options);
  const aws = new AwsSession(profile);
  const transport = createTransport(profile, aws);
  return {
    profile,
    transport,
    aws,
    audit: new AuditLog(options.auditFile),
    identity: () => aws.knownIdentity(),
    dispose: () => aws.destroy(),
  };
}

export function createTransport(profile: Profile, aws: AwsSession): Transport {
  switch (profile.transport) {
    case 'direct':
    case 'auto':
      return directTransport({ target: () => resolveDirectTarget(profile, aws) });
    case 'exec':
    case 'tunnel':
      throw usageError(
        'transport.unavailable',
        `the ${profile.transport} transport is not available in this build`,
        {
          hint: 'use --transport direct',
        },
      );
  }
}
