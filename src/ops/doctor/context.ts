// What one doctor run shares between its checks: the profile, the AWS session, the transport it
// will probe, one abort signal that cancels every AWS call still in flight when the run ends, and
// a memo so that a lookup several checks need (the cluster, the task, the secret…) is made once.

import type { AwsSession } from '../../aws/session.js';
import type { Profile, TransportName } from '../../core/config.js';
import type { Transport } from '../../transport/types.js';
import { awsCallFailure } from './aws-failure.js';
import { Facts } from './facts.js';

export interface DoctorInput {
  profile: Profile;
  aws: AwsSession;
  /** The profile's transport, as createTransport built it; the end-to-end probe opens it. */
  transport: Transport;
  env?: NodeJS.ProcessEnv;
}

/** Which ways into the task the profile's transport may use. */
export interface TransportNeeds {
  /** ECS ExecuteCommand (the exec transport, and auto). */
  exec: boolean;
  /** SSM StartSession with the port-forwarding document (the tunnel transport, and auto). */
  tunnel: boolean;
}

export function transportNeeds(transport: TransportName): TransportNeeds {
  return {
    exec: transport === 'exec' || transport === 'auto',
    tunnel: transport === 'tunnel' || transport === 'auto',
  };
}

export class DoctorContext {
  readonly profile: Profile;
  readonly aws: AwsSession;
  readonly transport: Transport;
  readonly env: NodeJS.ProcessEnv;
  /** The transport a command would use: auto with a URL of the profile's own connects directly. */
  readonly effectiveTransport: TransportName;
  readonly needs: TransportNeeds;
  readonly signal: AbortSignal;
  readonly facts: Facts;
  /** The caller's ARN once STS has answered, for naming who needs a permission. */
  callerArn: string | undefined;
  readonly #memo = new Map<string, Promise<unknown>>();

  constructor(input: DoctorInput, signal: AbortSignal) {
    this.profile = input.profile;
    this.aws = input.aws;
    this.transport = input.transport;
    this.env = input.env ?? process.env;
    this.effectiveTransport =
      input.profile.transport === 'auto' && this.hasOwnUrl() ? 'direct' : input.profile.transport;
    this.needs = transportNeeds(this.effectiveTransport);
    this.signal = signal;
    this.facts = new Facts(this);
  }

  get region(): string {
    return this.profile.region;
  }

  get partition(): string {
    if (this.region.startsWith('cn-')) return 'aws-cn';
    if (this.region.startsWith('us-gov-')) return 'aws-us-gov';
    return 'aws';
  }

  /** How the transport is named in findings: `direct`, or `auto (direct here)`. */
  get transportLabel(): string {
    const { transport } = this.profile;
    return transport === this.effectiveTransport
      ? transport
      : `${transport}, which connects ${this.effectiveTransport} here`;
  }

  /** The caller's account once STS has answered, else `*` (for ARNs in suggested statements). */
  get account(): string {
    return /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(this.callerArn ?? '')?.[1] ?? '*';
  }

  /** Whether the profile names a database URL itself (flag, env, profile or the local variable). */
  hasOwnUrl(): boolean {
    return Boolean(this.profile.url || this.env[this.profile.urlEnv]);
  }

  /** `--region us-east-1`, appended to every suggested AWS CLI command. */
  get regionFlag(): string {
    return `--region ${this.region}`;
  }

  /** Runs `load` once per key for the whole run; later callers share the promise. */
  memo<T>(key: string, load: () => Promise<T>): Promise<T> {
    let value = this.#memo.get(key) as Promise<T> | undefined;
    if (!value) {
      value = load();
      // A rejection is observed by whichever check awaits it; this keeps an unawaited one quiet.
      value.catch(() => undefined);
      this.#memo.set(key, value);
    }
    return value;
  }

  /** One AWS API call, cancelled with the run, its failure explained with the fix. */
  async call<T>(action: string, resource: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(this.signal);
    } catch (error) {
      throw awsCallFailure(error, action, resource, this.callerArn);
    }
  }
}
