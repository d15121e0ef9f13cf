// KMS session encryption for the SSM data channel (§5.4), as pure functions over Buffers.
// One 64-byte KMS data key is split in two halves, one per direction, and each stream payload is
// sealed with AES-256-GCM: a fresh 12-byte nonce, prepended to the ciphertext, and no associated
// data. Client and agent use the halves the other way round, so each side's encrypt key is the
// other side's decrypt key.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** KMS GenerateDataKey NumberOfBytes for Session Manager. */
export const DATA_KEY_LENGTH = 64;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;

export type CipherRole = 'client' | 'agent';

export interface SessionKeys {
  encryptKey: Buffer;
  decryptKey: Buffer;
}

/**
 * Client: decrypt = plaintext[0:32], encrypt = plaintext[32:64]. Agent: the opposite
 * (SMP encrypter.go, AGENT blockcipher.go UpdateEncryptionKey).
 */
export function splitDataKey(plaintext: Uint8Array, role: CipherRole): SessionKeys {
  if (plaintext.length !== DATA_KEY_LENGTH) {
    throw new RangeError(`KMS data key must be ${DATA_KEY_LENGTH} bytes, got ${plaintext.length}`);
  }
  const first = Buffer.from(plaintext.subarray(0, 32));
  const second = Buffer.from(plaintext.subarray(32, 64));
  return role === 'client'
    ? { decryptKey: first, encryptKey: second }
    : { encryptKey: first, decryptKey: second };
}

/** nonce ‖ ciphertext ‖ tag, the layout Go's `append(nonce, gcm.Seal(…)…)` produces. */
export function sealPayload(
  key: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array = randomBytes(NONCE_LENGTH),
) {
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`nonce must be ${NONCE_LENGTH} bytes`);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export class PayloadDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadDecryptError';
  }
}

/** Opens nonce ‖ ciphertext ‖ tag; throws PayloadDecryptError when it is short or forged. */
export function openPayload(key: Uint8Array, sealed: Uint8Array): Buffer {
  if (sealed.length < NONCE_LENGTH + TAG_LENGTH) {
    throw new PayloadDecryptError(`sealed payload of ${sealed.length} bytes is too short`);
  }
  const nonce = sealed.subarray(0, NONCE_LENGTH);
  const tag = sealed.subarray(sealed.length - TAG_LENGTH);
  const body = sealed.subarray(NONCE_LENGTH, sealed.length - TAG_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new PayloadDecryptError('payload failed AES-GCM authentication');
  }
}

/** One side's view of an encrypted session. */
export class SessionCipher {
  readonly #keys: SessionKeys;

  constructor(dataKeyPlaintext: Uint8Array, role: CipherRole) {
    this.#keys = splitDataKey(dataKeyPlaintext, role);
  }

  encrypt(plaintext: Uint8Array): Buffer {
    return sealPayload(this.#keys.encryptKey, plaintext);
  }

  decrypt(sealed: Uint8Array): Buffer {
    return openPayload(this.#keys.decryptKey, sealed);
  }

  /**
   * The client's answer to EncChallengeRequest: open the agent's challenge with our decrypt key and
   * seal the same bytes with our encrypt key; the agent opens it and compares (§5.4 step 6).
   */
  answerChallenge(challenge: Uint8Array): Buffer {
    return this.encrypt(this.decrypt(challenge));
  }
}
