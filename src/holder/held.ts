// What a warm-session holder holds, as its shared lifecycle (holder.ts) sees it: the tunnel's
// port-forwarding session (tunnel-held.ts) or a pool of exec psql sessions (exec-pool.ts). Each
// kind opens what it holds, serves clients on its own socket in the holder directory, counts them
// in Usage and says when it can no longer serve; the lifecycle decides when the holder ends.

import type { AwsSession } from '../aws/session.js';
import type { TaskTarget } from '../aws/tasks.js';
import type { Profile } from '../core/config.js';
import type { HolderFiles } from './dir.js';
import type { HolderInfo, WireTarget } from './protocol.js';

export interface HeldContext {
  profile: Profile;
  aws: AwsSession;
  files: HolderFiles;
  keepAliveMs: number;
  usage: Usage;
  /** A timer the lifecycle clears when the holder ends. */
  every: (ms: number, work: () => void) => void;
}

export interface Held {
  /** The task it reaches the database through (polled: a stopped or replaced task ends it). */
  readonly task: TaskTarget;
  /** The sockets it serves clients on (made 0600, removed at the end). */
  readonly sockets: readonly string[];
  /** Its part of `connect --status`. */
  info(): Pick<HolderInfo, 'transport' | 'database' | 'sessionId' | 'mode' | 'sessions' | 'keepAlives'>;
  /** Where and as whom a client connects through the relay (tunnel only). */
  target?(role: 'main' | 'reader'): Promise<WireTarget>;
  /** Settles with the reason, once it can no longer serve. */
  readonly ended: Promise<string>;
  /** Busy with work of its own (a keep-alive) that the idle limit must not cut short. */
  busy(): boolean;
  /** Ends every SSM session it holds and stops serving. */
  close(): Promise<void>;
}

/** Clients served and open; idle time counts from the last one's end, never from keep-alives. */
export class Usage {
  served = 0;
  active = 0;
  lastUsedAt: number;

  constructor(now: number) {
    this.lastUsedAt = now;
  }

  /** A client starts; call the result (once) when it ends. */
  begin(): () => void {
    this.served += 1;
    this.active += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active -= 1;
      this.lastUsedAt = Date.now();
    };
  }
}
