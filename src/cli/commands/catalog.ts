// coderdb tables, describe TABLE, db size, db connections: psql's \dt and \d and the runbook's
// size and activity queries.

import type { Command } from 'commander';
import { usageError } from '../../core/errors.js';
import type { TableDescription } from '../../ops/catalog.js';
import { outputFormat, say, stdout, withContext } from '../shared.js';

export function registerCatalog(program: Command): void {
  addLimit(program.command('tables'))
    .description('list tables and views, like psql \\dt (with row estimates and sizes)')
    .option('--schema <name>', 'only this schema')
    .option('--no-views', 'tables only')
    .action(async (flags: { schema?: string; views: boolean }, cmd: Command) => {
      await read(cmd, async (db) => {
        const { listTables } = await import('../../ops/catalog.js');
        return listTables(db, {
          ...(flags.schema ? { schema: flags.schema } : {}),
          kinds: flags.views ? ['table', 'view'] : ['table'],
        });
      });
    });

  program
    .command('describe')
    .description('show a table or view, like psql \\d: columns, types, defaults, indexes, constraints')
    .argument('<table>', 'table or view name, optionally schema-qualified')
    .action(async (table: string, _flags: unknown, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { withReadSession } = await import('../../ops/db.js');
        const { describeTable } = await import('../../ops/catalog.js');
        const description = await withReadSession(context, (db) => describeTable(db, table));
        await printDescription(description, format);
      });
    });

  const db = program.command('db').description('database-wide information');
  db.command('size')
    .description('database size and the largest tables')
    .option('--limit <n>', 'how many tables', '10')
    .action(async (flags: { limit: string }, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { withReadSession } = await import('../../ops/db.js');
        const { databaseSize } = await import('../../ops/catalog.js');
        const { printSections } = await import('../render.js');
        const report = await withReadSession(context, (session) =>
          databaseSize(session, Number(flags.limit)),
        );
        await printSections({ database: report.database, tables: report.tables }, format, stdout());
      });
    });
  addLimit(db.command('connections'))
    .description(
      "sessions on the database (active ones; --all for idle too), like the runbook's pg_stat_activity query",
    )
    .option('--all', 'include idle sessions')
    .action(async (flags: { all?: boolean }, cmd: Command) => {
      await read(cmd, async (session) => {
        const { databaseConnections } = await import('../../ops/catalog.js');
        return databaseConnections(session, { all: Boolean(flags.all) });
      });
    });
}

type Reader = (db: import('../../ops/db.js').Db) => Promise<import('../../ops/db.js').ResultSet>;

/** Adds what every command that lists rows takes: `--limit N` and psql's expanded records (`-x`). */
export function addLimit(command: Command): Command {
  return command
    .option('--limit <n>', 'show at most N rows')
    .option('-x, --expanded', "one record per row, `column | value` lines (psql's \\x)");
}

/** The --limit a command was given, checked; undefined for none. */
function limitOf(cmd: Command): number | undefined {
  const given = cmd.opts<{ limit?: string }>().limit;
  if (given === undefined) return undefined;
  const limit = Number(given);
  if (!Number.isInteger(limit) || limit < 1)
    throw usageError('cli.limit', '--limit must be a whole number from 1');
  return limit;
}

/**
 * Runs one read in a read-only session and prints its result in the chosen format, the first
 * --limit rows of it when the command takes one (saying on stderr how many were left out).
 */
export async function read(
  cmd: Command,
  reader: Reader,
  options: { showSecrets?: boolean } = {},
): Promise<void> {
  const format = outputFormat(cmd);
  const limit = limitOf(cmd);
  const expanded = Boolean(cmd.opts<{ expanded?: boolean }>().expanded);
  if (expanded && format !== 'table') {
    throw usageError('cli.expanded', `-x/--expanded is a layout of the table format, not of ${format}`, {
      hint: 'drop -x, or use --format table',
    });
  }
  await withContext(cmd, async (context) => {
    const { withReadSession } = await import('../../ops/db.js');
    const { printResult } = await import('../render.js');
    const result = await withReadSession(context, reader);
    const total = result.rows.length;
    const kept = limit !== undefined && total > limit ? limit : undefined;
    if (kept !== undefined) {
      // What is printed is whole: the rows kept, counted as such.
      result.rows = result.rows.slice(0, kept);
      result.rowCount = kept;
    }
    const { pagedStdout } = await import('../paged-stdout.js');
    const output = await pagedStdout(format);
    try {
      await printResult(result, format, output.sink, { ...options, expanded });
    } finally {
      await output.done();
    }
    if (kept !== undefined) say(`(${kept} of ${total} rows; --limit ${kept})`);
  });
}

/** \d's layout (also the console's \d). */
export async function printDescription(
  description: TableDescription,
  format: import('../../core/output/formats.js').Format,
  sink = stdout(),
) {
  const { printResult, printSections } = await import('../render.js');
  if (format === 'json') {
    const { toObjects } = await import('../../ops/db.js');
    const object = {
      schema: description.schema,
      name: description.name,
      type: description.type,
      ...(description.updatable === undefined ? {} : { updatable: description.updatable }),
      columns: toObjects(description.columns),
      indexes: toObjects(description.indexes),
      constraints: toObjects(description.constraints),
      triggers: toObjects(description.triggers),
      ...(description.viewDefinition ? { definition: description.viewDefinition } : {}),
    };
    await sink.write(`${JSON.stringify(object, null, 2)}\n`);
    return;
  }
  if (format !== 'table') {
    // Catalog facts, not row values: the `secret` column is a flag and stays readable.
    await printResult(description.columns, format, sink, { showSecrets: true });
    return;
  }
  const kind = description.type.charAt(0).toUpperCase() + description.type.slice(1);
  let title = `${kind} "${description.schema}.${description.name}"`;
  if (description.updatable === false) title += ' (read-only view: rows cannot be written through it)';
  await sink.write(`${title}\n`);
  const sections: Record<string, import('../../ops/db.js').ResultSet> = { Columns: description.columns };
  if (description.indexes.rows.length) sections.Indexes = description.indexes;
  if (description.constraints.rows.length) sections.Constraints = description.constraints;
  if (description.triggers.rows.length) sections.Triggers = description.triggers;
  await printSections(sections, format, sink);
  if (description.viewDefinition) await sink.write(`\nView definition:\n${description.viewDefinition}\n`);
}
