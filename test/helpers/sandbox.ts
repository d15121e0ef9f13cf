// A sandbox per test file, started and stopped through the CLI exactly as a user would, in its own
// home so that files running in parallel never share one.

import { SANDBOX_CREDENTIALS, type SandboxState } from '../../src/core/sandbox-state.js';
import { createHome, type Home } from './cli.js';

export interface SandboxOptions {
  engine?: 'pglite' | 'postgres';
  layout?: 'current' | 'legacy';
  scenario?: string;
  scale?: number;
  realisticPacing?: boolean;
  /** A private VPC: no direct path, the sandbox profile names no URL. */
  private?: boolean;
}

export interface TestSandbox extends Home {
  state: SandboxState;
  /** Runs coderdb against the sandbox (--profile sandbox is set through the environment). */
  run: Home['cli'];
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<TestSandbox> {
  const home = createHome({ CODERDB_PROFILE: 'sandbox' });
  const args = ['sandbox', 'start'];
  if (options.engine) args.push('--engine', options.engine);
  if (options.layout) args.push('--layout', options.layout);
  if (options.scenario) args.push('--scenario', options.scenario);
  if (options.scale) args.push('--scale', String(options.scale));
  if (options.realisticPacing) args.push('--realistic-pacing');
  if (options.private) args.push('--private');
  const started = await home.cli(args, { timeoutMs: 180_000 });
  if (started.code !== 0) {
    home.remove();
    throw new Error(`sandbox start failed (${started.code}): ${started.stderr}`);
  }
  const status = await home.cli(['sandbox', 'status', '--format', 'json']);
  const state = JSON.parse(status.stdout) as SandboxState;
  return {
    ...home,
    state,
    run: home.cli,
    async stop() {
      await home.cli(['sandbox', 'stop'], { timeoutMs: 30_000 });
      home.remove();
    },
  };
}

export const ENGINES = ['pglite', 'postgres'] as const;
export const LAYOUTS = ['current', 'legacy'] as const;

/** What an AWS SDK client needs to call the sandbox's endpoint as its operator. */
export function sandboxAwsConfig(state: SandboxState) {
  return {
    region: state.region,
    endpoint: state.awsEndpoint,
    credentials: {
      accessKeyId: SANDBOX_CREDENTIALS.accessKeyId,
      secretAccessKey: SANDBOX_CREDENTIALS.secretAccessKey,
    },
  };
}

/** The sandbox's active SSM sessions (DescribeSessions through the real SDK client); destroy() ends the client. */
export async function ssmSessions(state: SandboxState): Promise<{
  active: () => Promise<Set<string>>;
  destroy: () => void;
}> {
  const { SSMClient, DescribeSessionsCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient(sandboxAwsConfig(state));
  return {
    active: async () =>
      new Set(
        ((await ssm.send(new DescribeSessionsCommand({ State: 'Active' }))).Sessions ?? []).map(
          (session) => session.SessionId as string,
        ),
      ),
    destroy: () => ssm.destroy(),
  };
}
