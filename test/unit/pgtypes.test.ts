import { describe, expect, it } from 'vitest';
import { isoTimestamp, parseArray, toJsonValue, typeFromName, typeFromOid } from '../../src/core/pgtypes.js';

describe('PostgreSQL text values as JSON', () => {
  it('maps OIDs and format_type names to the same kinds', () => {
    expect(typeFromOid(23)).toEqual(typeFromName('integer'));
    expect(typeFromOid(1184).kind).toBe('timestamptz');
    expect(typeFromName('timestamp with time zone').kind).toBe('timestamptz');
    expect(typeFromName('character varying(128)').kind).toBe('text');
    expect(typeFromOid(1007)).toMatchObject({ kind: 'int', array: true });
    expect(typeFromName('text[]')).toMatchObject({ kind: 'text', array: true });
    expect(typeFromOid(99999).kind).toBe('text');
  });

  it('keeps numbers exact: doubles when they round-trip, text otherwise', () => {
    const bigint = typeFromName('bigint');
    const numeric = typeFromName('numeric');
    expect(toJsonValue('42', bigint)).toBe(42);
    expect(toJsonValue('9007199254740993', bigint)).toBe('9007199254740993');
    expect(toJsonValue('1.5', numeric)).toBe(1.5);
    expect(toJsonValue('1.50', numeric)).toBe('1.50');
    expect(toJsonValue('NaN', typeFromName('double precision'))).toBe('NaN');
    expect(toJsonValue('t', typeFromName('boolean'))).toBe(true);
    expect(toJsonValue(null, typeFromName('integer'))).toBe(null);
    expect(toJsonValue('{"a":[1,null]}', typeFromName('jsonb'))).toEqual({ a: [1, null] });
  });

  it('writes timestamps in ISO 8601 without losing microseconds or offsets', () => {
    expect(isoTimestamp('2024-05-01 12:00:00.123456+00', true)).toBe('2024-05-01T12:00:00.123456Z');
    expect(isoTimestamp('2024-05-01 12:00:00+05:30', true)).toBe('2024-05-01T12:00:00+05:30');
    expect(isoTimestamp('2024-05-01 12:00:00-07', true)).toBe('2024-05-01T12:00:00-07:00');
    expect(isoTimestamp('2024-05-01 12:00:00', false)).toBe('2024-05-01T12:00:00');
    expect(isoTimestamp('infinity', true)).toBe('infinity');
  });

  it('parses array literals with quoting and NULL', () => {
    expect(parseArray('{}')).toEqual([]);
    expect(parseArray('{a,"b c","with \\"quote\\"",NULL,"NULL"}')).toEqual([
      'a',
      'b c',
      'with "quote"',
      null,
      'NULL',
    ]);
    expect(toJsonValue('{1,2,NULL}', typeFromName('integer[]'))).toEqual([1, 2, null]);
  });
});
