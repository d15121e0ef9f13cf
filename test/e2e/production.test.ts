// Knowing where you are: a production profile is never reached by accident through a URL left in
// the environment, its writes need the database name typed, and every command can say where it
// works. Against the sandbox, with a config file whose "prod" profile is marked production.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

let sandbox: TestSandbox;
let env: NodeJS.ProcessEnv;
const DOCKER = "select description from templates where name = 'docker' order by 1";
const UPDATE = "update templates set description = 'prod change' where name = 'docker'";

beforeAll(async () => {
  sandbox = await startSandbox();
  const configDir = join(sandbox.dir, 'config', 'coderdb');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, 'config.json'),
    JSON.stringify({
      profiles: {
        prod: { production: true, url: sandbox.state.databaseUrl },
        'prod-secret': { production: true, awsEndpoint: sandbox.state.awsEndpoint },
      },
    }),
  );
  // No CODERDB_PROFILE: each command names its profile.
  env = { ...sandbox.env, CODERDB_PROFILE: '' };
});
afterAll(async () => {
  await sandbox?.stop();
});

const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  sandbox.run(args, { env: { ...env, ...extra } });

describe('a production profile', () => {
  it('refuses a loopback URL left in the environment, and takes --url from the command line', async () => {
    const leftover = { CODER_PG_CONNECTION_URL: sandbox.state.databaseUrl };
    const refused = await run(['--profile', 'prod-secret', 'tables'], leftover);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(
      'is production, but its database URL comes from $CODER_PG_CONNECTION_URL',
    );
    expect(refused.stderr).toContain('coderdb sandbox env --unset');
    const viaCodderdbUrl = await run(['--profile', 'prod-secret', 'tables'], {
      CODERDB_URL: sandbox.state.databaseUrl,
    });
    expect(viaCodderdbUrl.code).toBe(4);
    const meant = await run(
      ['--profile', 'prod-secret', '--url', sandbox.state.databaseUrl, 'tables'],
      leftover,
    );
    expect(meant.code, meant.stderr).toBe(0);
  });

  it('says so when it takes a URL from the environment', async () => {
    const result = await run(['--profile', 'prod-secret', 'tables'], {
      CODER_PG_CONNECTION_URL: 'postgresql://coder@db.invalid:5432/coder?connect_timeout=2',
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'profile "prod-secret" is production and takes its database URL from $CODER_PG_CONNECTION_URL',
    );
  });

  it('needs the database name typed for a write: --yes alone is not enough', async () => {
    const before = (await run(['--profile', 'prod', 'query', '-o', 'csv', DOCKER])).stdout;
    const yes = await run(['--profile', 'prod', 'query', '--write', '--yes', UPDATE]);
    expect(yes.code).toBe(4);
    expect(yes.stderr).toContain('--yes is not enough on production; add --confirm-production postgres');
    const wrong = await run([
      '--profile',
      'prod',
      'query',
      '--write',
      '--yes',
      '--confirm-production',
      'coder',
      UPDATE,
    ]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('does not name the database "postgres"');
    expect((await run(['--profile', 'prod', 'query', '-o', 'csv', DOCKER])).stdout).toBe(before);
    const named = await run([
      '--profile',
      'prod',
      'query',
      '--write',
      '--confirm-production',
      'postgres',
      UPDATE,
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect((await run(['--profile', 'prod', 'query', '-o', 'csv', DOCKER])).stdout).toContain('prod change');
  });

  it('a profile that is not production still takes --yes', async () => {
    const result = await run(['--profile', 'sandbox', 'query', '--write', '--yes', '--dry-run', UPDATE]);
    expect(result.code, result.stderr).toBe(0);
  });
});

describe('the context line', () => {
  it('names the profile, PRODUCTION, the database, and the transport with -v', async () => {
    const result = await run(['--profile', 'prod', '-v', 'tables']);
    expect(result.code, result.stderr).toBe(0);
    const line = result.stderr.split('\n')[0]!;
    expect(line).toMatch(
      /^prod PRODUCTION · postgres@postgres \(PostgreSQL [\d.]+\) · via direct postgres@127\.0\.0\.1:\d+\/postgres$/,
    );
    const quiet = await run(['--profile', 'prod', 'tables']);
    expect(quiet.stderr).not.toContain('PRODUCTION');
  });
});

describe('config show', () => {
  it('says where each value comes from and what auto will pick, in table and JSON', async () => {
    const json = await run(
      ['--profile', 'prod-secret', '--cluster', 'from-flag', 'config', 'show', '-o', 'json'],
      {
        CODERDB_SERVICE: 'from-env',
      },
    );
    const report = JSON.parse(json.stdout) as {
      production: boolean;
      values: { field: string; value: unknown; origin: string }[];
      transport: { picks: string };
    };
    const origin = (field: string) => report.values.find((entry) => entry.field === field)?.origin;
    expect(report.production).toBe(true);
    expect(origin('cluster')).toBe('flag');
    expect(origin('service')).toBe('env CODERDB_SERVICE');
    expect(origin('production')).toBe('profile');
    expect(origin('region')).toBe('default');
    expect(report.transport.picks).toBe('tunnel, else exec');
    expect(JSON.stringify(report)).not.toContain('sandbox-secret');
    const table = await run(['--profile', 'prod', 'config', 'show']);
    expect(table.stdout).toContain('profile prod (PRODUCTION)');
    expect(table.stdout).toMatch(/transport auto: direct \(a database URL is given \(profile\)\)/);
  });
});
