// Reads IAM identity policies the way `aws iam get-role-policy` shows them and decides an action on
// a resource with the shared evaluator (src/aws/iam-policy.ts). This is the fallback for callers who
// may read policies but not call iam:SimulatePrincipalPolicy. The request's context is unknown
// here, so a statement with a Condition makes the answer `conditional` instead of guessing; SCPs,
// permission boundaries and resource policies are out of sight, which the findings say.

import { evaluatePolicies, type PolicyDocument } from '../../aws/iam-policy.js';

export type { PolicyDocument };

export type Answer = 'allowed' | 'denied' | 'explicitDeny' | 'conditional' | 'unknown';

/** A policy document as IAM returns it: JSON, URL-encoded by the Query API. */
export function parsePolicyDocument(text: string): PolicyDocument {
  let json = text;
  if (/^\s*%7B/i.test(text)) {
    try {
      json = decodeURIComponent(text);
    } catch {
      json = text;
    }
  }
  const parsed = JSON.parse(json) as PolicyDocument;
  if (typeof parsed !== 'object' || parsed === null)
    throw new Error('a policy document must be a JSON object');
  return parsed;
}

export function decide(documents: readonly PolicyDocument[], action: string, resource: string): Answer {
  const { decision } = evaluatePolicies(documents, action, resource);
  return decision === 'implicitDeny' ? 'denied' : decision;
}
