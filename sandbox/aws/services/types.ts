// What a service module is: a table of operations over the world, for one wire protocol. The
// server finds the module (by X-Amz-Target prefix or SigV4 signing name), decodes the input with
// the protocol codec, calls the operation with a context, and encodes the result or error.

import type { SessionBroker } from '../../session-broker.js';
import type { JsonInput } from '../protocol/json-input.js';
import type { QueryInput } from '../protocol/query.js';
import type { XmlValue } from '../protocol/xml.js';
import type { World } from '../world.js';

/** A Session Manager session opened through this endpoint, for DescribeSessions and ResumeSession. */
export interface SessionRecord {
  sessionId: string;
  target: string;
  documentName?: string;
  startedAt: number;
  endedAt?: number;
  status: 'Connected' | 'Terminated';
  owner: string;
}

/** Mutable state that lives as long as the endpoint, across scenario switches. */
export interface RuntimeState {
  sessions: Map<string, SessionRecord>;
  /**
   * Temporary credentials handed out by sts:GetSessionToken, by access key id; `mfa` when they
   * were issued against a valid MFA code (requests signed with them carry
   * `aws:MultiFactorAuthPresent`).
   */
  issuedKeys: Map<
    string,
    { secretAccessKey: string; sessionToken: string; expiresAt: number; mfa?: boolean }
  >;
}

export interface ServiceContext {
  readonly world: World;
  readonly broker: SessionBroker | undefined;
  readonly requestId: string;
  readonly state: RuntimeState;
  /** The access key id the request was signed with. */
  readonly accessKeyId: string;
  /** Throws `AccessDenied` unless the caller's identity policies allow `action` on `resource`. */
  authorize(action: string, resource?: string): void;
}

export type JsonOperation = (input: JsonInput, ctx: ServiceContext) => unknown;

export interface JsonService {
  protocol: 'json';
  /** The X-Amz-Target prefix, e.g. `AmazonEC2ContainerServiceV20141113`. */
  targetPrefix: string;
  /** The SigV4 signing name, e.g. `ecs`. */
  signingName: string;
  /** The code this service uses for malformed input (`InvalidParameterException`, `ValidationException`). */
  invalidInputCode: string;
  operations: Record<string, JsonOperation>;
}

export type QueryOperation = (input: QueryInput, ctx: ServiceContext) => Record<string, XmlValue> | undefined;

export interface QueryService {
  protocol: 'query' | 'ec2';
  signingName: string;
  version: string;
  xmlns: string;
  /** List element name → member element name where the model does not use `member` (RDS). */
  listMembers?: Record<string, string>;
  /** The code this service uses for a missing required parameter. */
  missingParameterCode: string;
  operations: Record<string, QueryOperation>;
}

export type Service = JsonService | QueryService;
