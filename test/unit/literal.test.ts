import { describe, expect, it } from 'vitest';
import { ident, quoteIdent, quoteLiteral, raw, sql } from '../../src/sql/literal.js';

describe('SQL literals', () => {
  it('quotes strings so that nothing escapes the literal', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('back\\slash')).toBe("E'back\\\\slash'");
    expect(quoteLiteral(null)).toBe('NULL');
    expect(quoteLiteral(12.5)).toBe('12.5');
    expect(quoteLiteral(true)).toBe('true');
    expect(quoteLiteral(['a', null])).toBe("ARRAY['a', NULL]");
    expect(() => quoteLiteral('nul\0byte')).toThrow();
    expect(() => quoteLiteral(Number.NaN)).toThrow();
  });

  it('quotes identifiers only when needed', () => {
    expect(quoteIdent('templates')).toBe('templates');
    expect(quoteIdent('user')).toBe('"user"');
    expect(quoteIdent('Mixed Case')).toBe('"Mixed Case"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });

  it('builds statements from a template', () => {
    const name = "x'; drop table users; --";
    expect(sql`select * from ${ident('user')} where name = ${name} ${raw('limit 1')}`).toBe(
      `select * from "user" where name = 'x''; drop table users; --' limit 1`,
    );
  });
});
