import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { redactUrl, rememberSecret, Secret, scrub } from '../../src/core/secret.js';

describe('Secret', () => {
  it('redacts itself however it is printed', () => {
    const secret = new Secret('hunter2-password');
    expect(String(secret)).toBe('[redacted]');
    expect(`${secret}`).toBe('[redacted]');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(inspect({ secret })).not.toContain('hunter2');
    expect(secret.reveal()).toBe('hunter2-password');
  });

  it('scrubs URL credentials, password parameters and remembered values from text', () => {
    expect(scrub('failed: postgres://coder:s3cret@db:5432/coder')).toBe(
      'failed: postgres://coder:***@db:5432/coder',
    );
    expect(scrub('host=db password=abc123 user=x')).toBe('host=db password=*** user=x');
    rememberSecret('token-value-123');
    expect(scrub('the token-value-123 leaked')).toBe('the *** leaked');
    expect(scrub('postgres://coder@db/coder')).toBe('postgres://coder@db/coder');
  });

  it('redacts the password of a URL but keeps where it points', () => {
    expect(redactUrl('postgresql://coder:p%40ss@db.example:5432/coder?sslmode=require')).toBe(
      'postgresql://coder:***@db.example:5432/coder?sslmode=require',
    );
    expect(redactUrl('postgres://u@h/d?password=x')).toBe('postgres://u@h/d?password=***');
  });
});
