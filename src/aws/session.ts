// One place per run that hands out AWS clients for the profile's region, endpoint and credentials,
// and remembers the caller's identity for the audit log once it is known.

import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Profile } from '../core/config.js';
import { awsModule, awsSettings } from './clients.js';
import { fromAwsError } from './errors.js';

export class AwsSession {
  #clients = new Map<string, Promise<unknown>>();
  #identity: string | undefined;
  #identityLookup: Promise<string | undefined> | undefined;

  constructor(readonly profile: Profile) {}

  ecs = () =>
    this.#client(
      'ecs',
      async () => new (await awsModule('ecs')).ECSClient(awsSettings(this.profile)),
    ) as Promise<ECSClient>;
  ssm = () =>
    this.#client(
      'ssm',
      async () => new (await awsModule('ssm')).SSMClient(awsSettings(this.profile)),
    ) as Promise<SSMClient>;
  secrets = () =>
    this.#client(
      'secrets',
      async () => new (await awsModule('secrets')).SecretsManagerClient(awsSettings(this.profile)),
    ) as Promise<SecretsManagerClient>;
  kms = () =>
    this.#client(
      'kms',
      async () => new (await awsModule('kms')).KMSClient(awsSettings(this.profile)),
    ) as Promise<KMSClient>;
  sts = () =>
    this.#client(
      'sts',
      async () => new (await awsModule('sts')).STSClient(awsSettings(this.profile)),
    ) as Promise<STSClient>;
  iam = () =>
    this.#client(
      'iam',
      async () => new (await awsModule('iam')).IAMClient(awsSettings(this.profile)),
    ) as Promise<IAMClient>;
  rds = () =>
    this.#client(
      'rds',
      async () => new (await awsModule('rds')).RDSClient(awsSettings(this.profile)),
    ) as Promise<RDSClient>;
  ec2 = () =>
    this.#client(
      'ec2',
      async () => new (await awsModule('ec2')).EC2Client(awsSettings(this.profile)),
    ) as Promise<EC2Client>;
  logs = () =>
    this.#client(
      'logs',
      async () => new (await awsModule('logs')).CloudWatchLogsClient(awsSettings(this.profile)),
    ) as Promise<CloudWatchLogsClient>;

  /**
   * Runs `work` on the event loop's next turn once the ECS client exists, when the requests that
   * waited for it have gone out: a transport loads what it needs later there, while AWS answers.
   */
  whenEcsRequestsSent(work: () => void): void {
    this.ecs()
      .then(() => setImmediate(work))
      .catch(() => undefined);
  }

  /** The caller ARN if it has been looked up; never calls AWS. */
  knownIdentity(): string | undefined {
    return this.#identity;
  }

  /** Looks the caller up once (STS GetCallerIdentity); errors propagate as CoderdbError. */
  identity(): Promise<string | undefined> {
    this.#identityLookup ??= (async () => {
      const { GetCallerIdentityCommand } = await awsModule('sts');
      try {
        const answer = await (await this.sts()).send(new GetCallerIdentityCommand({}));
        this.#identity = answer.Arn;
        return answer.Arn;
      } catch (error) {
        throw fromAwsError(error, 'sts:GetCallerIdentity');
      }
    })();
    return this.#identityLookup;
  }

  /**
   * The identity a warm holder found for the same AWS profile and keys (src/holder/dir.ts keys
   * holders by them): a command through it makes no AWS call of its own, and its audit line still
   * names who ran it.
   */
  adoptIdentity(arn: string): void {
    this.#identity ??= arn;
  }

  /** Looks the identity up in the background, for the audit log; failures are ignored here. */
  noteIdentity(): void {
    this.identity().catch(() => undefined);
  }

  destroy(): void {
    for (const client of this.#clients.values()) {
      client.then((value) => (value as { destroy?: () => void }).destroy?.()).catch(() => undefined);
    }
    this.#clients.clear();
  }

  #client(name: string, create: () => Promise<unknown>): Promise<unknown> {
    let client = this.#clients.get(name);
    if (!client) {
      client = create();
      this.#clients.set(name, client);
    }
    return client;
  }
}
