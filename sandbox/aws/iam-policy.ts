// A small IAM policy evaluator, used both to authorize emulated API calls and to answer
// iam:SimulatePrincipalPolicy: explicit Deny wins, then any Allow, else implicit deny. It matches
// Action/NotAction (case-insensitive) and Resource/NotResource (case-sensitive) with `*` and `?`
// wildcards. Conditions are evaluated only for the Bool and StringEquals operators (and their
// IfExists forms) against the request context the caller passes (the endpoint passes
// `aws:MultiFactorAuthPresent`, which is how "deny unless signed in with MFA" policies work); a
// statement with any other condition operator never matches.

import type { IamPrincipal, PolicyDocument, PolicyStatement, World } from './world.js';

export type EvalDecision = 'allowed' | 'explicitDeny' | 'implicitDeny';

/**
 * Condition keys of the request, e.g. `{ 'aws:MultiFactorAuthPresent': 'true' }`. A key that is
 * absent is absent, as in IAM: long-term access keys carry no `aws:MultiFactorAuthPresent`.
 */
export type RequestContext = Record<string, string>;

/** A policy as IAM reports it in MatchedStatements. */
export interface SourcePolicy {
  id: string;
  type: 'user' | 'role' | 'user-managed' | 'aws-managed';
  document: PolicyDocument;
}

export interface MatchedStatement {
  sourcePolicyId: string;
  sourcePolicyType: SourcePolicy['type'];
  statementIndex: number;
  /** 1-based line/column span of the statement in the policy text `policyText` produces. */
  start: { line: number; column: number };
  end: { line: number; column: number };
}

export interface Evaluation {
  decision: EvalDecision;
  matched: MatchedStatement[];
}

const globCache = new Map<string, RegExp>();

/** `*` matches any run of characters, `?` exactly one. */
export function globMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const key = `${ignoreCase ? 'i' : 's'}:${pattern}`;
  let re = globCache.get(key);
  if (!re) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    globCache.set(key, re);
  }
  return re.test(value);
}

function list(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value : [value];
}

const CONDITION_OPERATORS = ['Bool', 'BoolIfExists', 'StringEquals', 'StringEqualsIfExists'];

/** Every operator and key must hold; the values of one key are alternatives. */
function conditionHolds(
  condition: NonNullable<PolicyStatement['Condition']>,
  context: RequestContext,
): boolean {
  for (const [operator, keys] of Object.entries(condition)) {
    if (!CONDITION_OPERATORS.includes(operator)) return false;
    const ifExists = operator.endsWith('IfExists');
    const bool = operator.startsWith('Bool');
    for (const [key, expected] of Object.entries(keys)) {
      const actual = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
      if (actual === undefined) {
        if (ifExists) continue;
        return false;
      }
      const values = Array.isArray(expected) ? expected : [expected];
      const same = (v: string) => (bool ? v.toLowerCase() === actual.toLowerCase() : v === actual);
      if (!values.some(same)) return false;
    }
  }
  return true;
}

function statementMatches(
  s: PolicyStatement,
  action: string,
  resource: string,
  context: RequestContext,
): boolean {
  if (s.Condition && Object.keys(s.Condition).length > 0 && !conditionHolds(s.Condition, context)) {
    return false;
  }
  const actions = list(s.Action);
  const notActions = list(s.NotAction);
  const actionOk = actions
    ? actions.some((p) => globMatch(p, action, true))
    : notActions
      ? !notActions.some((p) => globMatch(p, action, true))
      : false;
  if (!actionOk) return false;
  const resources = list(s.Resource);
  const notResources = list(s.NotResource);
  if (resources) return resources.some((p) => globMatch(p, resource, false));
  if (notResources) return !notResources.some((p) => globMatch(p, resource, false));
  return false;
}

/** The policy text IAM stores and returns (before URL encoding): two-space indented JSON. */
export function policyText(document: PolicyDocument): string {
  return JSON.stringify(document, null, 2);
}

/** Where each statement of `policyText(document)` starts and ends (1-based line and column). */
function statementSpans(document: PolicyDocument): Pick<MatchedStatement, 'start' | 'end'>[] {
  const spans: Pick<MatchedStatement, 'start' | 'end'>[] = [];
  let inStatements = false;
  let start: number | undefined;
  policyText(document)
    .split('\n')
    .forEach((l, i) => {
      if (l.startsWith('  "Statement": [')) inStatements = true;
      else if (!inStatements) return;
      else if (l === '    {') start = i + 1;
      else if ((l === '    }' || l === '    },') && start !== undefined) {
        spans.push({ start: { line: start, column: 5 }, end: { line: i + 1, column: 6 } });
        start = undefined;
      } else if (l === '  ]' || l === '  ],') inStatements = false;
    });
  return spans;
}

export function evaluate(
  policies: SourcePolicy[],
  action: string,
  resource: string,
  context: RequestContext = {},
): Evaluation {
  const allows: MatchedStatement[] = [];
  const denies: MatchedStatement[] = [];
  for (const p of policies) {
    let spans: ReturnType<typeof statementSpans> | undefined;
    p.document.Statement.forEach((s, i) => {
      if (!statementMatches(s, action, resource, context)) return;
      spans ??= statementSpans(p.document);
      const span = spans[i] ?? { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
      const m = { sourcePolicyId: p.id, sourcePolicyType: p.type, statementIndex: i, ...span };
      (s.Effect === 'Deny' ? denies : allows).push(m);
    });
  }
  if (denies.length > 0) return { decision: 'explicitDeny', matched: denies };
  if (allows.length > 0) return { decision: 'allowed', matched: allows };
  return { decision: 'implicitDeny', matched: [] };
}

/** A user's or role's identity policies (inline and attached managed), as evaluation sources. */
export function principalPolicies(world: World, principal: IamPrincipal): SourcePolicy[] {
  const isRole = principal.arn.includes(':role/');
  const out: SourcePolicy[] = Object.entries(principal.inlinePolicies).map(([name, document]) => ({
    id: name,
    type: isRole ? 'role' : 'user',
    document,
  }));
  for (const policyArn of principal.attachedPolicyArns) {
    const managed = world.managedPolicies.find((p) => p.arn === policyArn);
    if (!managed) continue;
    const type = policyArn.startsWith('arn:aws:iam::aws:') ? 'aws-managed' : 'user-managed';
    out.push({ id: managed.name, type, document: managed.document });
  }
  return out;
}

/** Evaluates an action on a resource for a principal of the world. */
export function evaluatePrincipal(
  world: World,
  principal: IamPrincipal,
  action: string,
  resource: string,
  context: RequestContext = {},
): Evaluation {
  return evaluate(principalPolicies(world, principal), action, resource, context);
}
