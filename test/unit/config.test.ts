import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, describeProfile, loadProfile } from '../../src/core/config.js';
import { CoderdbError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'coderdb-config-'));
// The sandbox profile reads the sandbox's state file; keep a sandbox running on this machine out.
process.env.XDG_STATE_HOME = join(dir, 'state');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(content: unknown): string {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const noEnv = { XDG_STATE_HOME: join(dir, 'state') };

describe('profiles', () => {
  it("defaults to the runbook's values", () => {
    const profile = loadProfile({ configFile: configFile({}), env: noEnv });
    expect(profile).toMatchObject({
      name: 'default',
      region: 'us-east-1',
      cluster: 'coder-cluster',
      service: 'coder-service',
      container: 'coder',
      urlEnv: 'CODER_PG_CONNECTION_URL',
      secretId: 'coder-postgres-url',
      rdsInstance: 'coder-postgres',
      logGroup: '/ecs/coder',
    });
    expect(profile.transport).toBe(DEFAULTS.transport);
  });

  it('layers file ← env ← flags', () => {
    const file = configFile({
      defaultProfile: 'prod',
      profiles: { prod: { cluster: 'file', region: 'eu-west-1' } },
    });
    const fromFile = loadProfile({ configFile: file, env: noEnv });
    expect(fromFile).toMatchObject({ name: 'prod', cluster: 'file', region: 'eu-west-1' });
    const fromEnv = loadProfile({ configFile: file, env: { ...noEnv, CODERDB_CLUSTER: 'env' } });
    expect(fromEnv.cluster).toBe('env');
    const fromFlag = loadProfile({
      configFile: file,
      env: { ...noEnv, CODERDB_CLUSTER: 'env' },
      overrides: { cluster: 'flag', region: undefined },
    });
    expect(fromFlag).toMatchObject({ cluster: 'flag', region: 'eu-west-1' });
  });

  it('refuses unknown profiles, unknown fields, bad values and broken files with usage errors', () => {
    const file = configFile({ profiles: { prod: { clustr: 'x' } } });
    const expectUsage = (run: () => unknown, text: string) => {
      try {
        run();
        throw new Error('expected an error');
      } catch (error) {
        expect(error).toBeInstanceOf(CoderdbError);
        expect((error as CoderdbError).exitCode).toBe(2);
        expect((error as CoderdbError).message).toContain(text);
      }
    };
    expectUsage(
      () => loadProfile({ configFile: file, profile: 'nope', env: noEnv }),
      'no profile named "nope"',
    );
    expectUsage(
      () => loadProfile({ configFile: file, profile: 'prod', env: noEnv }),
      'unknown field "clustr"',
    );
    expectUsage(() => loadProfile({ configFile: configFile('{not json'), env: noEnv }), 'not valid JSON');
    expectUsage(
      () =>
        loadProfile({ configFile: configFile({}), env: { ...noEnv, CODERDB_TRANSPORT: 'carrier-pigeon' } }),
      'unknown transport',
    );
    expectUsage(
      () => loadProfile({ configFile: join(dir, 'missing.json'), env: noEnv }),
      'cannot read config file',
    );
    expectUsage(
      () => loadProfile({ configFile: configFile({}), profile: 'sandbox', env: noEnv }),
      'sandbox is not running',
    );
  });

  it('shows the effective profile without the password', () => {
    const profile = loadProfile({
      configFile: configFile({}),
      env: noEnv,
      overrides: { url: 'postgres://coder:hunter2@db:5432/coder' },
    });
    const shown = JSON.stringify(describeProfile(profile));
    expect(shown).toContain('postgres://coder:***@db:5432/coder');
    expect(shown).not.toContain('hunter2');
  });
});
