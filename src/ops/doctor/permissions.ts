// May this principal do these actions on these resources? Asked of IAM's own evaluator
// (iam:SimulatePrincipalPolicy, as amazon-ecs-exec-checker does) and, when the caller may not
// simulate, answered from the principal's inline and attached policies read the runbook's way
// (`get-role-policy`, `list-attached-role-policies`, …) with a local evaluator.

import type { IAMClient } from '@aws-sdk/client-iam';
import { awsModule } from '../../aws/clients.js';
import { AwsCallFailure } from './aws-failure.js';
import type { DoctorContext } from './context.js';
import { type Answer, decide, type PolicyDocument, parsePolicyDocument } from './policy-eval.js';

export interface Principal {
  kind: 'user' | 'role' | 'root' | 'other';
  /** The ARN IAM simulates: a user's or role's ARN (an assumed-role session maps to its role). */
  arn: string;
  name: string;
}

export interface Question {
  action: string;
  resource: string;
}

export interface Answered extends Question {
  answer: Answer;
}

export interface PermissionReport {
  answers: Answered[];
  /** How the answers were reached. */
  via: 'simulation' | 'policies' | 'none';
  /** Why the answers are less certain than a simulation's, when they are. */
  note?: string;
}

/** The principal behind an STS caller ARN. */
export function callerPrincipal(arn: string): Principal {
  const user = /^arn:([^:]+):iam::(\d+):user\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (user) return { kind: 'user', arn, name: user[3]! };
  const session = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(arn);
  if (session) {
    return {
      kind: 'role',
      arn: `arn:${session[1]}:iam::${session[2]}:role/${session[3]}`,
      name: session[3]!,
    };
  }
  const role = /^arn:([^:]+):iam::(\d+):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (role) return { kind: 'role', arn, name: role[3]! };
  if (/^arn:[^:]+:iam::\d+:root$/.test(arn)) return { kind: 'root', arn, name: 'root' };
  return { kind: 'other', arn, name: arn };
}

export function rolePrincipal(roleArn: string): Principal {
  return { kind: 'role', arn: roleArn, name: roleArn.split('/').at(-1) ?? roleArn };
}

/** A short label: `user operator`, `role coder-ecs-task-role`. */
export function principalLabel(principal: Principal): string {
  return principal.kind === 'root' || principal.kind === 'other'
    ? principal.arn
    : `${principal.kind} ${principal.name}`;
}

const simulationDenied = new WeakMap<DoctorContext, boolean>();

export async function checkPermissions(
  ctx: DoctorContext,
  principal: Principal,
  questions: readonly Question[],
): Promise<PermissionReport> {
  if (principal.kind === 'root') {
    return {
      answers: questions.map((q) => ({ ...q, answer: 'allowed' })),
      via: 'policies',
      note: 'the root user may do anything',
    };
  }
  if (principal.kind === 'other') {
    return {
      answers: questions.map((q) => ({ ...q, answer: 'unknown' })),
      via: 'none',
      note: `cannot evaluate the policies of ${principal.arn}`,
    };
  }
  if (!simulationDenied.get(ctx)) {
    try {
      return { answers: await simulate(ctx, principal, questions), via: 'simulation' };
    } catch (error) {
      if (!(error instanceof AwsCallFailure && error.denied)) throw error;
      simulationDenied.set(ctx, true);
    }
  }
  let documents: PolicyDocument[];
  try {
    documents = await policiesOf(ctx, principal);
  } catch (error) {
    if (!(error instanceof AwsCallFailure && error.denied)) throw error;
    return {
      answers: questions.map((q) => ({ ...q, answer: 'unknown' })),
      via: 'none',
      note: `neither iam:SimulatePrincipalPolicy nor reading the policies of ${principalLabel(principal)} (${error.action}) is allowed`,
    };
  }
  return {
    answers: questions.map((q) => ({ ...q, answer: decide(documents, q.action, q.resource) })),
    via: 'policies',
    note: 'read from its policies (iam:SimulatePrincipalPolicy is not allowed); SCPs and permission boundaries were not evaluated',
  };
}

async function simulate(
  ctx: DoctorContext,
  principal: Principal,
  questions: readonly Question[],
): Promise<Answered[]> {
  const { SimulatePrincipalPolicyCommand } = await awsModule('iam');
  const iam = await ctx.aws.iam();
  const byResource = new Map<string, string[]>();
  for (const q of questions) byResource.set(q.resource, [...(byResource.get(q.resource) ?? []), q.action]);
  const decisions = new Map<string, Answer>();
  await Promise.all(
    [...byResource].map(async ([resource, actions]) => {
      let marker: string | undefined;
      for (let page = 0; page < 5; page++) {
        const answer = await ctx.call('iam:SimulatePrincipalPolicy', principal.arn, (abortSignal) =>
          iam.send(
            new SimulatePrincipalPolicyCommand({
              PolicySourceArn: principal.arn,
              ActionNames: [...new Set(actions)],
              ...(resource === '*' ? {} : { ResourceArns: [resource] }),
              ...(marker ? { Marker: marker } : {}),
            }),
            { abortSignal },
          ),
        );
        for (const result of answer.EvaluationResults ?? []) {
          const decision = result.EvalDecision;
          decisions.set(
            `${result.EvalActionName?.toLowerCase()} ${resource}`,
            decision === 'allowed' ? 'allowed' : decision === 'explicitDeny' ? 'explicitDeny' : 'denied',
          );
        }
        marker = answer.IsTruncated ? answer.Marker : undefined;
        if (!marker) break;
      }
    }),
  );
  return questions.map((q) => ({
    ...q,
    answer: decisions.get(`${q.action.toLowerCase()} ${q.resource}`) ?? 'unknown',
  }));
}

/** Every identity policy of a user (with its groups') or role, parsed. */
function policiesOf(ctx: DoctorContext, principal: Principal): Promise<PolicyDocument[]> {
  return ctx.memo(`policies:${principal.arn}`, async () => {
    const sdk = await awsModule('iam');
    const iam = await ctx.aws.iam();
    if (principal.kind === 'role') {
      const RoleName = principal.name;
      const names = await pages(ctx, 'iam:ListRolePolicies', principal.arn, (Marker, abortSignal) =>
        iam.send(new sdk.ListRolePoliciesCommand({ RoleName, Marker }), { abortSignal }).then((a) => ({
          items: a.PolicyNames ?? [],
          next: a.IsTruncated ? a.Marker : undefined,
        })),
      );
      const inline = await Promise.all(
        names.map(async (PolicyName) => {
          const answer = await ctx.call('iam:GetRolePolicy', principal.arn, (abortSignal) =>
            iam.send(new sdk.GetRolePolicyCommand({ RoleName, PolicyName }), { abortSignal }),
          );
          return parsePolicyDocument(answer.PolicyDocument ?? '{}');
        }),
      );
      const attached = await pages(
        ctx,
        'iam:ListAttachedRolePolicies',
        principal.arn,
        (Marker, abortSignal) =>
          iam
            .send(new sdk.ListAttachedRolePoliciesCommand({ RoleName, Marker }), { abortSignal })
            .then((a) => ({
              items: (a.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ''),
              next: a.IsTruncated ? a.Marker : undefined,
            })),
      );
      return [...inline, ...(await managedDocuments(ctx, iam, attached))];
    }
    const UserName = principal.name;
    const names = await pages(ctx, 'iam:ListUserPolicies', principal.arn, (Marker, abortSignal) =>
      iam.send(new sdk.ListUserPoliciesCommand({ UserName, Marker }), { abortSignal }).then((a) => ({
        items: a.PolicyNames ?? [],
        next: a.IsTruncated ? a.Marker : undefined,
      })),
    );
    const inline = await Promise.all(
      names.map(async (PolicyName) => {
        const answer = await ctx.call('iam:GetUserPolicy', principal.arn, (abortSignal) =>
          iam.send(new sdk.GetUserPolicyCommand({ UserName, PolicyName }), { abortSignal }),
        );
        return parsePolicyDocument(answer.PolicyDocument ?? '{}');
      }),
    );
    const attached = await pages(ctx, 'iam:ListAttachedUserPolicies', principal.arn, (Marker, abortSignal) =>
      iam.send(new sdk.ListAttachedUserPoliciesCommand({ UserName, Marker }), { abortSignal }).then((a) => ({
        items: (a.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ''),
        next: a.IsTruncated ? a.Marker : undefined,
      })),
    );
    const groups = await pages(ctx, 'iam:ListGroupsForUser', principal.arn, (Marker, abortSignal) =>
      iam.send(new sdk.ListGroupsForUserCommand({ UserName, Marker }), { abortSignal }).then((a) => ({
        items: (a.Groups ?? []).map((g) => g.GroupName ?? ''),
        next: a.IsTruncated ? a.Marker : undefined,
      })),
    );
    const groupDocuments: PolicyDocument[] = [];
    for (const GroupName of groups) {
      const groupNames = await pages(ctx, 'iam:ListGroupPolicies', GroupName, (Marker, abortSignal) =>
        iam.send(new sdk.ListGroupPoliciesCommand({ GroupName, Marker }), { abortSignal }).then((a) => ({
          items: a.PolicyNames ?? [],
          next: a.IsTruncated ? a.Marker : undefined,
        })),
      );
      for (const PolicyName of groupNames) {
        const answer = await ctx.call('iam:GetGroupPolicy', GroupName, (abortSignal) =>
          iam.send(new sdk.GetGroupPolicyCommand({ GroupName, PolicyName }), { abortSignal }),
        );
        groupDocuments.push(parsePolicyDocument(answer.PolicyDocument ?? '{}'));
      }
      const groupAttached = await pages(
        ctx,
        'iam:ListAttachedGroupPolicies',
        GroupName,
        (Marker, abortSignal) =>
          iam
            .send(new sdk.ListAttachedGroupPoliciesCommand({ GroupName, Marker }), { abortSignal })
            .then((a) => ({
              items: (a.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ''),
              next: a.IsTruncated ? a.Marker : undefined,
            })),
      );
      groupDocuments.push(...(await managedDocuments(ctx, iam, groupAttached)));
    }
    return [...inline, ...(await managedDocuments(ctx, iam, attached)), ...groupDocuments];
  });
}

async function managedDocuments(
  ctx: DoctorContext,
  iam: IAMClient,
  arns: string[],
): Promise<PolicyDocument[]> {
  const { GetPolicyCommand, GetPolicyVersionCommand } = await awsModule('iam');
  return Promise.all(
    arns.filter(Boolean).map((PolicyArn) =>
      ctx.memo(`managed:${PolicyArn}`, async () => {
        const policy = await ctx.call('iam:GetPolicy', PolicyArn, (abortSignal) =>
          iam.send(new GetPolicyCommand({ PolicyArn }), { abortSignal }),
        );
        const VersionId = policy.Policy?.DefaultVersionId ?? 'v1';
        const version = await ctx.call('iam:GetPolicyVersion', PolicyArn, (abortSignal) =>
          iam.send(new GetPolicyVersionCommand({ PolicyArn, VersionId }), { abortSignal }),
        );
        return parsePolicyDocument(version.PolicyVersion?.Document ?? '{}');
      }),
    ),
  );
}

/** Follows IAM's Marker pagination, at most ten pages. */
async function pages<T>(
  ctx: DoctorContext,
  action: string,
  resource: string,
  page: (
    marker: string | undefined,
    signal: AbortSignal,
  ) => Promise<{ items: T[]; next: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let marker: string | undefined;
  for (let i = 0; i < 10; i++) {
    const answer = await ctx.call(action, resource, (signal) => page(marker, signal));
    items.push(...answer.items);
    marker = answer.next;
    if (!marker) break;
  }
  return items;
}

/** One line per question: `ssmmessages:OpenDataChannel on *: allowed`. */
export function describeAnswers(report: PermissionReport): string[] {
  const lines = report.answers.map(
    (a) => `${a.action}${a.resource === '*' ? '' : ` on ${a.resource}`}: ${a.answer}`,
  );
  if (report.note) lines.push(report.note);
  return lines;
}
