// Where the emulated agent's port sessions connect, and how that fails. The task sees the database
// at the endpoint the world advertises (the RDS instance's address and port, which is also what the
// secret names); the sandbox serves it on a loopback port, so that endpoint is mapped there, and the
// world decides whether the task may reach it at all (`taskCanReachDatabase`: security groups, RDS
// status), failing the dial the way the network would. Dial errors read like the Go agent's.

import { connect, type Socket } from 'node:net';
import { taskCanReachDatabase } from '../aws/derive.js';
import { parseDatabaseUrl, type World } from '../aws/world.js';
import type { Pacing } from './pty-process.js';

export type DialPlan =
  | { ok: true; host: string; port: number }
  /** `error` is what the agent would log; `delayMs` is how long the network takes to say so. */
  | { ok: false; error: string; delayMs?: number };

/** Maps a requested host:port to where the sandbox really connects, or to the failure. */
export type PortDestination = (host: string, port: number) => DialPlan;

const DIAL_TIMEOUT_MS = 10_000;
/** A dropped SYN times out after minutes on Linux; the sandbox says so after a second. */
const BLOCKED_DELAY_MS = 1_000;

/** Loopback destinations as they are; nothing else exists in the sandbox's VPC. */
export const loopbackDestination: PortDestination = (host, port) => {
  const target = host || 'localhost';
  if (isLoopback(target)) return { ok: true, host: target, port };
  return { ok: false, error: `dial tcp: lookup ${target}: no such host` };
};

/** The world's database endpoint (and the database URL's) → the sandbox database, if reachable. */
export function worldDestination(world: () => World | undefined, databaseUrl: string): PortDestination {
  const database = parseDatabaseUrl(databaseUrl);
  return (host, port) => {
    const current = world();
    const instance = current?.dbInstances[0];
    const advertised = instance?.endpoint;
    const isDatabase =
      (advertised !== undefined && host === advertised.address && port === advertised.port) ||
      (host === database.host && port === database.port);
    if (!isDatabase) return loopbackDestination(host, port);
    const verdict = current ? taskCanReachDatabase(current) : { ok: true, reasons: [] };
    if (!verdict.ok) {
      const stopped = instance !== undefined && instance.status !== 'available';
      return {
        ok: false,
        error: `dial tcp ${host}:${port}: connect: ${stopped ? 'connection refused' : 'connection timed out'} (${verdict.reasons.join('; ')})`,
        delayMs: stopped ? 0 : BLOCKED_DELAY_MS,
      };
    }
    return { ok: true, host: database.host, port: database.port };
  };
}

/** net.Dial for the agent: a connected socket, or an Error with the agent's wording. */
export async function dialDestination(
  destination: PortDestination,
  host: string,
  port: number,
  pacing: Pacing,
): Promise<Socket> {
  const plan = destination(host, port);
  if (!plan.ok) {
    if (pacing === 'realistic' && plan.delayMs)
      await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
    throw new Error(plan.error);
  }
  return new Promise((resolve, reject) => {
    const socket = connect({ host: plan.host, port: plan.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`dial tcp ${host}:${port}: i/o timeout`));
    }, DIAL_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const reason = error.code === 'ECONNREFUSED' ? 'connection refused' : error.message;
      reject(new Error(`dial tcp ${host}:${port}: connect: ${reason}`));
    });
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}
