// The end-to-end answer the other checks can only predict: `select 1` over the transport the
// profile uses, timed. Users of amazon-ecs-exec-checker report "all green, still failing"; this
// check is what turns green into "it works". When the profile's transport is not part of this
// build, the probe falls back to a direct connection if the profile has a URL, and says so.

import { isCoderdbError } from '../../../core/errors.js';
import { directTransport } from '../../../transport/direct.js';
import { resolveDirectTarget } from '../../../transport/resolve.js';
import type { DbSession, Transport } from '../../../transport/types.js';
import type { DoctorContext } from '../context.js';
import { type CheckSpec, fail, pass, skip, warn } from '../types.js';

/** How long the probe waits for a session; exec and tunnel sessions take seconds to set up. */
export const PROBE_TIMEOUT_MS = 30_000;

export const probeCheck: CheckSpec<DoctorContext> = {
  id: 'probe.select',
  title: 'End to end: select 1',
  scope: 'deployment',
  // A little over the probe's own deadline, so that the probe reports (and cleans up) itself.
  timeoutMs: PROBE_TIMEOUT_MS + 5_000,
  async run(ctx) {
    let transport = ctx.transport;
    let fallback: string | undefined;
    const started = performance.now();
    let session: DbSession;
    try {
      session = await openWithin(transport, PROBE_TIMEOUT_MS);
    } catch (error) {
      if (!(isCoderdbError(error) && error.code === 'transport.unavailable')) return failure(error);
      if (!ctx.hasOwnUrl()) {
        return skip(
          `the ${transport.name} transport is not available in this build (${error.message}) and the profile has no URL to fall back on`,
        );
      }
      fallback = `the ${transport.name} transport is not available in this build; probed direct instead`;
      transport = directTransport({ target: () => resolveDirectTarget(ctx.profile, ctx.aws) });
      try {
        session = await openWithin(transport, PROBE_TIMEOUT_MS);
      } catch (retryError) {
        return failure(retryError, fallback);
      }
    }
    const connectedMs = performance.now() - started;
    let queryMs: number;
    let value: string | null | undefined;
    try {
      const queried = performance.now();
      for await (const event of session.execute('select 1 as ok')) {
        if (event.kind === 'rows') value = event.rows[0]?.[0] as string | null | undefined;
      }
      queryMs = performance.now() - queried;
    } catch (error) {
      return failure(error, fallback);
    } finally {
      await session.close().catch(() => undefined);
    }
    // auto names the transport it chose only once a session is open.
    const over =
      session.transport === transport.name ? transport.name : `${session.transport} (${transport.name})`;
    if (value !== '1') {
      return fail(`select 1 over ${over} returned ${JSON.stringify(value ?? null)} instead of 1`, null);
    }
    const finding = `select 1 over ${over} answered in ${ms(queryMs)} (session opened in ${ms(connectedMs)})`;
    const details = [
      `${transport.describe()}`,
      `PostgreSQL ${session.server.version}, database ${session.server.database}, user ${session.server.user}`,
    ];
    if (fallback) {
      return warn(
        `${finding}; ${fallback}`,
        `the ${ctx.profile.transport} transport itself was not tried`,
        details,
      );
    }
    return pass(finding, details);
  },
};

function failure(error: unknown, note?: string) {
  const message = error instanceof Error ? error.message : String(error);
  const hint = isCoderdbError(error) ? (error.hint ?? null) : null;
  return fail(`${message}${note ? ` (${note})` : ''}`, hint?.includes('coderdb doctor') ? null : hint);
}

/** Opens a session, giving up after `timeoutMs`; a session that arrives later is closed. */
async function openWithin(transport: Transport, timeoutMs: number): Promise<DbSession> {
  const controller = new AbortController();
  const opening = transport.open({ applicationName: 'coderdb doctor', signal: controller.signal });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      opening.then((late) => late.close()).catch(() => undefined);
      reject(new Error(`no session within ${timeoutMs / 1000} s over ${transport.name}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([opening, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}
