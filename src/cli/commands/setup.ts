// coderdb setup reader-role: print (or, with --write, apply through the planned and audited write
// path) the SQL that creates the read-only role coderdb's reads can run as.

import type { Command } from 'commander';
import type { Context } from '../../ops/db.js';
import { outputFormat, say, withContext } from '../shared.js';
import { addWriteFlags, reportOutcome, type WriteFlags, writeOptions } from '../write-flow.js';

interface ReaderRoleFlags extends WriteFlags {
  name: string;
  write?: boolean;
}

export function registerSetup(program: Command): void {
  const setup = program.command('setup').description('one-time set-up in the database');
  const reader = setup
    .command('reader-role')
    .description('the SQL for a read-only role that every coderdb read then runs as (--write applies it)')
    .option('--name <role>', 'name of the role', 'coderdb_reader')
    .option('--write', 'apply the SQL (planned, confirmed, audited) instead of printing it');
  addWriteFlags(reader);
  reader.addHelpText(
    'after',
    `
PostgreSQL 14+: GRANT pg_read_all_data (every table, now and later); older servers: USAGE and
SELECT per schema plus default privileges. The role gets default_transaction_read_only = on and no
password: set one with psql's \\password, or GRANT rds_iam for IAM, then add readerUrl (or
readerSecretId, or readerIamUser; readerUrlEnv for --transport exec) to the profile.
Run it as a role that can create roles (RDS: the master user). CREATE ROLE cannot be undone by
coderdb, so --write implies --no-undo; drop the role with DROP ROLE to take it back.`,
  );
  reader.action(async (flags: ReaderRoleFlags, cmd: Command) => {
    const format = outputFormat(cmd);
    const setupModule = await import('../../ops/setup/reader-role.js');
    const name = setupModule.checkRoleName(flags.name);
    await withContext(cmd, async (context) => {
      const { withReadSession } = await import('../../ops/db.js');
      const facts = await withReadSession(asMainUser(context), (db) => setupModule.readerRoleFacts(db, name));
      const sql = setupModule.readerRoleSql(name, facts);
      if (!flags.write) {
        process.stdout.write(sql);
        if (facts.exists) say(`note: role "${name}" exists already; the grants are idempotent`);
        for (const step of setupModule.readerNextSteps(name)) say(`next: ${step}`);
        return;
      }
      const { performWrite } = await import('../../ops/write/index.js');
      const outcome = await performWrite(
        context,
        { command: 'setup reader-role', sql, reason: flags.reason ?? `create read-only role ${name}` },
        { ...writeOptions(flags, format), allowNoUndo: true },
      );
      await reportOutcome(outcome, format);
      if (outcome.applied) for (const step of setupModule.readerNextSteps(name)) say(`next: ${step}`);
    });
  });
}

/** The context with reads as the main user: the reader role may not exist yet. */
function asMainUser(context: Context): Context {
  const { transport } = context;
  return {
    ...context,
    transport: {
      name: transport.name,
      describe: () => transport.describe(),
      open: (options = {}) => transport.open({ ...options, role: 'main' }),
    },
  };
}
