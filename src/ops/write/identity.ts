// Which database an undo file belongs to. The cluster's system identifier (from pg_control, the same
// for every database of one cluster and its physical replicas, different for any other cluster, a
// restore from a logical dump included) and the database name together name it; the server address
// is kept for people only (it changes with a failover, an endpoint or a transport).

import { refusedError } from '../../core/errors.js';
import type { Db } from '../db.js';

export interface DatabaseIdentity {
  /** pg_control_system().system_identifier as text; null when this role may not read it. */
  systemIdentifier: string | null;
  database: string;
  /** The server's address as the session sees it, for information. */
  host: string | null;
}

export async function readIdentity(db: Db): Promise<DatabaseIdentity> {
  // The CASE keeps the InitPlan from running (and failing) where the function is not granted.
  const [row] = await db.objects<{ id: string | null; database: string; host: string | null }>(
    `SELECT CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')
                 THEN (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) END AS id,
            current_database() AS database, host(inet_server_addr()) AS host`,
  );
  return { systemIdentifier: row?.id ?? null, database: row?.database ?? '', host: row?.host ?? null };
}

/** Why `current` is not the database `recorded` came from, or undefined when it is (or may be). */
export function identityMismatch(
  recorded: Partial<DatabaseIdentity> & { database: string },
  current: DatabaseIdentity,
): string | undefined {
  if (recorded.systemIdentifier && current.systemIdentifier) {
    if (recorded.systemIdentifier !== current.systemIdentifier) {
      return `it was written for database "${recorded.database}" of cluster ${recorded.systemIdentifier}${recorded.host ? ` (${recorded.host})` : ''}, and this is cluster ${current.systemIdentifier}`;
    }
  }
  if (recorded.database !== current.database) {
    return `it was written for database "${recorded.database}", and this is "${current.database}"`;
  }
  return undefined;
}

export function refuseOtherDatabase(
  file: string,
  recorded: Partial<DatabaseIdentity> & { database: string },
  current: DatabaseIdentity,
): void {
  const why = identityMismatch(recorded, current);
  if (!why) return;
  throw refusedError('undo.other-database', `refused to undo ${file}: ${why}`, {
    hint: 'connect to the database the write was made on; --force restores it here anyway',
  });
}
