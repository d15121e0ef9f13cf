// The fallback policy evaluator: what `get-role-policy` shows, decided the way IAM decides.

import { describe, expect, it } from 'vitest';
import { globMatch } from '../../../src/aws/iam-policy.js';
import { decide, parsePolicyDocument } from '../../../src/ops/doctor/policy-eval.js';

describe('policy evaluator', () => {
  const documents = [
    {
      Statement: [
        { Effect: 'Allow', Action: ['ssmmessages:*'], Resource: '*' },
        {
          Effect: 'Allow',
          Action: 'ecs:ExecuteCommand',
          Resource: 'arn:aws:ecs:us-east-1:1:task/coder-cluster/*',
        },
        { Effect: 'Deny', Action: 'ecs:StopTask', Resource: '*' },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': 'x' } },
        },
      ],
    },
    { Statement: { Effect: 'Allow', NotAction: 'iam:*', NotResource: 'arn:aws:s3:::private/*' } },
  ];

  it('allows by wildcard, denies explicitly, and says so when conditions decide', () => {
    expect(decide(documents, 'SSMMessages:OpenDataChannel', '*')).toBe('allowed');
    expect(decide(documents, 'ecs:ExecuteCommand', 'arn:aws:ecs:us-east-1:1:task/coder-cluster/abc')).toBe(
      'allowed',
    );
    expect(decide(documents, 'ecs:StopTask', 'arn:aws:ecs:us-east-1:1:task/coder-cluster/abc')).toBe(
      'explicitDeny',
    );
    expect(decide(documents, 'iam:GetRole', '*')).toBe('denied');
    expect(decide(documents, 's3:GetObject', 'arn:aws:s3:::private/key')).toBe('denied');
    expect(decide(documents, 's3:GetObject', 'arn:aws:s3:::public/key')).toBe('allowed');
    expect(decide([documents[0]!], 'kms:Decrypt', 'arn:aws:kms:us-east-1:1:key/k')).toBe('conditional');
  });

  it('reads URL-encoded documents as IAM returns them, and plain JSON', () => {
    const text = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'a:b', Resource: '*' }],
    });
    expect(parsePolicyDocument(encodeURIComponent(text))).toEqual(JSON.parse(text));
    expect(parsePolicyDocument(text)).toEqual(JSON.parse(text));
    expect(globMatch('ab?d*', 'abcdef', false)).toBe(true);
    expect(globMatch('AB*', 'abc', false)).toBe(false);
  });
});
