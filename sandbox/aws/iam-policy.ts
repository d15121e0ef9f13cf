// IAM's side of policy evaluation for the emulated endpoint: which policies a principal has (inline
// and attached managed), the policy text IAM stores, and decisions in the form of
// iam:SimulatePrincipalPolicy, with each matched statement's policy and position in that text. The
// evaluation itself is src/aws/iam-policy.ts, the same code the doctor uses when it can read
// policies but not simulate them; the endpoint passes the request's context (e.g.
// `aws:MultiFactorAuthPresent`), so every condition is decided.

import { type Decision, evaluatePolicies, type RequestContext } from '../../src/aws/iam-policy.js';
import type { IamPrincipal, PolicyDocument, World } from './world.js';

export type EvalDecision = Decision;

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
  const { decision, matched } = evaluatePolicies(
    policies.map((p) => p.document),
    action,
    resource,
    context,
  );
  const spans = new Map<number, ReturnType<typeof statementSpans>>();
  return {
    decision,
    matched: matched.map(({ document, statement }) => {
      const p = policies[document]!;
      if (!spans.has(document)) spans.set(document, statementSpans(p.document));
      const span = spans.get(document)?.[statement] ?? {
        start: { line: 1, column: 1 },
        end: { line: 1, column: 1 },
      };
      return { sourcePolicyId: p.id, sourcePolicyType: p.type, statementIndex: statement, ...span };
    }),
  };
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
