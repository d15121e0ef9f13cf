// The guard against hostile and tricky SQL, with the parser alone (no database): every input of the
// corpus (test/sql/corpus/) gets its expected outcome, and every refusal or usage error is one line
// naming why.

import { describe, expect, it } from 'vitest';
import { CoderdbError, isCoderdbError } from '../../src/core/errors.js';
import { analyze, enforce, type GuardPolicy } from '../../src/sql/guard.js';
import { parseStatements } from '../../src/sql/parser.js';
import { type GuardCase, outcomeOf } from './cases.js';
import { CORPUS, CORPUS_CASES } from './corpus/index.js';

/** The error `enforce` throws for the policy, or undefined when it allows the statements. */
async function refusal(sql: string, policy: GuardPolicy): Promise<CoderdbError | undefined> {
  const statements = await analyze(sql);
  try {
    enforce(statements, policy);
    return undefined;
  } catch (error) {
    if (isCoderdbError(error)) return error;
    throw error;
  }
}

function expectOneLine(error: CoderdbError): void {
  expect(error.message).not.toContain('\n');
  expect(error.message).not.toMatch(/\bat .*:\d+:\d+/);
  expect(error.message.length).toBeLessThan(400);
}

const summary = (cases: GuardCase[]) =>
  Object.fromEntries(
    (['read', 'write', 'forbidden', 'usage'] as const).map((outcome) => [
      outcome,
      cases.filter((entry) => entry.expect === outcome).length,
    ]),
  );

describe('guard corpus', () => {
  it('has at least 500 inputs with distinct names, of every outcome, in every class', () => {
    expect(CORPUS_CASES.length).toBeGreaterThanOrEqual(500);
    expect(new Set(CORPUS_CASES.map((entry) => entry.name)).size).toBe(CORPUS_CASES.length);
    const counts = summary(CORPUS_CASES);
    for (const count of Object.values(counts)) expect(count).toBeGreaterThan(10);
    for (const group of CORPUS) expect(group.cases.length, group.id).toBeGreaterThanOrEqual(10);
  });

  it.each(CORPUS_CASES)('$name', async (entry) => {
    const { outcome, statements, error } = await outcomeOf(entry.sql);
    expect(outcome, (error as Error | undefined)?.message).toBe(entry.expect);

    if (entry.expect === 'usage') {
      expect(error).toBeInstanceOf(CoderdbError);
      const usage = error as CoderdbError;
      expect(usage.kind).toBe('usage');
      if (entry.code) expect(usage.code).toBe(entry.code);
      if (entry.why) expect(usage.message).toMatch(entry.why);
      expectOneLine(usage);
      return;
    }

    for (const statement of statements!) {
      if (statement.effect === 'read') expect(statement.reasons).toEqual([]);
      else expect(statement.reasons.length).toBeGreaterThan(0);
    }

    const readOnly = await refusal(entry.sql, { write: false });
    const withWrite = await refusal(entry.sql, { write: true });
    const allRows = await refusal(entry.sql, { write: true, allowAllRows: true });
    switch (entry.expect) {
      case 'read':
        expect(readOnly).toBeUndefined();
        expect(withWrite).toBeUndefined();
        break;
      case 'write':
        expect(readOnly?.kind).toBe('refused');
        expect(readOnly?.code).toBe('guard.read-only');
        expect(readOnly?.hint).toMatch(/--write/);
        expectOneLine(readOnly!);
        if (entry.why) expect(readOnly!.message).toMatch(entry.why);
        if (entry.withWrite === 'unchecked') {
          // Whether --write alone lets it through is the all-rows layer's call.
        } else if (entry.allRows) {
          expect(withWrite?.code).toBe('guard.all-rows');
          expect(withWrite!.message).toMatch(/changes every row of \w+/);
          expectOneLine(withWrite!);
        } else {
          expect(withWrite).toBeUndefined();
        }
        expect(allRows).toBeUndefined();
        break;
      case 'forbidden':
        expect(readOnly?.kind).toBe('refused');
        expect(withWrite?.code).toBe('guard.forbidden');
        expect(allRows?.code).toBe('guard.forbidden');
        expect(withWrite?.hint).toBe('nothing was sent to the database');
        expectOneLine(withWrite!);
        if (entry.why) expect(withWrite!.message).toMatch(entry.why);
        break;
    }
  });
});

describe('guard details', () => {
  it('splits statements at the semicolons the server would see, with their offsets', async () => {
    const sql = "select 1; /* ; */ delete from users where name = 'a;b' ;\n  select $$;$$";
    const statements = await analyze(sql);
    expect(statements.map((statement) => statement.text)).toEqual([
      'select 1',
      "delete from users where name = 'a;b'",
      'select $$;$$',
    ]);
    for (const statement of statements) {
      expect(sql.slice(statement.offset, statement.offset + statement.text.length)).toBe(statement.text);
    }
  });

  it('keeps characters PostgreSQL reads as part of an identifier in the text it sends', async () => {
    const [statement] = await parseStatements('SELECT 1 AS x\u00a0 ;');
    expect(statement!.text).toBe('SELECT 1 AS x\u00a0');
    const [tabbed] = await parseStatements('\t\n SELECT 2\f\v\r\n');
    expect(tabbed!.text).toBe('SELECT 2');
    expect(tabbed!.offset).toBe(3);
  });

  it('computes offsets in string positions for text with multi-byte characters', async () => {
    const sql = "SELECT '🚀é'; SELECT 'ü'; garbage";
    await expect(analyze(sql)).rejects.toMatchObject({
      code: 'sql.syntax',
      position: sql.indexOf('garbage') + 1,
    });
    const statements = await analyze(sql.replace('; garbage', ''));
    expect(statements[1]!.offset).toBe(sql.indexOf("SELECT 'ü'"));
  });

  it('names the table a DELETE in a WITH clause or under EXPLAIN ANALYZE empties', async () => {
    const cte = await refusal('WITH d AS (DELETE FROM app.sessions RETURNING *) SELECT count(*) FROM d', {
      write: true,
    });
    expect(cte?.message).toMatch(/changes every row of app\.sessions/);
    const explained = await refusal('EXPLAIN ANALYZE UPDATE t SET v = 1 WHERE 1 = 1', { write: true });
    expect(explained?.message).toMatch(/changes every row of t$/);
    const [top] = await analyze('DELETE FROM t WHERE id > 1');
    expect(top!.affectsAllRows).toBe(false);
  });

  it('names the statement of several that is refused, and why it is forbidden first', async () => {
    const error = await refusal("SELECT 1; SELECT set_config('client_encoding', 'SJIS', false)", {
      write: true,
    });
    expect(error?.message).toBe(
      'refused statement 2 (SELECT): setting client_encoding would change how the server reads the SQL that follows',
    );
  });

  it('masks passwords in the audit text of role statements', async () => {
    const [statement] = await analyze("CREATE ROLE x LOGIN PASSWORD 'hunter2'");
    expect(statement!.auditText).toBe("CREATE ROLE x LOGIN PASSWORD '***'");
    expect(statement!.text).toContain('hunter2');
  });

  it('refuses SQL larger than the limit before parsing it', async () => {
    await expect(analyze('SELECT 1234567890', { maxLength: 10 })).rejects.toMatchObject({
      kind: 'usage',
      code: 'sql.too-large',
    });
  });

  it('marks a syntax error with its line, column and a caret', async () => {
    const error = (await analyze('SELECT 1;\nSELEC 2').catch((caught: unknown) => caught)) as CoderdbError;
    expect(error.code).toBe('sql.syntax');
    expect(error.message).toBe('SQL syntax error at or near "SELEC" at line 2, column 1');
    expect(error.detail).toBe('SELEC 2\n^');
    expect(error.sqlState).toBe('42601');
  });

  it('keeps classifying correctly after many inputs too deep for the parser', async () => {
    const tooDeep = `SELECT 1${' + 1'.repeat(30_000)}`;
    for (let round = 0; round < 40; round++) {
      await expect(analyze(tooDeep)).rejects.toMatchObject({ code: 'sql.too-deep' });
      const [statement] = await analyze('DELETE FROM t WHERE id = 1');
      expect(statement!.effect).toBe('write');
      expect(statement!.target?.name).toBe('t');
    }
    const [last] = await analyze("SELECT E'\\' ; DELETE FROM t; --'");
    expect(last!.effect).toBe('read');
  });
});
