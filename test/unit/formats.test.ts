import { describe, expect, it } from 'vitest';
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
