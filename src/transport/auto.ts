// The auto transport: picks tunnel, exec or direct for the profile.

import type { AwsSession } from '../aws/session.js';
import type { Profile } from '../core/config.js';
import { directTransport } from './direct.js';
import { resolveDirectTarget } from './resolve.js';
import type { Transport } from './types.js';

export function autoTransport(profile: Profile, aws: AwsSession): Transport {
  return directTransport({ target: () => resolveDirectTarget(profile, aws) });
}
