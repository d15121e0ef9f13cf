// Shared set-up for the emulated-AWS tests: an endpoint on 127.0.0.1 with a fake session broker
// that records what it was asked, and the client configuration the real SDK v3 clients need.

import { type AwsEndpoint, startAwsEndpoint } from '../../../sandbox/aws/server.js';
import type { SessionBroker, SessionGrant, SessionRequest } from '../../../sandbox/session-broker.js';

export const DATABASE_URL = 'postgres://coder:s3cret-Pa55@127.0.0.1:54329/coder?sslmode=disable';

export const CREDENTIALS = { accessKeyId: 'AKIASANDBOXEXAMPLE00', secretAccessKey: 'sandbox-secret-key' };

/** Returns fixed grants and records every call. */
export class FakeBroker implements SessionBroker {
  readonly opened: SessionRequest[] = [];
  readonly resumed: string[] = [];
  readonly terminated: string[] = [];
  readonly live = new Set<string>();
  #next = 0;

  #grant(sessionId: string): SessionGrant {
    this.#next += 1;
    return {
      sessionId,
      tokenValue: `token-${this.#next}`,
      streamUrl: `ws://127.0.0.1:9/v1/data-channel/${sessionId}?role=publish_subscribe`,
    };
  }

  open(request: SessionRequest): SessionGrant {
    this.opened.push(request);
    const id = request.kind === 'exec' ? `ecs-execute-command-${this.#next}` : `operator-${this.#next}`;
    this.live.add(id);
    return this.#grant(id);
  }

  resume(sessionId: string): SessionGrant | undefined {
    this.resumed.push(sessionId);
    return this.live.has(sessionId) ? this.#grant(sessionId) : undefined;
  }

  terminate(sessionId: string): boolean {
    this.terminated.push(sessionId);
    return this.live.delete(sessionId);
  }
}

export interface TestEndpoint {
  endpoint: AwsEndpoint;
  broker: FakeBroker;
  /** Configuration for any SDK v3 client. */
  config: {
    endpoint: string;
    region: string;
    credentials: typeof CREDENTIALS;
    maxAttempts: number;
    requestHandler: { connectionTimeout: number; requestTimeout: number };
  };
}

export async function startTestEndpoint(
  extra: Partial<Parameters<typeof startAwsEndpoint>[0]> = {},
): Promise<TestEndpoint> {
  const broker = new FakeBroker();
  const endpoint = await startAwsEndpoint({ databaseUrl: DATABASE_URL, broker, ...extra });
  return {
    endpoint,
    broker,
    config: {
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: CREDENTIALS,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
    },
  };
}

/** The rejection of a promise, for asserting on error names and messages. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to fail');
}
