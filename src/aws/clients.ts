// AWS SDK v3 clients, created on first use: importing a client costs tens of milliseconds, so
// commands that never touch AWS never load one. All clients of a run share one credential
// provider, which follows the SDK's default chain (env, SSO, profiles, container, instance) and
// asks for an MFA code on the terminal when a profile requires one.

import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Profile } from '../core/config.js';
import { connectionError } from '../core/errors.js';
import { ask, canPrompt } from '../core/prompt.js';
import { SANDBOX_CREDENTIALS } from '../core/sandbox-state.js';

export interface AwsSettings {
  region: string;
  endpoint?: string;
  credentials: AwsCredentialIdentityProvider;
  maxAttempts: number;
}

const settingsCache = new WeakMap<Profile, AwsSettings>();

export function awsSettings(profile: Profile): AwsSettings {
  let settings = settingsCache.get(profile);
  if (!settings) {
    settings = {
      region: profile.region,
      ...(profile.awsEndpoint ? { endpoint: profile.awsEndpoint } : {}),
      credentials: credentialProvider(profile),
      maxAttempts: 3,
    };
    settingsCache.set(profile, settings);
  }
  return settings;
}

/**
 * Starts resolving the profile's credentials (files, SSO, container or instance endpoint, an MFA
 * prompt) while the SDK clients load: a transport that will call AWS calls this first. The chain
 * keeps what it found for the clients' own calls; a failure is theirs to report.
 */
export function resolveCredentialsEarly(profile: Profile): void {
  awsSettings(profile)
    .credentials()
    .catch(() => undefined);
}

function credentialProvider(profile: Profile): AwsCredentialIdentityProvider {
  if (profile.name === 'sandbox') return async () => SANDBOX_CREDENTIALS;
  let provider: Promise<AwsCredentialIdentityProvider> | undefined;
  return async (options) => {
    provider ??= import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) =>
      defaultProvider({
        ...(profile.awsProfile ? { profile: profile.awsProfile } : {}),
        mfaCodeProvider: askMfaCode,
        // The STS client that assumes roles for the provider must reach the same endpoint.
        ...(profile.awsEndpoint
          ? { clientConfig: { endpoint: profile.awsEndpoint, region: profile.region } }
          : {}),
      }),
    );
    try {
      return await (await provider)(options);
    } catch (error) {
      throw connectionError('aws.credentials', `no usable AWS credentials: ${(error as Error).message}`, {
        hint: 'configure them (aws configure / aws sso login / AWS_PROFILE), or use --url for a direct connection',
      });
    }
  };
}

async function askMfaCode(serial: string): Promise<string> {
  if (!canPrompt()) {
    throw connectionError(
      'aws.mfa-required',
      `the AWS profile requires an MFA code for ${serial} and there is no terminal to ask on`,
      {
        hint: 'run on a terminal, or export temporary credentials (aws sts get-session-token)',
      },
    );
  }
  const code = (await ask(`MFA code for ${serial}: `)).trim();
  if (!/^\d{6}$/.test(code)) throw connectionError('aws.mfa-invalid', 'an MFA code is six digits');
  return code;
}

type ClientModules = {
  ecs: typeof import('@aws-sdk/client-ecs');
  ssm: typeof import('@aws-sdk/client-ssm');
  secrets: typeof import('@aws-sdk/client-secrets-manager');
  kms: typeof import('@aws-sdk/client-kms');
  sts: typeof import('@aws-sdk/client-sts');
  iam: typeof import('@aws-sdk/client-iam');
  rds: typeof import('@aws-sdk/client-rds');
  ec2: typeof import('@aws-sdk/client-ec2');
  logs: typeof import('@aws-sdk/client-cloudwatch-logs');
};

const loaders: { [K in keyof ClientModules]: () => Promise<ClientModules[K]> } = {
  ecs: () => import('@aws-sdk/client-ecs'),
  ssm: () => import('@aws-sdk/client-ssm'),
  secrets: () => import('@aws-sdk/client-secrets-manager'),
  kms: () => import('@aws-sdk/client-kms'),
  sts: () => import('@aws-sdk/client-sts'),
  iam: () => import('@aws-sdk/client-iam'),
  rds: () => import('@aws-sdk/client-rds'),
  ec2: () => import('@aws-sdk/client-ec2'),
  logs: () => import('@aws-sdk/client-cloudwatch-logs'),
};

/** Loads an SDK client module on first use. */
export function awsModule<K extends keyof ClientModules>(name: K): Promise<ClientModules[K]> {
  return loaders[name]();
}
