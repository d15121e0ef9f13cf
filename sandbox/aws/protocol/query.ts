// The awsQuery protocol (STS, IAM, RDS) and its EC2 variant: the request is a form
// (`Action=…&Version=…&A.member.1=…`), the response is XML. Query wraps the output in
// `<ActionResponse><ActionResult>` plus `<ResponseMetadata>`, EC2 puts it directly under
// `<ActionResponse>` with a `<requestId>`. Errors: `<ErrorResponse><Error>` for Query,
// `<Response><Errors><Error>` for EC2.

import { AccessDenied, AwsError } from '../errors.js';
import type { WireResponse } from './wire.js';
import { escapeXml, type ListMemberName, type XmlValue, xmlDocument } from './xml.js';

const XML_CONTENT_TYPE = 'text/xml;charset=UTF-8';

export interface QueryFilter {
  name: string;
  values: string[];
}

/** Typed reads of a form-encoded request, with the service's code for invalid input. */
export class QueryInput {
  readonly params: URLSearchParams;
  readonly #missing: string;

  constructor(params: URLSearchParams, missingCode = 'MissingParameter') {
    this.params = params;
    this.#missing = missingCode;
  }

  get action(): string {
    return this.params.get('Action') ?? '';
  }

  get version(): string {
    return this.params.get('Version') ?? '';
  }

  string(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') {
      throw new AwsError(this.#missing, `The request must contain the parameter ${name}`);
    }
    return v;
  }

  int(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new AwsError('InvalidParameterValue', `${name} must be an integer.`);
    return n;
  }

  boolean(name: string): boolean | undefined {
    const v = this.string(name);
    return v === undefined ? undefined : v === 'true';
  }

  /** `Name.1`, `Name.member.1`, `Name.Item.1`… in index order. */
  list(name: string): string[] {
    const re = new RegExp(`^${name.replace(/\./g, '\\.')}(?:\\.[A-Za-z]+)?\\.(\\d+)$`);
    const found: [number, string][] = [];
    for (const [k, v] of this.params) {
      const m = re.exec(k);
      if (m) found.push([Number(m[1]), v]);
    }
    return found.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }

  /**
   * Filters in any of the encodings in use: EC2 `Filter.1.Name`/`Filter.1.Value.1`, RDS
   * `Filters.Filter.1.Name`/`Filters.Filter.1.Values.Value.1`, plain Query `Filters.member.1…`.
   */
  filters(): QueryFilter[] {
    const re = /^Filters?(?:\.(?:Filter|member))?\.(\d+)\.(?:(Name)|Values?(?:\.(?:Value|member))?\.(\d+))$/;
    const byIndex = new Map<number, { name: string; values: [number, string][] }>();
    for (const [k, v] of this.params) {
      const m = re.exec(k);
      if (!m) continue;
      const i = Number(m[1]);
      const entry = byIndex.get(i) ?? { name: '', values: [] };
      if (m[2]) entry.name = v;
      else entry.values.push([Number(m[3]), v]);
      byIndex.set(i, entry);
    }
    return [...byIndex.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, e]) => ({ name: e.name, values: e.values.sort((a, b) => a[0] - b[0]).map(([, v]) => v) }));
  }
}

function xmlHeaders(requestId: string): Record<string, string> {
  return { 'content-type': XML_CONTENT_TYPE, 'x-amzn-requestid': requestId };
}

export function queryResult(
  action: string,
  xmlns: string,
  result: Record<string, XmlValue> | undefined,
  requestId: string,
  memberName: ListMemberName,
): WireResponse {
  const body = xmlDocument(
    `${action}Response`,
    xmlns,
    { [`${action}Result`]: result ?? {}, ResponseMetadata: { RequestId: requestId } },
    memberName,
  );
  return { status: 200, headers: xmlHeaders(requestId), body };
}

export function ec2Result(
  action: string,
  xmlns: string,
  result: Record<string, XmlValue>,
  requestId: string,
): WireResponse {
  const body = xmlDocument(`${action}Response`, xmlns, { requestId, ...result }, () => 'item');
  return { status: 200, headers: xmlHeaders(requestId), body };
}

export function queryError(error: AwsError | AccessDenied, xmlns: string, requestId: string): WireResponse {
  const denied = error instanceof AccessDenied;
  const code = denied ? 'AccessDenied' : error.code;
  const status = denied ? 403 : error.status;
  const type = denied ? 'Sender' : error.fault;
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${escapeXml(xmlns)}"><Error>` +
    `<Type>${type}</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(error.message)}</Message>` +
    `</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  return { status, headers: xmlHeaders(requestId), body };
}

export function ec2Error(error: AwsError | AccessDenied, requestId: string): WireResponse {
  const denied = error instanceof AccessDenied;
  const code = denied ? 'UnauthorizedOperation' : error.code;
  const status = denied ? 403 : error.status;
  const message = denied
    ? `You are not authorized to perform this operation. ${error.message}`
    : error.message;
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  return { status, headers: xmlHeaders(requestId), body };
}
