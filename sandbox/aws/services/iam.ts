// AWS IAM (awsQuery, version 2010-05-08): read access to the task role, the execution role and the
// caller's user, their policies (documents URL-encoded, as IAM returns them) and MFA devices, and
// SimulatePrincipalPolicy (with ContextEntries) answered by the same evaluator that authorizes
// this endpoint's calls.

import type { RequestContext } from '../../../src/aws/iam-policy.js';
import { AwsError } from '../errors.js';
import { evaluate, policyText, principalPolicies } from '../iam-policy.js';
import type { QueryInput } from '../protocol/query.js';
import type { XmlValue } from '../protocol/xml.js';
import type { IamPrincipal, IamRole, ManagedPolicy, PolicyDocument, World } from '../world.js';
import type { QueryService, ServiceContext } from './types.js';

const noSuchEntity = (message: string) => new AwsError('NoSuchEntity', message, 404);

function encodePolicy(document: PolicyDocument): string {
  return encodeURIComponent(policyText(document));
}

function requireRole(input: QueryInput, ctx: ServiceContext, action: string): IamRole {
  const name = input.requiredString('RoleName');
  ctx.authorize(action, `arn:aws:iam::${ctx.world.account}:role/${name}`);
  const role = ctx.world.roles.find((r) => r.name === name);
  if (!role) throw noSuchEntity(`The role with name ${name} cannot be found.`);
  return role;
}

function requireUser(input: QueryInput, ctx: ServiceContext, action: string): IamPrincipal {
  const name = input.string('UserName') ?? ctx.world.caller.name;
  ctx.authorize(action, `arn:aws:iam::${ctx.world.account}:user/${name}`);
  if (name !== ctx.world.caller.name) throw noSuchEntity(`The user with name ${name} cannot be found.`);
  return ctx.world.caller;
}

function requirePolicy(input: QueryInput, ctx: ServiceContext, action: string): ManagedPolicy {
  const policyArn = input.requiredString('PolicyArn');
  ctx.authorize(action, policyArn);
  const policy = ctx.world.managedPolicies.find((p) => p.arn === policyArn);
  if (!policy) throw noSuchEntity(`Policy ${policyArn} does not exist or is not attachable.`);
  return policy;
}

function attachmentCount(world: World, policyArn: string): number {
  return [world.caller, ...world.roles].filter((p) => p.attachedPolicyArns.includes(policyArn)).length;
}

function getRole(input: QueryInput, ctx: ServiceContext) {
  const role = requireRole(input, ctx, 'iam:GetRole');
  return {
    Role: {
      Path: role.path,
      RoleName: role.name,
      RoleId: role.id,
      Arn: role.arn,
      CreateDate: new Date(role.createdAt),
      AssumeRolePolicyDocument: encodePolicy(role.assumeRolePolicy),
      Description: role.description,
      MaxSessionDuration: role.maxSessionDuration,
      RoleLastUsed: { LastUsedDate: new Date(ctx.world.builtAt - 60_000), Region: ctx.world.region },
    },
  };
}

function inlinePolicy(principal: IamPrincipal, name: string, kind: 'role' | 'user'): PolicyDocument {
  const doc = principal.inlinePolicies[name];
  if (!doc) throw noSuchEntity(`The ${kind} policy with name ${name} cannot be found.`);
  return doc;
}

function getRolePolicy(input: QueryInput, ctx: ServiceContext) {
  const role = requireRole(input, ctx, 'iam:GetRolePolicy');
  const name = input.requiredString('PolicyName');
  return {
    RoleName: role.name,
    PolicyName: name,
    PolicyDocument: encodePolicy(inlinePolicy(role, name, 'role')),
  };
}

function listRolePolicies(input: QueryInput, ctx: ServiceContext) {
  const role = requireRole(input, ctx, 'iam:ListRolePolicies');
  return { PolicyNames: Object.keys(role.inlinePolicies), IsTruncated: false };
}

function attached(world: World, principal: IamPrincipal): XmlValue {
  return principal.attachedPolicyArns.map((arn) => ({
    PolicyName: world.managedPolicies.find((p) => p.arn === arn)?.name ?? arn.slice(arn.lastIndexOf('/') + 1),
    PolicyArn: arn,
  }));
}

function listAttachedRolePolicies(input: QueryInput, ctx: ServiceContext) {
  const role = requireRole(input, ctx, 'iam:ListAttachedRolePolicies');
  return { AttachedPolicies: attached(ctx.world, role), IsTruncated: false };
}

function getUser(input: QueryInput, ctx: ServiceContext) {
  const user = requireUser(input, ctx, 'iam:GetUser');
  return {
    User: {
      Path: user.path,
      UserName: user.name,
      UserId: user.id,
      Arn: user.arn,
      CreateDate: new Date(user.createdAt),
    },
  };
}

function getUserPolicy(input: QueryInput, ctx: ServiceContext) {
  const user = requireUser(input, ctx, 'iam:GetUserPolicy');
  const name = input.requiredString('PolicyName');
  return {
    UserName: user.name,
    PolicyName: name,
    PolicyDocument: encodePolicy(inlinePolicy(user, name, 'user')),
  };
}

function listUserPolicies(input: QueryInput, ctx: ServiceContext) {
  const user = requireUser(input, ctx, 'iam:ListUserPolicies');
  return { PolicyNames: Object.keys(user.inlinePolicies), IsTruncated: false };
}

function listAttachedUserPolicies(input: QueryInput, ctx: ServiceContext) {
  const user = requireUser(input, ctx, 'iam:ListAttachedUserPolicies');
  return { AttachedPolicies: attached(ctx.world, user), IsTruncated: false };
}

function listMfaDevices(input: QueryInput, ctx: ServiceContext) {
  const user = requireUser(input, ctx, 'iam:ListMFADevices');
  return {
    MFADevices: (user.mfaDevices ?? []).map((d) => ({
      UserName: user.name,
      SerialNumber: d.serialNumber,
      EnableDate: new Date(d.enabledAt),
    })),
    IsTruncated: false,
  };
}

/** `ContextEntries.member.N.ContextKeyName` / `….ContextKeyValues.member.M` → first value per key. */
function contextEntries(input: QueryInput): RequestContext {
  const context: RequestContext = {};
  const re = /^ContextEntries\.member\.(\d+)\.ContextKeyName$/;
  for (const [k, name] of input.params) {
    const m = re.exec(k);
    if (!m) continue;
    const values = input.list(`ContextEntries.member.${m[1]}.ContextKeyValues`);
    if (values[0] !== undefined) context[name] = values[0];
  }
  return context;
}

function listGroupsForUser(input: QueryInput, ctx: ServiceContext) {
  requireUser(input, ctx, 'iam:ListGroupsForUser');
  return { Groups: [], IsTruncated: false };
}

function getPolicy(input: QueryInput, ctx: ServiceContext) {
  const p = requirePolicy(input, ctx, 'iam:GetPolicy');
  return {
    Policy: {
      PolicyName: p.name,
      PolicyId: p.policyId,
      Arn: p.arn,
      Path: p.path,
      DefaultVersionId: p.defaultVersionId,
      AttachmentCount: attachmentCount(ctx.world, p.arn),
      PermissionsBoundaryUsageCount: 0,
      IsAttachable: true,
      Description: p.description,
      CreateDate: new Date(p.createdAt),
      UpdateDate: new Date(p.updatedAt),
    },
  };
}

function getPolicyVersion(input: QueryInput, ctx: ServiceContext) {
  const p = requirePolicy(input, ctx, 'iam:GetPolicyVersion');
  const versionId = input.requiredString('VersionId');
  if (versionId !== p.defaultVersionId) {
    throw noSuchEntity(`Policy ${p.arn} version ${versionId} does not exist or is not attachable.`);
  }
  return {
    PolicyVersion: {
      Document: encodePolicy(p.document),
      VersionId: versionId,
      IsDefaultVersion: true,
      CreateDate: new Date(p.updatedAt),
    },
  };
}

function principalByArn(world: World, arn: string): IamPrincipal {
  if (arn === world.caller.arn) return world.caller;
  const role = world.roles.find((r) => r.arn === arn);
  if (role) return role;
  const m = /^arn:aws:iam::\d{12}:(user|role|group)\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (!m) throw new AwsError('InvalidInput', `Invalid ARN: ${arn}`);
  throw noSuchEntity(`The ${m[1]} with name ${m[2]} cannot be found.`);
}

function simulatePrincipalPolicy(input: QueryInput, ctx: ServiceContext) {
  const sourceArn = input.requiredString('PolicySourceArn');
  ctx.authorize('iam:SimulatePrincipalPolicy', sourceArn);
  const principal = principalByArn(ctx.world, sourceArn);
  const actions = input.list('ActionNames');
  if (actions.length === 0) throw new AwsError('ValidationError', 'ActionNames must not be empty.');
  const resources = input.list('ResourceArns');
  const context = contextEntries(input);
  const policies = principalPolicies(ctx.world, principal);
  const results: XmlValue[] = [];
  for (const action of actions) {
    for (const resource of resources.length > 0 ? resources : ['*']) {
      const { decision, matched } = evaluate(policies, action, resource, context);
      results.push({
        EvalActionName: action,
        EvalResourceName: resource,
        EvalDecision: decision,
        MatchedStatements: matched.map((m) => ({
          SourcePolicyId: m.sourcePolicyId,
          SourcePolicyType: m.sourcePolicyType,
          StartPosition: { Line: m.start.line, Column: m.start.column },
          EndPosition: { Line: m.end.line, Column: m.end.column },
        })),
        MissingContextValues: [],
      });
    }
  }
  return { EvaluationResults: results, IsTruncated: false };
}

export const iamService: QueryService = {
  protocol: 'query',
  signingName: 'iam',
  version: '2010-05-08',
  xmlns: 'https://iam.amazonaws.com/doc/2010-05-08/',
  missingParameterCode: 'ValidationError',
  operations: {
    GetRole: getRole,
    GetRolePolicy: getRolePolicy,
    ListRolePolicies: listRolePolicies,
    ListAttachedRolePolicies: listAttachedRolePolicies,
    GetUser: getUser,
    GetUserPolicy: getUserPolicy,
    ListUserPolicies: listUserPolicies,
    ListAttachedUserPolicies: listAttachedUserPolicies,
    ListGroupsForUser: listGroupsForUser,
    ListMFADevices: listMfaDevices,
    GetPolicy: getPolicy,
    GetPolicyVersion: getPolicyVersion,
    SimulatePrincipalPolicy: simulatePrincipalPolicy,
  },
};
