// Differential tests of `coderdb query` against psql, the reference: the same SQL on the same
// database, run by the system's psql 15 and by the built CLI over a transport, compared byte for
// byte for CSV and value by value (decoded from psql's own output) for json, ndjson and table.
// Nothing here is an expected output written by hand.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { ENGINES, startSandbox, type TestSandbox } from '../helpers/sandbox.js';

/** What coderdb sets in every session (src/transport/direct.ts SESSION_SETUP); psql gets the same. */
const PSQL_SETTINGS = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'";
/** What psql prints for NULL when values are compared, to tell NULL from ''. */
const NULL_MARKER = 'NULL-7f3a9c';

export const FORMATS = ['csv', 'json', 'ndjson', 'table'] as const;
export type Format = (typeof FORMATS)[number];

export interface Output {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program, collecting stdout as bytes; every run is bounded. */
function spawnBytes(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: ConsumerOptions = {},
): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${args.slice(0, 6).join(' ')} did not finish within ${options.timeoutMs ?? 180_000} ms`),
      );
    }, options.timeoutMs ?? 180_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      size += chunk.length;
      // A reader that closes the pipe early, as `| head -c N` does.
      if (options.headBytes !== undefined && size >= options.headBytes) child.stdout.destroy();
    });
    if (options.slowStartMs) {
      // A consumer that reads nothing for a while (`| (sleep 5; cat)`): the pipe fills and stays full.
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), options.slowStartMs);
    }
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

export interface ConsumerOptions {
  /** Read nothing for this long first. */
  slowStartMs?: number;
  /** Close stdout after this many bytes. */
  headBytes?: number;
  timeoutMs?: number;
}

/** `coderdb --transport T query SQL -o FORMAT` against the sandbox. */
export function coderdb(
  sandbox: TestSandbox,
  transport: string,
  sql: string,
  format: Format,
  options: ConsumerOptions = {},
): Promise<Output> {
  return spawnBytes(
    process.execPath,
    [CLI, '--transport', transport, 'query', sql, '--format', format],
    sandbox.env,
    options,
  );
}

/** `psql --csv -q` with coderdb's session settings; `-P null=…` when values are to be decoded. */
export async function psqlCsv(sandbox: TestSandbox, sql: string, markNulls = false): Promise<Buffer> {
  const args = ['-X', '-q', '--csv', '-v', 'ON_ERROR_STOP=1', '-d', sandbox.state.databaseUrl];
  if (markNulls) args.push('-P', `null=${NULL_MARKER}`);
  const out = await spawnBytes('psql', [...args, '-c', PSQL_SETTINGS, '-c', sql], { PATH: process.env.PATH });
  if (out.code !== 0) throw new Error(`psql failed (${out.code}): ${out.stderr}`);
  return out.stdout;
}

/** The result's column types, from a temporary view of the query (PGlite has no \\gdesc). */
export async function psqlTypes(sandbox: TestSandbox, sql: string): Promise<string[]> {
  const view = `coderdb_differential_${process.pid}_${Math.random().toString(36).slice(2)}`;
  const out = await spawnBytes(
    'psql',
    [
      ...['-X', '-q', '--csv', '-v', 'ON_ERROR_STOP=1', '-d', sandbox.state.databaseUrl],
      ...['-c', `create temp view ${view} as ${sql}`],
      ...[
        '-c',
        `select format_type(atttypid, atttypmod) from pg_attribute where attrelid = '${view}'::regclass and attnum > 0 order by attnum`,
      ],
      ...['-c', `drop view ${view}`],
    ],
    { PATH: process.env.PATH },
  );
  if (out.code !== 0) throw new Error(`psql could not describe the query: ${out.stderr}`);
  return parseCsv(out.stdout.toString('utf8'))
    .slice(1)
    .map((record) => record[0] ?? 'text');
}

export const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

/** RFC 4180 as psql writes it, for decoding the reference. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (char === '"') quoted = false;
      else field += char;
      i += 1;
      continue;
    }
    if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += char;
    i += 1;
  }
  return records;
}

// ── the corpus ─────────────────────────────────────────────────────────────────────────────────

const TYPES_COLUMNS = [
  'id',
  'i2',
  'i4',
  'i8',
  'unsafe',
  'num',
  'nan',
  'tiny',
  'f8',
  'negzero',
  'inf',
  'f4',
  'b',
  'empty',
  'quoted',
  'lines',
  'utf8',
  'eod',
  'tstz',
  'ts',
  'tsinf',
  'd',
  'iv',
  'by',
  'ia',
  'ta',
  'j',
  'jb',
  'rng',
  'en',
  'u',
  'nul',
];

/** Every common type with its edge cases, a row of NULLs, and a second row of other edges. */
const TYPES_SQL = `select * from (values
  (1, 0::int2, (-2147483648)::int4, 9223372036854775807::int8, 9007199254740993::int8, 1.50::numeric,
   'NaN'::numeric, -0.000000000000000000001::numeric, 1e100::float8, '-0'::float8, 'Infinity'::float8,
   1.1::float4, true, ''::text, 'a "quoted", comma'::text, E'line\\nbreak\\r\\nend'::text,
   'ünïcødé 日本語 🎉 \u00a0'::text, '\\.'::text, '2024-05-01 12:00:00.123456+02'::timestamptz,
   '2024-05-01 12:00:00'::timestamp, 'infinity'::timestamptz, '0044-03-15 BC'::date,
   '1 year 2 mons 3 days 04:05:06.789'::interval, '\\x00ff0a22'::bytea, array[1, null, 3]::int[],
   array['a b', '"q"', null, '', 'NULL', 'x,y']::text[], '{"a": [1, 2.50, "x"], "b": null}'::json,
   '{"b": 1, "a": "é\\n"}'::jsonb, '[1,5)'::int4range, (enum_range(null::automatic_updates))[1],
   '00000000-0000-0000-0000-000000000001'::uuid, null::text),
  (2, ${Array.from({ length: TYPES_COLUMNS.length - 1 }, () => 'null').join(', ')}),
  (3, -32768, 2147483647, -9223372036854775808, 42, 123456789012345678901234567890.123,
   '-1.5', 0.1, 2.2250738585072014e-308, 0.1, '-Infinity', 'NaN', false, ' ', '"', E'\\r',
   '\\', 'a\\.', '1999-12-31 23:59:59.999999-08', '0001-01-01 00:00:00', '-infinity', 'infinity',
   '-1 days -00:00:01', '\\x', '{}', '{}', '"just a string"', '[]', 'empty', null, null, '')
) as t(${TYPES_COLUMNS.join(', ')})`;

export interface Case {
  name: string;
  sql: string;
}

/** Mixed values in every row: NULL, '', a CSV-special string, `\.`, multi-byte UTF-8. */
export function sizeSql(rows: number): string {
  return `select g, md5(g::text) as h, case g % 5 when 0 then '' when 1 then null when 2 then E'x,\\n"y"' when 3 then '\\.' else 'é€😀' end as v from generate_series(1, ${rows}) g`;
}

export const CORPUS: Case[] = [
  { name: 'every common type', sql: TYPES_SQL },
  { name: 'no rows', sql: 'select 1 as a, null::text as b where false' },
  { name: 'no columns', sql: 'select from generate_series(1, 3)' },
  { name: 'one row', sql: sizeSql(1) },
  { name: '1,000 rows', sql: sizeSql(1000) },
  {
    name: 'very wide rows',
    sql: "select g, repeat('w', 200000) as wide, repeat('é\"', 40000) as mb from generate_series(1, 12) g",
  },
  // Columns named key and value take the redacting path: CSV formatted here, not by COPY.
  {
    name: 'client-side csv',
    sql: "select g::text as key, case g % 3 when 0 then '' when 1 then null else E'v,\\n\\\\.' end as value from generate_series(1, 2000) g",
  },
];

// ── comparing ──────────────────────────────────────────────────────────────────────────────────

const isCommand = (sql: string) => /^\s*set /i.test(sql);

/** What `query` printed for several statements, against psql statement by statement. */
export async function expectSeveralAsPsql(
  sandbox: TestSandbox,
  output: Output,
  statements: string[],
  format: Format,
): Promise<void> {
  expect(output.stderr).toBe('');
  expect(output.code).toBe(0);
  if (format === 'csv') {
    // psql -q prints the results one after the other, and nothing for a command.
    await expectSameAsPsql(sandbox, output, statements.join(';\n'), 'csv');
    return;
  }
  const text = output.stdout.toString('utf8');
  const asOutput = (stdout: string): Output => ({ code: 0, stderr: '', stdout: Buffer.from(stdout) });
  const results = statements.filter((sql) => !isCommand(sql));
  let parts: string[];
  if (format === 'json') {
    const document = JSON.parse(text) as { statement: number; command: string; rows?: unknown[] }[];
    expect(document.map((entry) => entry.statement)).toEqual(statements.map((_, index) => index + 1));
    parts = document.filter((entry) => entry.rows).map((entry) => JSON.stringify(entry.rows));
  } else if (format === 'ndjson') {
    const lines = text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { statement: number; row: unknown });
    parts = statements
      .map((_, index) =>
        lines
          .filter((line) => line.statement === index + 1)
          .map((line) => `${JSON.stringify(line.row)}\n`)
          .join(''),
      )
      .filter((_, index) => !isCommand(statements[index]!));
  } else {
    // Table results end with their count line; a command prints its tag alone.
    parts = [];
    let current: string[] = [];
    for (const line of text.split('\n')) {
      if (current.length === 0 && (line === '' || /^[A-Z]+$/.test(line))) continue;
      current.push(line);
      if (/^\(\d+ rows?\)$/.test(line)) {
        parts.push(`${current.join('\n')}\n`);
        current = [];
      }
    }
  }
  expect(parts.length).toBe(results.length);
  for (const [index, sql] of results.entries()) {
    await expectSameAsPsql(sandbox, asOutput(parts[index]!), sql, format);
  }
}

/** Compares coderdb's output in `format` with psql's for the same SQL (one statement). */
export async function expectSameAsPsql(
  sandbox: TestSandbox,
  output: Output,
  sql: string,
  format: Format,
  reference?: { csv?: Buffer },
): Promise<void> {
  expect(output.stderr).toBe('');
  expect(output.code).toBe(0);
  if (format === 'csv') {
    const csv = reference?.csv ?? (await psqlCsv(sandbox, sql));
    // md5 first: a 100 MB diff helps nobody; the first differing line does.
    if (md5(output.stdout) !== md5(csv)) {
      const ours = output.stdout.toString('utf8').split('\n');
      const theirs = csv.toString('utf8').split('\n');
      const line = ours.findIndex((text, i) => text !== theirs[i]);
      expect({ lines: ours.length, line, text: ours[line]?.slice(0, 200) }).toEqual({
        lines: theirs.length,
        line,
        text: theirs[line]?.slice(0, 200),
      });
    }
    return;
  }
  const records = parseCsv((await psqlCsv(sandbox, sql, true)).toString('utf8'));
  const [first = [], ...rows] = records;
  // psql prints an empty header line for a result without columns.
  const header = first.length === 1 && first[0] === '' ? [] : first;
  const types = header.length > 0 ? await psqlTypes(sandbox, sql) : [];
  const text = output.stdout.toString('utf8');
  if (format === 'table') {
    expectTable(text, header, rows);
    return;
  }
  const objects =
    format === 'json'
      ? (JSON.parse(text) as Record<string, unknown>[])
      : text
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
  // psql prints no rows for a result without columns.
  if (header.length === 0) return;
  expect(objects.length).toBe(rows.length);
  objects.forEach((object, index) => {
    expect(Object.keys(object)).toEqual(header);
    header.forEach((name, column) => {
      expectValue(object[name], rows[index]![column]!, types[column] ?? 'text', `row ${index + 1} ${name}`);
    });
  });
}

/** A JSON value against psql's text for it, by the column's type. */
function expectValue(value: unknown, text: string, type: string, where: string): void {
  if (text === NULL_MARKER) {
    expect(value, where).toBeNull();
    return;
  }
  if (type.endsWith('[]')) {
    expect(Array.isArray(value), where).toBe(true);
    const items = parseArrayLiteral(text);
    expect((value as unknown[]).length, where).toBe(items.length);
    items.forEach((item, i) => {
      expectValue((value as unknown[])[i], item ?? NULL_MARKER, type.slice(0, -2), `${where}[${i}]`);
    });
    return;
  }
  if (type === 'boolean') {
    expect(value, where).toBe(text === 't');
    return;
  }
  if (type === 'json' || type === 'jsonb') {
    expect(value, where).toEqual(JSON.parse(text));
    return;
  }
  if (/^(smallint|integer|bigint|numeric|real|double precision)/.test(type) && typeof value === 'number') {
    // JSON has no -0; any other number must be psql's exactly.
    expect(value === Number(text), `${where}: ${value} for ${text}`).toBe(true);
    // A number only when exact: an integer a double cannot hold must stay text.
    if (/^-?\d+$/.test(text)) expect(BigInt(value), where).toBe(BigInt(text));
    return;
  }
  if (type.startsWith('timestamp') && /^\d{4}-\d\d-\d\d \d/.test(text)) {
    // ISO 8601: the same instant, the same fraction of a second.
    const iso = String(value);
    const fraction = (s: string) => /\.(\d+)/.exec(s)?.[1] ?? '';
    const zone = type.includes('with time zone') ? text.replace(/([+-]\d\d)$/, '$1:00') : text;
    expect(Date.parse(iso), where).toBe(Date.parse(zone.replace(' ', 'T')));
    expect(fraction(iso), where).toBe(fraction(text));
    return;
  }
  expect(value, where).toBe(text);
}

/** A one-dimensional array literal's items (psql's text of an array). */
function parseArrayLiteral(text: string): (string | null)[] {
  const inner = text.slice(1, -1);
  if (inner === '') return [];
  const items: (string | null)[] = [];
  let i = 0;
  while (i <= inner.length) {
    if (inner[i] === '"') {
      let item = '';
      i += 1;
      while (inner[i] !== '"') {
        if (inner[i] === '\\') i += 1;
        item += inner[i];
        i += 1;
      }
      items.push(item);
      i += 2;
    } else {
      const end = inner.indexOf(',', i);
      const item = inner.slice(i, end < 0 ? inner.length : end);
      items.push(item === 'NULL' ? null : item);
      i = end < 0 ? inner.length + 1 : end + 1;
    }
  }
  return items;
}

/**
 * The table's cells, cut at the columns the rule line gives, against psql's values (NULL shown
 * empty, control characters shown escaped, cells padded).
 */
function expectTable(text: string, header: string[], rows: string[][]): void {
  const lines = text.split('\n');
  expect(lines.at(-1)).toBe('');
  // psql's CSV has no rows for a result without columns: only the count line can be checked.
  if (header.length === 0) {
    expect(lines.at(-2)).toMatch(/^\(\d+ rows?\)$/);
    return;
  }
  expect(lines.at(-2)).toBe(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
  const widths = lines[1]!.split('+').map((dashes) => dashes.length - 2);
  const cells = (line: string) => {
    const out: string[] = [];
    let at = 1;
    for (const width of widths) {
      out.push(line.slice(at, at + width).trim());
      at += width + 3;
    }
    return out;
  };
  expect(cells(lines[0]!)).toEqual(header);
  const shown = (value: string) =>
    value === NULL_MARKER
      ? ''
      : value
          .replace(/\n/g, '\\n')
          .replace(/\r/g, '\\r')
          .replace(/\t/g, '\\t')
          .replace(
            /[\u0000-\u001f\u007f-\u009f]/g,
            (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
          )
          .trim();
  const body = lines.slice(2, -2);
  expect(body.length).toBe(rows.length);
  body.forEach((line, index) => {
    expect(cells(line), `row ${index + 1}`).toEqual(rows[index]!.map(shown));
  });
}

// ── the suite every transport runs ─────────────────────────────────────────────────────────────

export interface SuitePlan {
  transport: 'direct' | 'exec' | 'tunnel';
  /** Runs of 50,000 rows as CSV per engine: the race this guards against showed in one run of two. */
  raceRuns: number;
  /** The engine that also gets 1,000,000 rows and the slow and closed consumers. */
  largeEngine: (typeof ENGINES)[number];
  /** Rows of the large export; 1,000,000 unless the transport is too slow for it in a test run. */
  largeRows?: number;
}

export function differentialSuite(plan: SuitePlan): void {
  const { transport } = plan;
  describe.each(ENGINES)(`coderdb query --transport ${transport} equals psql on %s`, (engine) => {
    let sandbox: TestSandbox;
    beforeAll(async () => {
      sandbox = await startSandbox({ engine });
    });
    afterAll(async () => {
      await sandbox?.stop();
    });

    // The whole corpus as one input of several statements, so that a format costs one run.
    it(`the corpus (${CORPUS.map((entry) => entry.name).join(', ')}), in every format`, async () => {
      const statements = CORPUS.map((entry) => entry.sql);
      for (const pair of [FORMATS.slice(0, 2), FORMATS.slice(2)]) {
        const outputs = await overlapping(
          engine,
          pair.map((format) => () => coderdb(sandbox, transport, statements.join(';\n'), format)),
        );
        for (const [index, output] of outputs.entries()) {
          await expectSeveralAsPsql(sandbox, output, statements, pair[index]!);
        }
      }
    });

    it(`50,000 rows: CSV byte for byte in ${plan.raceRuns} runs, json by value`, async () => {
      const sql = sizeSql(50_000);
      const csv = await psqlCsv(sandbox, sql);
      for (let run = 0; run < plan.raceRuns; run += 2) {
        const runs = Math.min(2, plan.raceRuns - run);
        const outputs = await overlapping(
          engine,
          Array.from({ length: runs }, () => () => coderdb(sandbox, transport, sql, 'csv')),
        );
        for (const output of outputs) await expectSameAsPsql(sandbox, output, sql, 'csv', { csv });
      }
      await expectSameAsPsql(sandbox, await coderdb(sandbox, transport, sql, 'json'), sql, 'json');
    });

    it('several statements: CSV as psql prints them, json one document, ndjson numbered', async () => {
      const statements = [
        "select 1 as a, 'x,y' as b",
        "set local application_name = 'x'",
        'select g from generate_series(1, 3) g',
        "select '' as e, null::text as n",
      ];
      for (const format of FORMATS) {
        const output = await coderdb(sandbox, transport, statements.join('; '), format);
        await expectSeveralAsPsql(sandbox, output, statements, format);
      }
    });

    if (engine === plan.largeEngine) {
      const largeRows = plan.largeRows ?? 1_000_000;
      it(`${largeRows.toLocaleString('en')} rows as CSV, byte for byte`, async () => {
        const sql = sizeSql(largeRows);
        const [csv, output] = await Promise.all([
          psqlCsv(sandbox, sql),
          coderdb(sandbox, transport, sql, 'csv'),
        ]);
        await expectSameAsPsql(sandbox, output, sql, 'csv', { csv });
      });

      it('a consumer that reads nothing for 4 seconds still gets everything, in every format', async () => {
        // Far more than the pipe and every buffer on the way hold.
        const [big, small] = [sizeSql(200_000), sizeSql(20_000)];
        const csv = await psqlCsv(sandbox, big);
        const [csvOut, ndjsonOut] = await overlapping(engine, [
          () => coderdb(sandbox, transport, big, 'csv', { slowStartMs: 4_000 }),
          () => coderdb(sandbox, transport, small, 'ndjson', { slowStartMs: 4_000 }),
        ]);
        await expectSameAsPsql(sandbox, csvOut!, big, 'csv', { csv });
        await expectSameAsPsql(sandbox, ndjsonOut!, small, 'ndjson');
      });

      it('a consumer that closes the pipe (| head) ends the command cleanly', async () => {
        const sql = sizeSql(1_000_000);
        for (const format of ['csv', 'json'] as const) {
          const output = await coderdb(sandbox, transport, sql, format, {
            headBytes: 4096,
            timeoutMs: 60_000,
          });
          expect(output.stderr).toBe('');
          expect(output.code).toBe(0);
        }
      });
    }
  });
}

/**
 * Runs coderdb commands at once on PostgreSQL, one after the other on PGlite: PGlite serves every
 * connection from one backend, so one read session's end resets the settings of another that
 * overlaps it, and the settings watch rightly ends that one (see README, sandbox).
 */
async function overlapping<T>(engine: string, runs: (() => Promise<T>)[]): Promise<T[]> {
  if (engine !== 'pglite') return Promise.all(runs.map((run) => run()));
  const results: T[] = [];
  for (const run of runs) results.push(await run());
  return results;
}
