// The contract between a running sandbox and the rest of coderdb: the sandbox writes this file when
// it is ready and removes it when it stops; the `sandbox` profile reads it. Production code reads
// only this file and never imports the sandbox itself.

import { readFileSync } from 'node:fs';
import { paths } from './paths.js';
import { isProcessAlive } from './process.js';

export interface SandboxState {
  pid: number;
  engine: 'pglite' | 'postgres';
  /** postgres:// URL of the sandbox database (local, throwaway credentials). */
  databaseUrl: string;
  /** Loopback endpoint of the emulated AWS services, when running. */
  awsEndpoint?: string;
  region: string;
  scenario: string;
  startedAt: string;
  /** Directory holding the sandbox's data and logs. */
  dir: string;
  /** The postgres engine's server directory: removed, with its postmaster, by `sandbox stop`. */
  serverDir?: string;
  /**
   * A private VPC (`sandbox start --private`): the database is reachable only through the task, so
   * the `sandbox` profile names no URL and `auto` goes the way it does against a real deployment.
   */
  private?: boolean;
}

export function readSandboxState(file = paths.sandboxState()): SandboxState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as SandboxState;
    return isProcessAlive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Dummy credentials the sandbox accepts; they are not secrets. */
export const SANDBOX_CREDENTIALS = {
  accessKeyId: 'AKIASANDBOXEXAMPLE00',
  secretAccessKey: 'sandbox-secret-key',
};
