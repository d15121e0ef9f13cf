import { describe, expect, it } from 'vitest';
import { CopyCsvToPsql } from '../../src/core/output/copy-csv.js';
import { createWriter, type Format } from '../../src/core/output/formats.js';
import { StringSink } from '../../src/core/output/sink.js';
import { type Field, type RawRow, typeFromName } from '../../src/core/pgtypes.js';

const fields: Field[] = [
  { name: 'id', type: typeFromName('integer') },
  { name: 'name', type: typeFromName('text') },
  { name: 'ok', type: typeFromName('boolean') },
];
const rows: RawRow[] = [
  ['1', 'plain', 't'],
  ['22', 'comma, "quote"\nline', null],
  ['3', '\u001b[31mred', 'f'],
];

async function render(format: Format): Promise<string> {
  const sink = new StringSink();
  const writer = createWriter(format, sink);
  await writer.start(fields);
  await writer.rows(rows);
  await writer.end('SELECT', 3, true);
  await writer.finish();
  return sink.text();
}

describe('output formats', () => {
  it('csv quotes like psql --csv and leaves NULL empty', async () => {
    expect(await render('csv')).toBe(
      'id,name,ok\n1,plain,t\n22,"comma, ""quote""\nline",\n3,\u001b[31mred,f\n',
    );
  });

  it('json keeps types, one array per result', async () => {
    expect(JSON.parse(await render('json'))).toEqual([
      { id: 1, name: 'plain', ok: true },
      { id: 22, name: 'comma, "quote"\nline', ok: null },
      { id: 3, name: '\u001b[31mred', ok: false },
    ]);
  });

  it('ndjson writes one object per line', async () => {
    const lines = (await render('ndjson')).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!)).toEqual({ id: 1, name: 'plain', ok: true });
  });

  it('table aligns columns, right-aligns numbers and makes control characters visible', async () => {
    expect(await render('table')).toBe(
      [
        ' id |         name         | ok',
        '----+----------------------+----',
        '  1 | plain                | t',
        ' 22 | comma, "quote"\\nline |',
        '  3 | \\x1b[31mred          | f',
        '(3 rows)',
        '',
      ].join('\n'),
    );
  });
});

describe('COPY csv made what psql --csv prints', () => {
  // COPY's spelling → psql's: '' unquoted, `\.` quoted in any column, no rows without columns.
  const cases: [string, string][] = [
    ['a,b\n1,""\n"",\n', 'a,b\n1,\n,\n'],
    ['a,b\n\\.,1\n"\\.",2\n\\.x,\\\n', 'a,b\n"\\.",1\n"\\.",2\n\\.x,\\\n'],
    ['a\n"""",""""""\n"x""","""y"\n"a\nb",""\n', 'a\n"""",""""""\n"x""","""y"\n"a\nb",\n'],
    ['\n\n\n\n', '\n'],
    ['a\n', 'a\n'],
  ];

  it.each(cases)('rewrites %j the same way however it is split', (copy, psql) => {
    const whole = new CopyCsvToPsql();
    expect(whole.push(Buffer.from(copy)).toString()).toBe(psql);
    whole.end();
    for (let cut = 0; cut <= copy.length; cut++) {
      for (let cut2 = cut; cut2 <= copy.length; cut2++) {
        const split = new CopyCsvToPsql();
        const out = [copy.slice(0, cut), copy.slice(cut, cut2), copy.slice(cut2)]
          .map((part) => split.push(Buffer.from(part)).toString())
          .join('');
        expect(out).toBe(psql);
        expect(split.records).toBe(whole.records);
        split.end();
      }
    }
  });

  it('says when the data stops in the middle of a row', () => {
    const copy = new CopyCsvToPsql();
    copy.push(Buffer.from('a,b\n1,"x'));
    expect(() => copy.end()).toThrow(/middle of a row/);
  });
});

describe('a result that did not arrive whole is an error', () => {
  for (const format of ['csv', 'json', 'ndjson', 'table'] as const) {
    it(`${format}: fewer rows than the command tag counted`, async () => {
      const writer = createWriter(format, new StringSink());
      await writer.start(fields);
      await writer.rows(rows);
      await expect(writer.end('SELECT', 5, true)).rejects.toMatchObject({
        code: 'result.incomplete',
        message: expect.stringContaining('3 of 5 rows'),
      });
    });
  }

  it('csv from COPY: fewer records than COPY counted', async () => {
    const writer = createWriter('csv', new StringSink());
    await writer.startRaw();
    await writer.raw(Buffer.from('g\n1\n2\n'));
    await expect(writer.end('COPY', 3, false)).rejects.toMatchObject({ code: 'result.incomplete' });
  });
});

describe('several statements', () => {
  async function renderTwo(format: Format): Promise<string> {
    const sink = new StringSink();
    const writer = createWriter(format, sink);
    await writer.begin?.(3);
    await writer.start(fields);
    await writer.rows(rows);
    await writer.end('SELECT', 3, true);
    await writer.end('SET', null, false);
    await writer.start([{ name: 'n', type: typeFromName('integer') }]);
    await writer.end('SELECT', 0, true);
    await writer.finish();
    return sink.text();
  }

  it('json is one document: one object per statement', async () => {
    expect(JSON.parse(await renderTwo('json'))).toEqual([
      {
        statement: 1,
        command: 'SELECT',
        rowCount: 3,
        rows: [
          { id: 1, name: 'plain', ok: true },
          { id: 22, name: 'comma, "quote"\nline', ok: null },
          { id: 3, name: '\u001b[31mred', ok: false },
        ],
      },
      { statement: 2, command: 'SET', rowCount: null },
      { statement: 3, command: 'SELECT', rowCount: 0, rows: [] },
    ]);
  });

  it('ndjson says which statement each row came from', async () => {
    const lines = (await renderTwo('ndjson')).trim().split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { statement: 1, row: { id: 1, name: 'plain', ok: true } },
      { statement: 1, row: { id: 22, name: 'comma, "quote"\nline', ok: null } },
      { statement: 1, row: { id: 3, name: '\u001b[31mred', ok: false } },
    ]);
  });

  it('csv prints the results one after the other, as psql -q does', async () => {
    expect(await renderTwo('csv')).toBe(
      'id,name,ok\n1,plain,t\n22,"comma, ""quote""\nline",\n3,\u001b[31mred,f\nn\n',
    );
  });
});
