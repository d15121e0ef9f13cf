// Whether reads run as a role that cannot write: the strongest layer there is, because then
// PostgreSQL itself refuses whatever write the other layers missed. Asked of the live database, as
// the role read sessions really use (the profile's reader role, when it has one): is it a
// superuser, can it INSERT/UPDATE/DELETE/TRUNCATE any user table, does it own (or inherit the owner
// of) any. A warning, never a failure: coderdb's own layers still hold without it.

import { hasReader } from '../../../transport/resolve.js';
import type { DbSession } from '../../../transport/types.js';
import type { DoctorContext } from '../context.js';
import { type CheckSpec, pass, warn } from '../types.js';
import { PROBE_TIMEOUT_MS } from './probe.js';

const USER_TABLES = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'`;

export const READER_PRIVILEGES_SQL = `SELECT json_build_object(
  'user', current_user,
  'superuser', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  'writable', (SELECT coalesce(json_agg(n.nspname || '.' || c.relname ORDER BY n.nspname, c.relname), '[]'::json) ${USER_TABLES}
     AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
       OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))),
  'owned', (SELECT count(*) ${USER_TABLES} AND pg_has_role(c.relowner, 'USAGE'))
)::text`;

interface Privileges {
  user: string;
  superuser: boolean;
  writable: string[];
  owned: number;
}

const FIX =
  'create a read-only role with `coderdb setup reader-role` (add --write to apply it), then set readerUrl, readerSecretId or readerIamUser in the profile (readerUrlEnv for --transport exec)';

export const readerCheck: CheckSpec<DoctorContext> = {
  id: 'reader.role',
  title: 'Reads run as a role that cannot write',
  dependsOn: ['probe.select'],
  scope: 'deployment',
  timeoutMs: PROBE_TIMEOUT_MS + 5_000,
  async run(ctx) {
    const session: DbSession = await ctx.transport.open({
      applicationName: 'coderdb doctor',
      role: 'reader',
    });
    let privileges: Privileges | undefined;
    try {
      for await (const event of session.execute(READER_PRIVILEGES_SQL)) {
        if (event.kind === 'rows' && event.rows[0]?.[0]) privileges = JSON.parse(String(event.rows[0][0]));
      }
    } finally {
      await session.close().catch(() => undefined);
    }
    if (!privileges) return warn('the database did not say what the read role may do', FIX);
    const { profile } = ctx;
    const configured = hasReader(profile) || Boolean(profile.readerUrlEnv);
    const notes: string[] = [];
    if (!configured) notes.push('the profile names no reader role, so reads use the main URL');
    if (profile.transport === 'exec' && hasReader(profile) && !profile.readerUrlEnv) {
      notes.push(
        `over exec, reads use the container's $${profile.urlEnv}: set readerUrlEnv to a container variable with the reader's URL`,
      );
    }
    const who = `reads run as "${privileges.user}"`;
    if (privileges.superuser)
      return warn(`${who}, a superuser: nothing in PostgreSQL stops a write`, FIX, notes);
    if (privileges.writable.length > 0 || privileges.owned > 0) {
      const examples = privileges.writable.slice(0, 3).join(', ');
      const parts = [
        privileges.writable.length
          ? `can write ${privileges.writable.length} tables (${examples}${privileges.writable.length > 3 ? ', …' : ''})`
          : '',
        privileges.owned ? `owns ${privileges.owned}` : '',
      ].filter(Boolean);
      return warn(`${who}, which ${parts.join(' and ')}`, FIX, notes);
    }
    return pass(`${who}, which can write no table: PostgreSQL refuses any write a read carries`, notes);
  },
};
