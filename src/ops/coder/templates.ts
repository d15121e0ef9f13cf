// Templates as Coder stores them: rows of `templates` (not the template_with_names view, which
// cannot be written and shows deleted rows), names unique only within an organization, a
// description of at most varchar(128), and an updated_at no trigger maintains.

import { refusedError, usageError } from '../../core/errors.js';
import { quoteLiteral, sql } from '../../sql/literal.js';
import type { Db } from '../db.js';
import { type Context, type ResultSet, withReadSession } from '../db.js';
import { performWrite, type WriteOptions, type WriteOutcome } from '../write/index.js';
import { type CoderSchema, loadCoderSchema } from './schema.js';

export interface TemplateFilter {
  /** Organization name or id. */
  org?: string;
  includeDeleted?: boolean;
}

/** Coder's own way to change a template, which also writes Coder's audit log. */
export const API_PATH_NOTE =
  "note: `coder templates edit NAME --description TEXT` makes this change through Coder's API, which also records it in Coder's own audit log; coderdb writes the database directly and records it in coderdb's audit log";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function templateColumns(schema: CoderSchema, includeDeleted = false): string {
  const optional = (column: string, expression = `t.${column}`) =>
    schema.has('templates', column) ? `${expression} AS ${column}, ` : '';
  return (
    't.id, o.name AS organization, t.name, ' +
    optional('display_name') +
    't.description, ' +
    optional('deprecated', "NULLIF(t.deprecated, '')") +
    '(SELECT count(*) FROM workspaces w WHERE w.template_id = t.id AND NOT w.deleted) AS workspaces, ' +
    't.created_at, t.updated_at' +
    (includeDeleted ? ', t.deleted' : '')
  );
}

function filterClause(filter: TemplateFilter): string {
  const conditions: string[] = [];
  if (!filter.includeDeleted) conditions.push('NOT t.deleted');
  if (filter.org) conditions.push(orgCondition(filter.org));
  return conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
}

function orgCondition(org: string): string {
  return UUID.test(org) ? sql`o.id = ${org}` : sql`lower(o.name) = lower(${org})`;
}

export async function listTemplates(db: Db, filter: TemplateFilter = {}): Promise<ResultSet> {
  const schema = await loadCoderSchema(db);
  return db.all(
    `SELECT ${templateColumns(schema, filter.includeDeleted)}
       FROM templates t JOIN organizations o ON o.id = t.organization_id
       ${filterClause(filter)}
      ORDER BY o.name, t.name, t.created_at`,
    { command: 'templates list' },
  );
}

/** Templates whose name, display name or description contains `text` (case-insensitive). */
export async function searchTemplates(db: Db, text: string, filter: TemplateFilter = {}): Promise<ResultSet> {
  if (!text) throw usageError('templates.empty-search', 'give the text to search for');
  const schema = await loadCoderSchema(db);
  const fields = [
    't.name',
    't.description',
    ...(schema.has('templates', 'display_name') ? ['t.display_name'] : []),
  ];
  const match = fields
    .map((field) => `strpos(lower(${field}), lower(${quoteLiteral(text)})) > 0`)
    .join(' OR ');
  const where = filterClause(filter);
  return db.all(
    `SELECT ${templateColumns(schema, filter.includeDeleted)}
       FROM templates t JOIN organizations o ON o.id = t.organization_id
       ${where ? `${where} AND` : 'WHERE'} (${match})
      ORDER BY o.name, t.name`,
    { command: 'templates search' },
  );
}

export interface TemplateRef {
  id: string;
  name: string;
  organization: string;
  description: string;
}

/** Finds one live template by id or by name, refusing a name that several organizations use. */
export async function resolveTemplate(db: Db, nameOrId: string, org?: string): Promise<TemplateRef> {
  const byId = UUID.test(nameOrId);
  const conditions = [
    'NOT t.deleted',
    byId ? sql`t.id = ${nameOrId}` : sql`lower(t.name) = lower(${nameOrId})`,
  ];
  if (org) conditions.push(orgCondition(org));
  const matches = await db.objects<TemplateRef>(
    `SELECT t.id, t.name, o.name AS organization, t.description
       FROM templates t JOIN organizations o ON o.id = t.organization_id
      WHERE ${conditions.join(' AND ')}
      ORDER BY o.name`,
  );
  if (matches.length === 0) {
    throw usageError(
      'templates.not-found',
      `no template ${byId ? 'with id' : 'named'} "${nameOrId}"${org ? ` in organization "${org}"` : ''}`,
      { hint: 'list them with `coderdb templates list` (deleted templates are not changed)' },
    );
  }
  if (matches.length > 1) {
    const candidates = matches.map((match) => `${match.id} in ${match.organization}`).join(', ');
    throw refusedError(
      'templates.ambiguous',
      `template name "${nameOrId}" is used in ${matches.length} organizations: ${candidates}`,
      {
        hint: 'add --org NAME, or give the template id',
      },
    );
  }
  return matches[0]!;
}

async function descriptionLimit(db: Db): Promise<number | null> {
  const schema = await loadCoderSchema(db);
  return schema.column('templates', 'description')?.maxLength ?? null;
}

function assertFits(text: string, limit: number | null, what: string): void {
  if (limit !== null && [...text].length > limit) {
    throw usageError(
      'templates.description-too-long',
      `${what} is ${[...text].length} characters; templates.description holds at most ${limit} (varchar(${limit}))`,
      { hint: `shorten it to ${limit} characters or fewer; nothing was sent` },
    );
  }
}

export interface DescriptionWriteOptions extends WriteOptions {
  org?: string;
  reason?: string;
}

/** Sets one template's description (and updated_at, which no trigger maintains). */
export async function setTemplateDescription(
  context: Context,
  nameOrId: string,
  description: string,
  options: DescriptionWriteOptions,
): Promise<WriteOutcome & { template: TemplateRef }> {
  const { template, touch } = await withReadSession(context, async (db) => {
    assertFits(description, await descriptionLimit(db), 'the new description');
    const schema = await loadCoderSchema(db);
    return {
      template: await resolveTemplate(db, nameOrId, options.org),
      touch: schema.has('templates', 'updated_at') ? ', updated_at = now()' : '',
    };
  });
  const statement = `UPDATE templates SET description = ${quoteLiteral(description)}${touch} WHERE id = ${quoteLiteral(template.id)} AND NOT deleted`;
  const outcome = await performWrite(
    context,
    {
      command: 'templates set-description',
      sql: statement,
      ...(options.reason ? { reason: options.reason } : {}),
    },
    options,
  );
  return { ...outcome, template };
}

export interface ReplaceOptions extends DescriptionWriteOptions {
  /** Replace only descriptions equal to `from`, instead of every occurrence inside them. */
  exact?: boolean;
  /** Allow a replacement that changes every template (the write path refuses it otherwise). */
  allowAllRows?: boolean;
}

/** Replaces text in template descriptions, e.g. the runbook's "Coder" → "Workbench" rebrand. */
export async function replaceTemplateDescriptions(
  context: Context,
  from: string,
  to: string,
  options: ReplaceOptions,
): Promise<WriteOutcome> {
  if (!from) throw usageError('templates.empty-from', '--from must not be empty');
  const newValue = options.exact
    ? quoteLiteral(to)
    : `replace(description, ${quoteLiteral(from)}, ${quoteLiteral(to)})`;
  const match = options.exact ? sql`description = ${from}` : sql`strpos(description, ${from}) > 0`;
  const orgFilter = options.org
    ? ` AND organization_id IN (SELECT o.id FROM organizations o WHERE ${orgCondition(options.org)})`
    : '';
  const where = `NOT deleted AND ${match}${orgFilter}`;
  const touch = await withReadSession(context, async (db) => {
    const limit = await descriptionLimit(db);
    if (limit !== null) {
      const tooLong = await db.objects<{ name: string; length: number }>(
        `SELECT name, char_length(${newValue}) AS length FROM templates WHERE ${where} AND char_length(${newValue}) > ${limit}`,
      );
      if (tooLong.length) {
        const first = tooLong[0]!;
        assertFits('x'.repeat(first.length), limit, `the new description of template "${first.name}"`);
      }
    }
    const schema = await loadCoderSchema(db);
    return schema.has('templates', 'updated_at') ? ', updated_at = now()' : '';
  });
  const statement = `UPDATE templates SET description = ${newValue}${touch} WHERE ${where}`;
  return performWrite(
    context,
    {
      command: 'templates replace-description',
      sql: statement,
      ...(options.allowAllRows ? { allowAllRows: true } : {}),
      ...(options.reason ? { reason: options.reason } : {}),
    },
    options,
  );
}
