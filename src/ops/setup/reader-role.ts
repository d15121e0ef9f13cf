// `coderdb setup reader-role`: the SQL that creates the read-only database role coderdb's reads can
// run as (profile readerUrl / readerSecretId / readerIamUser). With it, PostgreSQL itself refuses a
// write that every other layer missed. On PostgreSQL 14+ the predefined role pg_read_all_data reads
// every table, present and future; before 14, grants per schema and default privileges do.
// No password is made or shown: the operator sets one (psql's \password) or uses RDS IAM.

import { usageError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../sql/literal.js';
import type { Db } from '../db.js';

export const DEFAULT_READER = 'coderdb_reader';

export interface ReaderRoleFacts {
  versionNum: number;
  database: string;
  /** User schemas (not pg_catalog, information_schema, pg_toast …). */
  schemas: string[];
  /** Whether a role of that name exists already. */
  exists: boolean;
}

/** Refuses names PostgreSQL would fold or that collide with predefined roles. */
export function checkRoleName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name.startsWith('pg_')) {
    throw usageError('setup.role-name', `"${name}" is not a usable role name`, {
      hint: 'use lower-case letters, digits and _ (not starting with pg_), e.g. coderdb_reader',
    });
  }
  return name;
}

export async function readerRoleFacts(db: Db, name: string): Promise<ReaderRoleFacts> {
  const [facts] = await db.objects<{
    versionNum: number;
    database: string;
    schemas: string[];
    exists: boolean;
  }>(
    `SELECT current_setting('server_version_num')::int AS "versionNum", current_database() AS database,
       ARRAY(SELECT nspname::text FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp)'
              ORDER BY nspname) AS schemas,
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(name)}) AS exists`,
  );
  if (!facts) throw usageError('setup.no-facts', 'the database did not describe itself');
  return facts;
}

/** The statements, one per line, that make `name` a login role that can read and never write. */
export function readerRoleSql(name: string, facts: ReaderRoleFacts): string {
  const role = quoteIdent(checkRoleName(name));
  const lines: string[] = [];
  if (!facts.exists) lines.push(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;`);
  // Even a grant made by mistake later cannot make its sessions write without a SET first.
  lines.push(`ALTER ROLE ${role} SET default_transaction_read_only = on;`);
  lines.push(`GRANT CONNECT ON DATABASE ${quoteIdent(facts.database)} TO ${role};`);
  if (facts.versionNum >= 140_000) {
    lines.push(`GRANT pg_read_all_data TO ${role};`);
  } else {
    for (const schema of facts.schemas) {
      const quoted = quoteIdent(schema);
      lines.push(
        `GRANT USAGE ON SCHEMA ${quoted} TO ${role};`,
        `GRANT SELECT ON ALL TABLES IN SCHEMA ${quoted} TO ${role};`,
        `GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${quoted} TO ${role};`,
        // Tables the role running this creates later (Coder's migrations, when it is Coder's user).
        `ALTER DEFAULT PRIVILEGES IN SCHEMA ${quoted} GRANT SELECT ON TABLES TO ${role};`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What to do after the role exists: a password or IAM, then the profile. */
export function readerNextSteps(name: string): string[] {
  return [
    `set a password: psql -c '\\password ${name}' (as the database owner), or for RDS IAM: GRANT rds_iam TO ${name};`,
    `then add to the profile: "readerUrl": "postgresql://${name}@HOST/DB" (or "readerSecretId": "SECRET", or "readerIamUser": "${name}" with IAM), and for --transport exec "readerUrlEnv": "VAR" naming a container variable with that URL`,
    'check it: coderdb doctor --only reader.role',
  ];
}
