// From an HTTP request to a service operation and back: picks the protocol (X-Amz-Target means
// awsJson1_1; otherwise a form with Action=… is Query or EC2, routed by the SigV4 scope's service
// name, falling back to Version), checks the caller's credentials, runs the operation, and encodes
// the result or error in that protocol's shape.

import { randomUUID } from 'node:crypto';
import type { SessionBroker } from '../session-broker.js';
import {
  type CredentialCheck,
  checkCredential,
  parseAuthorization,
  parsePresigned,
  requestContext,
} from './auth.js';
import { AccessDenied, AwsError } from './errors.js';
import { evaluatePrincipal } from './iam-policy.js';
import { jsonError, jsonResult, parseJsonBody, parseTarget } from './protocol/json.js';
import { JsonInput } from './protocol/json-input.js';
import { ec2Error, ec2Result, QueryInput, queryError, queryResult } from './protocol/query.js';
import type { WireResponse } from './protocol/wire.js';
import { ec2Service } from './services/ec2.js';
import { ecsService } from './services/ecs.js';
import { iamService } from './services/iam.js';
import { kmsService } from './services/kms.js';
import { logsService } from './services/logs.js';
import { rdsService } from './services/rds.js';
import { secretsManagerService } from './services/secrets-manager.js';
import { ssmService } from './services/ssm.js';
import { stsService } from './services/sts.js';
import type { JsonService, QueryService, RuntimeState, ServiceContext } from './services/types.js';
import type { World } from './world.js';

const JSON_SERVICES: JsonService[] = [ecsService, ssmService, secretsManagerService, kmsService, logsService];
const QUERY_SERVICES: QueryService[] = [stsService, iamService, rdsService, ec2Service];

export interface IncomingCall {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface RouterDeps {
  world(): World;
  broker: SessionBroker | undefined;
  state: RuntimeState;
}

function header(call: IncomingCall, name: string): string | undefined {
  const v = call.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function context(deps: RouterDeps, requestId: string, accessKeyId: string): ServiceContext {
  const world = deps.world();
  const conditions = requestContext(accessKeyId, deps.state);
  return {
    world,
    broker: deps.broker,
    requestId,
    state: deps.state,
    accessKeyId,
    authorize(action: string, resource = '*') {
      const { decision } = evaluatePrincipal(world, world.caller, action, resource, conditions);
      if (decision !== 'allowed') {
        throw new AccessDenied(world.caller.arn, action, resource, decision === 'explicitDeny');
      }
    },
  };
}

function failure(e: unknown): AwsError | AccessDenied {
  if (e instanceof AwsError || e instanceof AccessDenied) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new AwsError('InternalFailure', `sandbox: ${message}`, 500, 'Receiver');
}

const JSON_AUTH_ERRORS: Record<Exclude<CredentialCheck, 'ok'>, AwsError> = {
  missing: new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403),
  unknown: new AwsError(
    'UnrecognizedClientException',
    'The security token included in the request is invalid.',
  ),
  expired: new AwsError('ExpiredTokenException', 'The security token included in the request is expired'),
};

const QUERY_AUTH_ERRORS: Record<Exclude<CredentialCheck, 'ok'>, AwsError> = {
  missing: new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403),
  unknown: new AwsError(
    'InvalidClientTokenId',
    'The security token included in the request is invalid.',
    403,
  ),
  expired: new AwsError('ExpiredToken', 'The security token included in the request is expired', 403),
};

const EC2_AUTH_ERRORS: Record<Exclude<CredentialCheck, 'ok'>, AwsError> = {
  missing: new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 401),
  unknown: new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401),
  expired: new AwsError('RequestExpired', 'Request has expired.', 400),
};

async function callJson(
  call: IncomingCall,
  target: string,
  deps: RouterDeps,
  requestId: string,
): Promise<WireResponse> {
  const parsed = parseTarget(target);
  const service = parsed && JSON_SERVICES.find((s) => s.targetPrefix === parsed.prefix);
  try {
    const credential = parseAuthorization(header(call, 'authorization'));
    const check = checkCredential(credential, deps.state);
    if (check !== 'ok') throw JSON_AUTH_ERRORS[check];
    const operation = parsed && service?.operations[parsed.operation];
    if (!service || !operation || !parsed) {
      throw new AwsError('UnknownOperationException', `The sandbox does not emulate ${target}.`);
    }
    const input = new JsonInput(parseJsonBody(call.body), service.invalidInputCode);
    const result = await operation(input, context(deps, requestId, credential?.accessKeyId ?? ''));
    return jsonResult(result, requestId);
  } catch (e) {
    return jsonError(failure(e), requestId);
  }
}

const BY_VERSION = new Map(QUERY_SERVICES.map((s) => [s.version, s]));

function memberNamer(service: QueryService): (list: string) => string {
  const names = service.listMembers ?? {};
  return (list) => names[list] ?? 'member';
}

async function callQuery(call: IncomingCall, deps: RouterDeps, requestId: string): Promise<WireResponse> {
  const params = new URLSearchParams(call.body.toString('utf8'));
  for (const [k, v] of call.url.searchParams) if (!params.has(k)) params.set(k, v);
  const credential = parseAuthorization(header(call, 'authorization')) ?? parsePresigned(params);
  const version = params.get('Version') ?? '';
  const service =
    QUERY_SERVICES.find(
      (s) => s.signingName === credential?.service && (version === '' || s.version === version),
    ) ?? BY_VERSION.get(version);
  if (!service) {
    const error = new AwsError(
      'InvalidAction',
      `The sandbox cannot route this request (Version "${version}").`,
    );
    return queryError(error, '', requestId);
  }
  const input = new QueryInput(params, service.missingParameterCode);
  const fail = (e: unknown) =>
    service.protocol === 'ec2'
      ? ec2Error(failure(e), requestId)
      : queryError(failure(e), service.xmlns, requestId);
  try {
    const check = checkCredential(credential, deps.state);
    if (check !== 'ok') throw (service.protocol === 'ec2' ? EC2_AUTH_ERRORS : QUERY_AUTH_ERRORS)[check];
    const action = input.action;
    const operation = service.operations[action];
    if (!operation) {
      throw new AwsError(
        'InvalidAction',
        `Could not find operation ${action} for version ${service.version}`,
      );
    }
    const result = await operation(input, context(deps, requestId, credential?.accessKeyId ?? ''));
    return service.protocol === 'ec2'
      ? ec2Result(action, service.xmlns, result ?? {}, requestId)
      : queryResult(action, service.xmlns, result, requestId, memberNamer(service));
  } catch (e) {
    return fail(e);
  }
}

/** Handles one AWS API call. Never throws: every failure becomes the protocol's error shape. */
export async function routeAwsCall(call: IncomingCall, deps: RouterDeps): Promise<WireResponse> {
  const requestId = randomUUID();
  const target = header(call, 'x-amz-target');
  if (target) return callJson(call, target, deps, requestId);
  if (header(call, 'smithy-protocol') === 'rpc-v2-cbor') {
    const error = new AwsError('UnknownOperationException', 'The sandbox does not speak rpc-v2-cbor.');
    return jsonError(error, requestId);
  }
  return callQuery(call, deps, requestId);
}
