// What a tunnel holder holds: one SSM port-forwarding session (the tunnel transport's), listening
// on a Unix socket in the holder directory instead of a TCP port. Clients connect through it with
// node-postgres (reuse.ts) after asking the control socket for the target.

import { scrub } from '../core/secret.js';
import { directTransport } from '../transport/direct.js';
import { describeTarget } from '../transport/pg-url.js';
import type { Tunnel } from '../transport/tunnel.js';
import type { Held, HeldContext } from './held.js';
import { socketTo, toWire } from './holder.js';

export async function holdTunnel(context: HeldContext): Promise<Held> {
  const { profile, aws, files, usage, keepAliveMs } = context;
  let pinging = false;
  let keepAliveAccepted = false;
  /** Traffic on the SSM session (clients or keep-alives), which Session Manager's idle timeout sees. */
  let lastTrafficAt = Date.now();
  let keepAlives = 0;

  const { openTunnel } = await import('../transport/tunnel.js');
  const tunnel: Tunnel = await openTunnel(profile, aws, {
    socketPath: files.relay,
    onAccept(socket) {
      // The keep-alive's own connection is the first one taken while it runs; any other is a client.
      const isKeepAlive = pinging && !keepAliveAccepted;
      if (isKeepAlive) keepAliveAccepted = true;
      const done = isKeepAlive ? () => undefined : usage.begin();
      socket.once('close', () => {
        done();
        lastTrafficAt = Date.now();
      });
    },
  });

  if (tunnel.mode === 'basic') {
    context.every(Math.max(1_000, Math.trunc(keepAliveMs / 4)), () => {
      if (usage.active > 0 || pinging || Date.now() - lastTrafficAt < keepAliveMs) return;
      pinging = true;
      keepAliveAccepted = false;
      void keepAlive(tunnel, files.relay).finally(() => {
        pinging = false;
        keepAlives += 1;
        lastTrafficAt = Date.now();
      });
    });
  }

  return {
    task: tunnel.task,
    sockets: [files.relay],
    info: () => ({
      transport: 'tunnel',
      database: describeTarget(tunnel.database),
      sessionId: tunnel.sessionId,
      mode: tunnel.mode,
      keepAlives,
    }),
    target: async (role) => toWire(await tunnel.freshTarget(role)),
    ended: tunnel.ended.then(({ error }) =>
      error ? `its SSM session ended: ${scrub(error.message)}` : 'its SSM session ended',
    ),
    busy: () => pinging,
    // TerminateSession, and every relayed connection closed with it.
    close: () => tunnel.close(),
  };
}

/** One `SELECT 1` through the relay: traffic on the SSM session with no effect on the database. */
async function keepAlive(tunnel: Tunnel, relay: string): Promise<void> {
  try {
    const session = await directTransport({
      name: 'tunnel',
      target: () => tunnel.freshTarget(),
      socket: () => socketTo(relay),
    }).open({ applicationName: 'coderdb keep-alive' });
    try {
      for await (const _event of session.execute('SELECT 1')) {
        // drained
      }
    } finally {
      await session.close();
    }
  } catch {
    // A failing session ends through tunnel.ended; nothing to do here.
  }
}
