// A tiny XML serializer for the Query and EC2 protocols' response bodies. Values are plain objects;
// each key becomes an element, arrays become repeated child elements whose name the caller chooses
// per list (`member` for Query, `item` for EC2, model-specific names such as RDS's `DBInstance`).

export type XmlValue =
  | string
  | number
  | boolean
  | Date
  | null
  | undefined
  | XmlValue[]
  | { [key: string]: XmlValue };

/** Chooses the element name of a list's items from the list's own element name. */
export type ListMemberName = (listName: string) => string;

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function scalar(value: string | number | boolean | Date): string {
  if (value instanceof Date) return value.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return escapeXml(String(value));
}

/** Serializes `value` as the content of an element named `name` (without the element itself). */
function content(name: string, value: XmlValue, memberName: ListMemberName): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) {
    const item = memberName(name);
    return value.map((v) => element(item, v, memberName)).join('');
  }
  if (typeof value === 'object' && !(value instanceof Date)) {
    return Object.entries(value)
      .map(([k, v]) => element(k, v, memberName))
      .join('');
  }
  return scalar(value);
}

export function element(name: string, value: XmlValue, memberName: ListMemberName): string {
  if (value === undefined || value === null) return '';
  return `<${name}>${content(name, value, memberName)}</${name}>`;
}

/** A whole document: `<?xml…?><root xmlns="…">…</root>`. */
export function xmlDocument(
  root: string,
  xmlns: string | undefined,
  body: Record<string, XmlValue>,
  memberName: ListMemberName,
): string {
  const ns = xmlns ? ` xmlns="${escapeXml(xmlns)}"` : '';
  const inner = Object.entries(body)
    .map(([k, v]) => element(k, v, memberName))
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${inner}</${root}>`;
}
