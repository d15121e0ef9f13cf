import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  NONCE_LENGTH,
  openPayload,
  PayloadDecryptError,
  SessionCipher,
  sealPayload,
  splitDataKey,
} from '../../src/ssm/crypto.js';

const dataKey = Buffer.from(Array.from({ length: 64 }, (_, i) => i));

describe('KMS session encryption', () => {
  it('splits the key: the client decrypts with [0:32], encrypts with [32:64]; the agent the opposite', () => {
    const client = splitDataKey(dataKey, 'client');
    const agent = splitDataKey(dataKey, 'agent');
    expect(client.decryptKey).toEqual(dataKey.subarray(0, 32));
    expect(client.encryptKey).toEqual(dataKey.subarray(32, 64));
    expect(agent.encryptKey).toEqual(client.decryptKey);
    expect(agent.decryptKey).toEqual(client.encryptKey);
    expect(() => splitDataKey(dataKey.subarray(0, 32), 'client')).toThrow(RangeError);
  });

  it('seals as nonce ‖ ciphertext ‖ tag with no AAD, like Go gcm.Seal', () => {
    const key = dataKey.subarray(0, 32);
    const nonce = Buffer.alloc(NONCE_LENGTH, 7);
    const sealed = sealPayload(key, Buffer.from('hello'), nonce);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    const expected = Buffer.concat([nonce, cipher.update('hello'), cipher.final(), cipher.getAuthTag()]);
    expect(sealed).toEqual(expected);
    expect(sealed.length).toBe(12 + 5 + 16);
    expect(openPayload(key, sealed).toString()).toBe('hello');
  });

  it('uses a fresh random nonce for every payload', () => {
    const key = randomBytes(32);
    const a = sealPayload(key, Buffer.from('same'));
    const b = sealPayload(key, Buffer.from('same'));
    expect(a.subarray(0, NONCE_LENGTH)).not.toEqual(b.subarray(0, NONCE_LENGTH));
  });

  it('lets each side read what the other wrote, and only that', () => {
    const client = new SessionCipher(dataKey, 'client');
    const agent = new SessionCipher(dataKey, 'agent');
    expect(agent.decrypt(client.encrypt(Buffer.from('input'))).toString()).toBe('input');
    expect(client.decrypt(agent.encrypt(Buffer.from('output'))).toString()).toBe('output');
    expect(() => client.decrypt(client.encrypt(Buffer.from('x')))).toThrow(PayloadDecryptError);
  });

  it('rejects forged and short payloads', () => {
    const agent = new SessionCipher(dataKey, 'agent');
    const client = new SessionCipher(dataKey, 'client');
    const sealed = agent.encrypt(Buffer.from('output'));
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
    expect(() => client.decrypt(sealed)).toThrow(PayloadDecryptError);
    expect(() => client.decrypt(Buffer.alloc(10))).toThrow(PayloadDecryptError);
  });

  it('answers the encryption challenge: open with the decrypt key, seal with the encrypt key', () => {
    const client = new SessionCipher(dataKey, 'client');
    const agent = new SessionCipher(dataKey, 'agent');
    const challenge = randomBytes(64);
    const answer = client.answerChallenge(agent.encrypt(challenge));
    expect(agent.decrypt(answer)).toEqual(challenge);
  });
});
