// The awsJson1_1 protocol (ECS, SSM, Secrets Manager, KMS, CloudWatch Logs): the operation comes in
// `X-Amz-Target: <prefix>.<Operation>`, input and output are JSON, timestamps are epoch seconds,
// blobs are base64, and errors are `{"__type": code, "message": …}` with status 400 (or the code's).

import { AccessDenied, AwsError } from '../errors.js';
import type { WireResponse } from './wire.js';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** Splits `AmazonEC2ContainerServiceV20141113.ListTasks` into prefix and operation. */
export function parseTarget(target: string): { prefix: string; operation: string } | undefined {
  const dot = target.lastIndexOf('.');
  if (dot <= 0 || dot === target.length - 1) return undefined;
  return { prefix: target.slice(0, dot), operation: target.slice(dot + 1) };
}

export function parseJsonBody(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsError('SerializationException', 'Expected a JSON object as the request body.');
  }
  return parsed as Record<string, unknown>;
}

/** Converts service output to its JSON wire form: Date → epoch seconds, bytes → base64. */
export function toJsonWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = toJsonWire(v);
    }
    return out;
  }
  return value;
}

function headers(requestId: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': JSON_CONTENT_TYPE, 'x-amzn-requestid': requestId, ...extra };
}

export function jsonResult(result: unknown, requestId: string): WireResponse {
  return { status: 200, headers: headers(requestId), body: JSON.stringify(toJsonWire(result ?? {})) };
}

export function jsonError(error: AwsError | AccessDenied, requestId: string): WireResponse {
  const code = error instanceof AccessDenied ? 'AccessDeniedException' : error.code;
  const status = error instanceof AccessDenied ? 400 : error.status;
  return {
    status,
    headers: headers(requestId, { 'x-amzn-errortype': code }),
    body: JSON.stringify({ __type: code, message: error.message }),
  };
}
