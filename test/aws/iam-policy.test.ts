// The one IAM policy evaluator in its two modes: with a request context (the sandbox authorizing a
// call) every condition is decided; without one (the doctor reading policies) a statement with a
// condition leaves the answer `conditional`, and a conditional Deny outweighs any Allow.

import { describe, expect, it } from 'vitest';
import { evaluatePolicies, type PolicyDocument } from '../../src/aws/iam-policy.js';

const documents: PolicyDocument[] = [
  { Statement: { Effect: 'Allow', Action: 'ecs:*', Resource: '*' } },
  {
    Statement: [
      { Effect: 'Allow', Action: 'logs:FilterLogEvents', Resource: '*' },
      {
        Effect: 'Deny',
        Action: 'ecs:ExecuteCommand',
        Resource: '*',
        Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } },
      },
    ],
  },
];

describe('evaluatePolicies', () => {
  it('decides conditions against a request context, naming the statements that decided', () => {
    expect(
      evaluatePolicies(documents, 'ecs:ExecuteCommand', '*', { 'aws:MultiFactorAuthPresent': 'false' }),
    ).toEqual({ decision: 'explicitDeny', matched: [{ document: 1, statement: 1 }] });
    expect(
      evaluatePolicies(documents, 'ecs:ExecuteCommand', '*', { 'aws:MultiFactorAuthPresent': 'true' }),
    ).toEqual({ decision: 'allowed', matched: [{ document: 0, statement: 0 }] });
    expect(evaluatePolicies(documents, 'kms:Decrypt', '*', {})).toEqual({
      decision: 'implicitDeny',
      matched: [],
    });
  });

  it('without a context, says conditional where a condition could decide', () => {
    expect(evaluatePolicies(documents, 'ecs:ExecuteCommand', '*').decision).toBe('conditional');
    expect(evaluatePolicies(documents, 'ecs:DescribeTasks', '*').decision).toBe('allowed');
    expect(evaluatePolicies(documents, 'logs:FilterLogEvents', '*').matched).toEqual([
      { document: 1, statement: 0 },
    ]);
  });
});
