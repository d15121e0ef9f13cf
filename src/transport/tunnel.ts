// The tunnel transport: node-postgres through an SSM port-forwarding session via the Coder task.

import type { AwsSession } from '../aws/session.js';
import type { Profile } from '../core/config.js';
import { usageError } from '../core/errors.js';
import type { Transport } from './types.js';

export function tunnelTransport(_profile: Profile, _aws: AwsSession): Transport {
  throw usageError('transport.unavailable', 'the tunnel transport is not built yet', {
    hint: 'use --transport direct',
  });
}
