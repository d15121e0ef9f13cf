// Key material behind the emulated KMS keys. Each key id gets a random 256-bit master key the
// first time it is used in this process; a data key is wrapped with AES-256-GCM under it, with the
// canonical encryption context as additional authenticated data. The ciphertext blob names its key,
// so Decrypt (and the agent side, through `decryptDataKey`) needs no KeyId, and a different
// encryption context fails authentication exactly as KMS rejects it.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const MAGIC = Buffer.from('SBXK1', 'ascii');
const masterKeys = new Map<string, Buffer>();

function masterKey(keyArn: string): Buffer {
  let key = masterKeys.get(keyArn);
  if (!key) {
    key = randomBytes(32);
    masterKeys.set(keyArn, key);
  }
  return key;
}

/** Sorted-key JSON of the context, so the order of its entries does not matter. */
function canonicalContext(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/** Wraps `plaintext` under the key: MAGIC | len(arn) u16 | arn | iv(12) | tag(16) | ciphertext. */
export function wrapDataKey(keyArn: string, plaintext: Buffer, context?: Record<string, string>): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey(keyArn), iv);
  cipher.setAAD(canonicalContext(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const name = Buffer.from(keyArn, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(name.length);
  return Buffer.concat([MAGIC, len, name, iv, cipher.getAuthTag(), body]);
}

/** The key ARN a blob was made with, or undefined when it is not one of ours. */
export function blobKeyArn(blob: Uint8Array): string | undefined {
  const b = Buffer.from(blob);
  if (b.length < MAGIC.length + 2 || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const len = b.readUInt16BE(MAGIC.length);
  if (b.length < MAGIC.length + 2 + len + 28) return undefined;
  return b.subarray(MAGIC.length + 2, MAGIC.length + 2 + len).toString('utf8');
}

export class InvalidCiphertext extends Error {
  constructor() {
    super('The ciphertext is invalid, was made with another key, or the encryption context differs.');
    this.name = 'InvalidCiphertextException';
  }
}

/** Unwraps a blob made by `wrapDataKey`; throws InvalidCiphertext on any mismatch. */
export function unwrapDataKey(
  blob: Uint8Array,
  context?: Record<string, string>,
): { keyArn: string; plaintext: Buffer } {
  const keyArn = blobKeyArn(blob);
  const key = keyArn === undefined ? undefined : masterKeys.get(keyArn);
  if (keyArn === undefined || !key) throw new InvalidCiphertext();
  const b = Buffer.from(blob);
  const at = MAGIC.length + 2 + Buffer.byteLength(keyArn, 'utf8');
  const iv = b.subarray(at, at + 12);
  const tag = b.subarray(at + 12, at + 28);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(canonicalContext(context));
  decipher.setAuthTag(tag);
  try {
    return { keyArn, plaintext: Buffer.concat([decipher.update(b.subarray(at + 28)), decipher.final()]) };
  } catch {
    throw new InvalidCiphertext();
  }
}

/**
 * What the agent side calls with the `KMSCipherTextKey` a client sent in its handshake: the same
 * semantics as kms:Decrypt (the encryption context must match the one used at GenerateDataKey).
 * Returns the plaintext data key; throws `InvalidCiphertext` otherwise.
 */
export function decryptDataKey(
  ciphertextBlob: Uint8Array,
  encryptionContext: Record<string, string>,
): Buffer {
  return unwrapDataKey(ciphertextBlob, encryptionContext).plaintext;
}
