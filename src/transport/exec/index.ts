// The exec transport: psql inside the Coder task, reached through ECS Exec over the SSM data channel.

import type { AwsSession } from '../../aws/session.js';
import type { Profile } from '../../core/config.js';
import { usageError } from '../../core/errors.js';
import type { Transport } from '../types.js';

export function execTransport(_profile: Profile, _aws: AwsSession): Transport {
  throw usageError('transport.unavailable', 'the exec transport is not built yet', {
    hint: 'use --transport direct',
  });
}
