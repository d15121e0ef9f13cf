// `coderdb config show`: every effective value with where it came from, and what the transport
// `auto` will do with this profile and why, decided from the configuration alone (no AWS call).

import { describeProfile, originOf, type Profile, type ProfileField, type ValueOrigin } from './config.js';

export interface ConfigReport {
  profile: string;
  production: boolean;
  values: { field: string; value: unknown; origin: ValueOrigin }[];
  transport: { configured: string; picks: string; why: string };
}

export function configReport(profile: Profile, env: NodeJS.ProcessEnv = process.env): ConfigReport {
  const described = describeProfile(profile);
  const values = Object.entries(described)
    .filter(([field]) => field !== 'name')
    .map(([field, value]) => ({ field, value, origin: originOf(profile, field as ProfileField) }));
  return {
    profile: profile.name,
    production: profile.production,
    values,
    transport: transportChoice(profile, env),
  };
}

function transportChoice(profile: Profile, env: NodeJS.ProcessEnv): ConfigReport['transport'] {
  const configured = profile.transport;
  const origin = originOf(profile, 'transport');
  if (configured !== 'auto') return { configured, picks: configured, why: `set by ${origin}` };
  if (profile.url) {
    return { configured, picks: 'direct', why: `a database URL is given (${originOf(profile, 'url')})` };
  }
  if (env[profile.urlEnv]) {
    return { configured, picks: 'direct', why: `$${profile.urlEnv} is set in this environment` };
  }
  return {
    configured,
    picks: 'tunnel, else exec',
    why: `no URL is given, so the URL comes from secret ${profile.secretId} and the database is reached through the Coder task: port forwarding if ssm:StartSession allows it, otherwise psql in the container`,
  };
}
