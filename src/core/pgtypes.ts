// Every transport hands rows over in PostgreSQL's text format with a type for each column: the
// direct and tunnel transports know type OIDs, the exec transport knows the names psql's \gdesc
// prints. This module maps both to one small set of kinds, and turns text into typed JSON values,
// so that all transports produce identical output.

export type ValueKind =
  | 'bool'
  | 'int' // fits a JavaScript number exactly
  | 'bigint' // int8: a number when it fits, text otherwise
  | 'numeric'
  | 'float'
  | 'json'
  | 'timestamptz'
  | 'timestamp'
  | 'date'
  | 'bytea'
  | 'text'; // everything else: text, uuid, enums, intervals, inet …

export interface ColumnType {
  /** Type name as format_type() prints it, e.g. `integer`, `text[]`, `timestamp with time zone`. */
  name: string;
  kind: ValueKind;
  /** Element kind for one-dimensional arrays. */
  array: boolean;
}

export interface Field {
  name: string;
  type: ColumnType;
}

/** A row in PostgreSQL text format: one string per column, null for NULL. */
export type RawRow = (string | null)[];

interface Builtin {
  oid: number;
  name: string;
  kind: ValueKind;
  arrayOid?: number;
  aliases?: string[];
}

const BUILTINS: Builtin[] = [
  { oid: 16, name: 'boolean', kind: 'bool', arrayOid: 1000, aliases: ['bool'] },
  { oid: 17, name: 'bytea', kind: 'bytea', arrayOid: 1001 },
  { oid: 18, name: '"char"', kind: 'text', arrayOid: 1002, aliases: ['char'] },
  { oid: 19, name: 'name', kind: 'text', arrayOid: 1003 },
  { oid: 20, name: 'bigint', kind: 'bigint', arrayOid: 1016, aliases: ['int8'] },
  { oid: 21, name: 'smallint', kind: 'int', arrayOid: 1005, aliases: ['int2'] },
  { oid: 23, name: 'integer', kind: 'int', arrayOid: 1007, aliases: ['int4', 'int'] },
  { oid: 24, name: 'regproc', kind: 'text', arrayOid: 1008 },
  { oid: 25, name: 'text', kind: 'text', arrayOid: 1009 },
  { oid: 26, name: 'oid', kind: 'int', arrayOid: 1028 },
  { oid: 28, name: 'xid', kind: 'text', arrayOid: 1011 },
  { oid: 114, name: 'json', kind: 'json', arrayOid: 199 },
  { oid: 142, name: 'xml', kind: 'text', arrayOid: 143 },
  { oid: 700, name: 'real', kind: 'float', arrayOid: 1021, aliases: ['float4'] },
  { oid: 701, name: 'double precision', kind: 'float', arrayOid: 1022, aliases: ['float8'] },
  { oid: 790, name: 'money', kind: 'text', arrayOid: 791 },
  { oid: 829, name: 'macaddr', kind: 'text', arrayOid: 1040 },
  { oid: 869, name: 'inet', kind: 'text', arrayOid: 1041 },
  { oid: 650, name: 'cidr', kind: 'text', arrayOid: 651 },
  { oid: 1042, name: 'character', kind: 'text', arrayOid: 1014, aliases: ['bpchar'] },
  { oid: 1043, name: 'character varying', kind: 'text', arrayOid: 1015, aliases: ['varchar'] },
  { oid: 1082, name: 'date', kind: 'date', arrayOid: 1182 },
  { oid: 1083, name: 'time without time zone', kind: 'text', arrayOid: 1183, aliases: ['time'] },
  {
    oid: 1114,
    name: 'timestamp without time zone',
    kind: 'timestamp',
    arrayOid: 1115,
    aliases: ['timestamp'],
  },
  {
    oid: 1184,
    name: 'timestamp with time zone',
    kind: 'timestamptz',
    arrayOid: 1185,
    aliases: ['timestamptz'],
  },
  { oid: 1186, name: 'interval', kind: 'text', arrayOid: 1187 },
  { oid: 1266, name: 'time with time zone', kind: 'text', arrayOid: 1270, aliases: ['timetz'] },
  { oid: 1700, name: 'numeric', kind: 'numeric', arrayOid: 1231, aliases: ['decimal'] },
  { oid: 2249, name: 'record', kind: 'text', arrayOid: 2287 },
  { oid: 2950, name: 'uuid', kind: 'text', arrayOid: 2951 },
  { oid: 3802, name: 'jsonb', kind: 'json', arrayOid: 3807 },
  { oid: 5069, name: 'xid8', kind: 'text', arrayOid: 271 },
  { oid: 2205, name: 'regclass', kind: 'text', arrayOid: 2210 },
  { oid: 2206, name: 'regtype', kind: 'text', arrayOid: 2211 },
  { oid: 3614, name: 'tsvector', kind: 'text', arrayOid: 3643 },
  { oid: 705, name: 'unknown', kind: 'text' },
  { oid: 2278, name: 'void', kind: 'text' },
];

const byOid = new Map<number, ColumnType>();
const byName = new Map<string, ColumnType>();
for (const builtin of BUILTINS) {
  const scalar: ColumnType = { name: builtin.name, kind: builtin.kind, array: false };
  byOid.set(builtin.oid, scalar);
  for (const name of [builtin.name, ...(builtin.aliases ?? [])]) byName.set(name, scalar);
  if (builtin.arrayOid)
    byOid.set(builtin.arrayOid, { name: `${builtin.name}[]`, kind: builtin.kind, array: true });
}

/** The column type for a type OID from the wire protocol; unknown OIDs (enums, domains) are text. */
export function typeFromOid(oid: number): ColumnType {
  return byOid.get(oid) ?? { name: `oid ${oid}`, kind: 'text', array: false };
}

/** The column type for a name printed by format_type() (psql's \gdesc), e.g. `character varying(128)`. */
export function typeFromName(printed: string): ColumnType {
  const array = printed.endsWith('[]');
  const base = (array ? printed.slice(0, -2) : printed).replace(/\(.*\)/, '').trim();
  const known = byName.get(base);
  return { name: printed, kind: known?.kind ?? 'text', array };
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Converts one text-format value to the JSON value coderdb prints for it. */
export function toJsonValue(text: string | null, type: ColumnType): JsonValue {
  if (text === null) return null;
  if (type.array) return parseArray(text).map((item) => scalar(item, type.kind));
  return scalar(text, type.kind);
}

function scalar(text: string | null, kind: ValueKind): JsonValue {
  if (text === null) return null;
  switch (kind) {
    case 'bool':
      return text === 't' || text === 'true';
    case 'int':
      return Number(text);
    case 'float': {
      const number = Number(text);
      return Number.isFinite(number) ? number : text;
    }
    case 'bigint':
    case 'numeric': {
      // Only when the number survives the trip through a double exactly; otherwise the text.
      const number = Number(text);
      return Number.isFinite(number) && numberText(number) === text ? number : text;
    }
    case 'json':
      return JSON.parse(text) as JsonValue;
    case 'timestamptz':
      return isoTimestamp(text, true);
    case 'timestamp':
      return isoTimestamp(text, false);
    default:
      return text;
  }
}

function numberText(number: number): string {
  return Number.isInteger(number) ? number.toFixed(0) : String(number);
}

/**
 * PostgreSQL's ISO output (`2024-05-01 12:00:00.123456+00`, with DateStyle ISO) as ISO 8601
 * (`2024-05-01T12:00:00.123456+00:00`), keeping microseconds that a JavaScript Date would lose.
 */
export function isoTimestamp(text: string, withZone: boolean): string {
  const match = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::?\d\d){0,2})?( BC)?$/.exec(text);
  if (!match) return text; // infinity, -infinity, BC dates: keep PostgreSQL's spelling
  const [, date, time, zone, bc] = match;
  if (bc) return text;
  if (!withZone || !zone) return `${date}T${time}`;
  const [hours, minutes = '00'] = zone.slice(1).split(':');
  const offset = `${zone[0]}${hours}:${minutes}`;
  return `${date}T${time}${offset === '+00:00' ? 'Z' : offset}`;
}

/** Parses a one-dimensional array literal such as `{a,"b c",NULL}`. Nested arrays stay text. */
export function parseArray(text: string): (string | null)[] {
  if (!text.startsWith('{')) return [text];
  const items: (string | null)[] = [];
  let i = 1;
  if (text[i] === '}') return items;
  while (i < text.length) {
    if (text[i] === '"') {
      let value = '';
      i += 1;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i += 1;
        value += text[i];
        i += 1;
      }
      items.push(value);
      i += 1;
    } else {
      let depth = 0;
      let end = i;
      while (end < text.length && (depth > 0 || (text[end] !== ',' && text[end] !== '}'))) {
        if (text[end] === '{') depth += 1;
        if (text[end] === '}') depth -= 1;
        end += 1;
      }
      const value = text.slice(i, end);
      items.push(value === 'NULL' ? null : value);
      i = end;
    }
    if (text[i] === ',') i += 1;
    else break;
  }
  return items;
}
