// The console's backslash commands: psql's habits (\dt, \d, \x, \o, \i, \e …) and Coder
// shortcuts (\templates, \users …). Catalog and Coder commands run the same operations as
// `coderdb tables`, `describe`, `templates list` …, in read-only sessions on the held connection.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoderdbError, ExitCode, usageError } from '../core/errors.js';
import { FORMATS, type Format } from '../core/output/formats.js';
import type { Sink } from '../core/output/sink.js';
import type { Db, ResultSet } from '../ops/db.js';
import { quoteLiteral } from '../sql/literal.js';
import { type Console, ignoreInterrupts } from './console.js';

interface Meta {
  args: string;
  help: string;
  run: (console: Console, args: string[]) => Promise<void>;
}

const META: Record<string, Meta> = {
  '\\q': { args: '', help: 'quit (also Ctrl-D)', run: async (c) => c.quit() },
  '\\?': { args: '', help: 'this help', run: async (c) => void c.options.stdout.write(helpText()) },
  '\\write': {
    args: '',
    help: 'write mode: changes are planned, confirmed y/N, applied with an undo file',
    run: async (c) => c.enterWrite(),
  },
  '\\read': { args: '', help: 'back to read-only (the default)', run: async (c) => c.enterRead() },
  '\\dt': {
    args: '[PATTERN]',
    help: 'tables and views (PATTERN: * and ? wildcards, schema.name)',
    run: (c, [pattern]) => listRelations(c, pattern),
  },
  '\\d': {
    args: '[NAME]',
    help: 'describe a table or view (without NAME: like \\dt)',
    run: async (c, [name]) => (name ? describe(c, name) : listRelations(c, undefined)),
  },
  '\\dn': { args: '', help: 'schemas', run: (c) => sqlRead(c, SCHEMAS_SQL) },
  '\\df': {
    args: '[PATTERN]',
    help: 'functions outside the system schemas',
    run: (c, [pattern]) => sqlRead(c, functionsSql(pattern)),
  },
  '\\x': { args: '[on|off|auto]', help: 'expanded display', run: async (c, [value]) => expanded(c, value) },
  '\\timing': {
    args: '[on|off]',
    help: 'show how long each statement takes',
    run: async (c, [value]) => {
      c.timing = toggle(value, c.timing, '\\timing');
      c.say(`Timing is ${c.timing ? 'on' : 'off'}.`);
    },
  },
  '\\format': {
    args: 'table|json|csv|ndjson',
    help: 'output format',
    run: async (c, [value]) => {
      if (!value || !(FORMATS as readonly string[]).includes(value)) {
        throw usageError('console.format', `\\format takes one of ${FORMATS.join(', ')}`);
      }
      c.format = value as Format;
      c.say(`Output format is ${value}.`);
    },
  },
  '\\pset': {
    args: 'pager on|off | format F',
    help: 'psql display settings: the pager, the format',
    run: async (c, [name, value]) => {
      if (name === 'pager') {
        c.pager = toggle(value, c.pager, '\\pset pager');
        c.say(`Pager usage is ${c.pager ? 'on' : 'off'}.`);
      } else if (name === 'format') {
        await META['\\format']!.run(c, value ? [value] : []);
      } else if (name === 'expanded' || name === 'x') {
        await expanded(c, value);
      } else {
        throw usageError(
          'console.pset',
          `\\pset ${name ?? ''}: only pager, format and expanded are supported`,
        );
      }
    },
  },
  '\\o': {
    args: '[FILE]',
    help: 'send results to a local file (\\o alone: back to the terminal)',
    run: async (c, [file]) => c.setOutput(file),
  },
  '\\i': { args: 'FILE', help: 'run the statements of a local file', run: (c, [file]) => include(c, file) },
  '\\e': { args: '', help: 'edit the last statement in $EDITOR, then run it', run: (c) => edit(c) },
  '\\conninfo': { args: '', help: 'where the console is connected (no password)', run: (c) => conninfo(c) },
  '\\templates': {
    args: '[TEXT]',
    help: 'live templates (matching TEXT) with organization and workspace count',
    run: (c, words) =>
      catalogRead(c, async (db) => {
        const { listTemplates, searchTemplates } = await import('../ops/coder/templates.js');
        const text = words.join(' ');
        return text ? searchTemplates(db, text) : listTemplates(db);
      }),
  },
  '\\users': {
    args: '',
    help: 'users, without credentials',
    run: (c) => catalogRead(c, async (db) => (await import('../ops/coder/people.js')).listUsers(db)),
  },
  '\\workspaces': {
    args: '',
    help: 'workspaces with owner, template and last build status',
    run: (c) => catalogRead(c, async (db) => (await import('../ops/coder/people.js')).listWorkspaces(db)),
  },
  '\\size': {
    args: '',
    help: 'database size and the largest tables',
    run: async (c) => {
      const { withReadSession } = await import('../ops/db.js');
      const { databaseSize } = await import('../ops/catalog.js');
      const { printSections } = await import('../cli/render.js');
      const report = await withReadSession(c.context, (db) => databaseSize(db));
      await toResult(c, (sink) =>
        printSections({ database: report.database, tables: report.tables }, c.format, sink),
      );
    },
  },
  '\\connections': {
    args: '',
    help: 'active sessions on the database (pg_stat_activity)',
    run: (c) =>
      catalogRead(c, async (db) =>
        (await import('../ops/catalog.js')).databaseConnections(db, { all: false }),
      ),
  },
  '\\audit': { args: '', help: "this console session's audit log", run: (c) => auditTrail(c) },
};

export const META_COMMANDS = Object.keys(META);

/** Runs one backslash command line. */
export async function runMeta(console: Console, line: string): Promise<void> {
  const [name = '', ...args] = line.split(/\s+/).filter(Boolean);
  const meta = META[name] ?? (name === '\\quit' ? META['\\q'] : undefined);
  if (!meta) {
    throw usageError('console.meta', `invalid command ${name}`, { hint: 'try \\? for help' });
  }
  await meta.run(console, args);
}

function helpText(): string {
  const width = Math.max(...Object.entries(META).map(([name, meta]) => name.length + meta.args.length + 1));
  const lines = Object.entries(META).map(
    ([name, meta]) => `  ${`${name} ${meta.args}`.padEnd(width + 1)} ${meta.help}`,
  );
  return `${[
    'Statements end with ; and may span lines. Ctrl-C cancels the running statement, Ctrl-R searches',
    'the history, Tab completes. Read-only unless \\write.',
    '',
    ...lines,
  ].join('\n')}\n`;
}

function toggle(value: string | undefined, current: boolean, name: string): boolean {
  if (value === undefined) return !current;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw usageError('console.toggle', `${name} takes on or off`);
}

async function expanded(c: Console, value: string | undefined): Promise<void> {
  if (value === undefined) c.expanded = c.expanded === 'on' ? 'off' : 'on';
  else if (value === 'on' || value === 'off' || value === 'auto') c.expanded = value;
  else throw usageError('console.expanded', '\\x takes on, off or auto');
  c.say(`Expanded display is ${c.expanded === 'auto' ? 'used automatically' : c.expanded}.`);
}

/** A result set from an operation, printed where results go (pager, \o file, stdout). */
async function catalogRead(c: Console, reader: (db: Db) => Promise<ResultSet>): Promise<void> {
  const { withReadSession } = await import('../ops/db.js');
  const { printResult } = await import('../cli/render.js');
  const result = await withReadSession(c.context, reader);
  await toResult(c, (sink) => printResult(result, c.format, sink, { showSecrets: c.options.showSecrets }));
}

async function toResult(c: Console, print: (sink: Sink) => Promise<void>): Promise<void> {
  const target = c.resultSink();
  try {
    await print(target.sink);
  } finally {
    await target.done();
  }
}

/** SQL of coderdb's own, through the same guarded read path as what the operator types. */
async function sqlRead(c: Console, sql: string): Promise<void> {
  const { runReadQuery } = await import('../ops/query.js');
  await toResult(c, (sink) =>
    runReadQuery(c.context, sql, c.writer(sink), { showSecrets: c.options.showSecrets, command: 'console' }),
  );
}

async function listRelations(c: Console, pattern: string | undefined): Promise<void> {
  await catalogRead(c, async (db) => {
    const { listTables } = await import('../ops/catalog.js');
    const dot = pattern?.indexOf('.') ?? -1;
    const schema = pattern && dot >= 0 ? pattern.slice(0, dot) : undefined;
    const name = pattern && dot >= 0 ? pattern.slice(dot + 1) : pattern;
    const result = await listTables(db, schema && !/[*?]/.test(schema) ? { schema } : {});
    if (!name) return result;
    const matches = wildcard(name);
    const column = result.fields.findIndex((field) => field.name === 'name');
    return { ...result, rows: result.rows.filter((row) => matches(row[column] ?? '')) };
  });
}

/** psql's pattern: `*` any text, `?` one character, otherwise exact (case-folded unless quoted). */
function wildcard(pattern: string): (name: string) => boolean {
  const quoted = pattern.startsWith('"') && pattern.endsWith('"');
  const text = quoted ? pattern.slice(1, -1) : pattern.toLowerCase();
  return (name) => {
    // Classic glob matching by dynamic programming: no regular expression built from input.
    const matches: boolean[] = new Array(name.length + 1).fill(false);
    matches[0] = true;
    for (const char of text) {
      if (char === '*') {
        for (let i = 1; i <= name.length; i++) matches[i] = matches[i]! || matches[i - 1]!;
      } else {
        for (let i = name.length; i >= 1; i--)
          matches[i] = matches[i - 1]! && (char === '?' || name[i - 1] === char);
        matches[0] = false;
      }
    }
    return matches[name.length]!;
  };
}

async function describe(c: Console, name: string): Promise<void> {
  const { withReadSession } = await import('../ops/db.js');
  const { describeTable } = await import('../ops/catalog.js');
  const { printDescription } = await import('../cli/commands/catalog.js');
  const description = await withReadSession(c.context, (db) => describeTable(db, name));
  await toResult(c, (sink) => printDescription(description, c.format, sink));
}

const SCHEMAS_SQL = `SELECT n.nspname AS "Name", pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
 ORDER BY 1`;

function functionsSql(pattern: string | undefined): string {
  const filter = pattern
    ? `AND p.proname LIKE ${quoteLiteral(pattern.replace(/\*/g, '%').replace(/\?/g, '_'))}`
    : '';
  return `SELECT n.nspname AS "Schema", p.proname AS "Name",
       pg_catalog.pg_get_function_result(p.oid) AS "Result data type",
       pg_catalog.pg_get_function_arguments(p.oid) AS "Argument data types",
       CASE p.prokind WHEN 'a' THEN 'agg' WHEN 'w' THEN 'window' WHEN 'p' THEN 'proc' ELSE 'func' END AS "Type"
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ${filter}
 ORDER BY 1, 2, 4`;
}

async function include(c: Console, file: string | undefined): Promise<void> {
  if (!file) throw usageError('console.include', '\\i needs a file name');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(
      'console.include',
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  await feed(c, text);
}

/** Runs text as if typed, line by line; stops at the first failure (it was reported). */
async function feed(c: Console, text: string): Promise<void> {
  for (const line of text.split('\n')) {
    if (c.quitting) return;
    const status = await c.line(line);
    if (status !== 0) {
      // Stopped with the failure's own status (it was reported where it happened).
      const kind = (Object.keys(ExitCode) as (keyof typeof ExitCode)[]).find(
        (name) => ExitCode[name] === status,
      );
      throw new CoderdbError(
        kind && kind !== 'ok' ? kind : 'sql',
        'console.stopped',
        'stopped at the first failure',
      );
    }
  }
}

async function edit(c: Console): Promise<void> {
  const terminal = c.options.terminal;
  if (!terminal) throw usageError('console.edit', '\\e needs a terminal');
  const directory = mkdtempSync(join(tmpdir(), 'coderdb-edit-'));
  const file = join(directory, 'statement.sql');
  try {
    writeFileSync(file, `${c.buffer.trim() || c.lastStatement}\n`, { mode: 0o600 });
    c.buffer = '';
    const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
    terminal.suspend();
    ignoreInterrupts(true);
    try {
      spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'sh', file], { stdio: 'inherit' });
    } finally {
      ignoreInterrupts(false);
      terminal.resume();
    }
    const text = readFileSync(file, 'utf8').trim();
    if (text) await feed(c, text);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

async function conninfo(c: Console): Promise<void> {
  const server = await c.options.held.server();
  c.options.stdout.write(
    `You are connected to database "${server.database}" as user "${server.user}" over ${c.options.held.transportName}` +
      ` (${c.context.transport.describe()}), profile ${c.context.profile.name}, PostgreSQL ${server.version}.\n` +
      `Console session ${c.sessionId} (coderdb audit --session ${c.sessionId}).\n`,
  );
}

async function auditTrail(c: Console): Promise<void> {
  const entries = c.context.audit.read().filter((entry) => entry.session === c.sessionId);
  const columns = ['time', 'outcome', 'rows', 'durationMs', 'statement'] as const;
  const text = { name: 'text', kind: 'text', array: false } as const;
  const result: ResultSet = {
    fields: columns.map((name) => ({ name, type: text })),
    rows: entries.map((entry) =>
      columns.map((column) => {
        const value = entry[column];
        if (value === undefined || value === null) return null;
        const shown = String(value);
        return column === 'statement' && shown.length > 80 ? `${shown.slice(0, 79)}…` : shown;
      }),
    ),
    command: 'SELECT',
    rowCount: entries.length,
  };
  const { printResult } = await import('../cli/render.js');
  await toResult(c, (sink) => printResult(result, c.format, sink, { showSecrets: true }));
}
