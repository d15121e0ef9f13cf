// Users and workspaces. Columns are chosen from the live schema; credential columns are never
// selected; soft-deleted rows are left out unless asked for.

import { quoteLiteral, sql } from '../../sql/literal.js';
import type { Db, ResultSet } from '../db.js';
import { type CoderSchema, loadCoderSchema } from './schema.js';

export interface ListOptions {
  includeDeleted?: boolean;
  /** Case-insensitive text that must appear in the name (and e-mail, for users). */
  search?: string;
}

const USER_COLUMNS = [
  'id',
  'username',
  'name',
  'email',
  'status',
  'login_type',
  'rbac_roles',
  'created_at',
  'last_seen_at',
];

function present(schema: CoderSchema, table: string, columns: string[], alias: string): string[] {
  return columns.filter((column) => schema.has(table, column)).map((column) => `${alias}.${column}`);
}

export async function listUsers(db: Db, options: ListOptions = {}): Promise<ResultSet> {
  const schema = await loadCoderSchema(db);
  const columns = present(schema, 'users', USER_COLUMNS, 'u');
  if (options.includeDeleted) columns.push('u.deleted');
  const conditions = options.includeDeleted ? [] : ['NOT u.deleted'];
  if (options.search) {
    const text = quoteLiteral(options.search);
    conditions.push(
      `(strpos(lower(u.username), lower(${text})) > 0 OR strpos(lower(u.email), lower(${text})) > 0)`,
    );
  }
  return db.all(
    `SELECT ${columns.join(', ')} FROM users u
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY u.username`,
    { command: 'users list' },
  );
}

/** Coder's provisioner_jobs.job_status expression, for releases that predate the generated column. */
const DERIVED_JOB_STATUS = `CASE
  WHEN pj.completed_at IS NOT NULL THEN
    CASE WHEN pj.error <> '' THEN 'failed' WHEN pj.canceled_at IS NOT NULL THEN 'canceled' ELSE 'succeeded' END
  WHEN pj.canceled_at IS NOT NULL THEN 'canceling'
  WHEN pj.started_at IS NULL THEN 'pending'
  ELSE 'running' END`;

export interface WorkspaceListOptions extends ListOptions {
  /** Template name or id. */
  template?: string;
  owner?: string;
}

export async function listWorkspaces(db: Db, options: WorkspaceListOptions = {}): Promise<ResultSet> {
  const schema = await loadCoderSchema(db);
  const status = schema.has('provisioner_jobs', 'job_status') ? 'pj.job_status::text' : DERIVED_JOB_STATUS;
  const conditions = options.includeDeleted ? [] : ['NOT w.deleted'];
  if (options.search) conditions.push(sql`strpos(lower(w.name), lower(${options.search})) > 0`);
  if (options.template)
    conditions.push(sql`(t.name = ${options.template} OR t.id::text = ${options.template})`);
  if (options.owner) conditions.push(sql`(u.username = ${options.owner} OR u.id::text = ${options.owner})`);
  const optional = present(schema, 'workspaces', ['last_used_at', 'dormant_at'], 'w');
  return db.all(
    `SELECT w.id, w.name, u.username AS owner, o.name AS organization, t.name AS template,
            lb.transition AS last_transition, lb.status AS last_build_status,
            w.created_at${optional.length ? `, ${optional.join(', ')}` : ''}${options.includeDeleted ? ', w.deleted' : ''}
       FROM workspaces w
       JOIN users u ON u.id = w.owner_id
       JOIN templates t ON t.id = w.template_id
       JOIN organizations o ON o.id = w.organization_id
       LEFT JOIN LATERAL (
         SELECT wb.transition::text AS transition, ${status} AS status
           FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
          WHERE wb.workspace_id = w.id
          ORDER BY wb.build_number DESC LIMIT 1) lb ON true
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY o.name, u.username, w.name`,
    { command: 'workspaces list' },
  );
}

/** Live workspaces per live template (templates with none included), like the runbook's query
 * but without counting deleted workspaces or deleted templates. */
export async function countWorkspaces(db: Db, options: { org?: string } = {}): Promise<ResultSet> {
  const orgFilter = options.org ? sql` AND lower(o.name) = lower(${options.org})` : '';
  return db.all(
    `SELECT o.name AS organization, t.name AS template, count(w.id) AS workspaces
       FROM templates t
       JOIN organizations o ON o.id = t.organization_id
       LEFT JOIN workspaces w ON w.template_id = t.id AND NOT w.deleted
      WHERE NOT t.deleted${orgFilter}
      GROUP BY o.name, t.id, t.name
      ORDER BY count(w.id) DESC, o.name, t.name`,
    { command: 'workspaces count' },
  );
}
