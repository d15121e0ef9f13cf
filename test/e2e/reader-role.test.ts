// The reader role through the CLI, against the sandbox's real PostgreSQL: `setup reader-role`
// prints the SQL and applies it with --write; doctor warns while reads run as the superuser and
// passes once the profile names the reader; reads then run as the reader over direct and tunnel,
// while writes still use the main URL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

describe('reader role', () => {
  let sandbox: TestSandbox;
  let readerUrl: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    const url = new URL(sandbox.state.databaseUrl);
    url.username = 'coderdb_reader';
    readerUrl = url.toString();
  }, 240_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  const asReader = { env: { CODERDB_READER_URL: '' } };

  it('prints the SQL, and doctor warns that reads run as a superuser', async () => {
    const printed = await sandbox.run(['setup', 'reader-role']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(
      [
        'CREATE ROLE coderdb_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;',
        'ALTER ROLE coderdb_reader SET default_transaction_read_only = on;',
        'GRANT CONNECT ON DATABASE coder TO coderdb_reader;',
        'GRANT pg_read_all_data TO coderdb_reader;',
        '',
      ].join('\n'),
    );
    const doctor = await sandbox.run(['doctor', '--only', 'reader.role', '--json'], asReader);
    const check = (
      JSON.parse(doctor.stdout) as { checks: { id: string; status: string; finding: string }[] }
    ).checks.find((entry) => entry.id === 'reader.role');
    expect(check).toMatchObject({ status: 'warn' });
    expect(check!.finding).toContain('a superuser');
  });

  it('applies it with --write; reads then run as the reader, writes as the main user', async () => {
    const applied = await sandbox.run(['setup', 'reader-role', '--write', '--yes']);
    expect(applied.code, applied.stderr).toBe(0);
    const env = { env: { CODERDB_READER_URL: readerUrl } };
    const doctor = await sandbox.run(['doctor', '--only', 'reader.role', '--json'], env);
    const check = (
      JSON.parse(doctor.stdout) as { checks: { id: string; status: string; finding: string }[] }
    ).checks.find((entry) => entry.id === 'reader.role');
    expect(check, doctor.stderr).toMatchObject({ status: 'pass' });
    for (const transport of ['direct', 'tunnel']) {
      const who = await sandbox.run(
        ['--transport', transport, 'query', 'select current_user', '--format', 'csv'],
        env,
      );
      expect(who.stdout, who.stderr).toBe('current_user\ncoderdb_reader\n');
    }
    const write = await sandbox.run(
      [
        'query',
        '--write',
        '--yes',
        "update templates set description = 'by the main user' where name = 'docker'",
      ],
      env,
    );
    expect(write.code, write.stderr).toBe(0);
  });
});
