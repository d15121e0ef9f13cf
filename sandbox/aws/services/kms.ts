// AWS KMS (awsJson1_1, target prefix TrentService): DescribeKey, GenerateDataKey and Decrypt over
// the world's keys, with real key material from kms-keyring.ts, so a client that encrypts an ECS
// Exec session (GenerateDataKey with the session's encryption context) and the agent side
// (decryptDataKey) agree on the data key, and a wrong context is rejected.

import { randomBytes } from 'node:crypto';
import { AwsError } from '../errors.js';
import { blobKeyArn, InvalidCiphertext, unwrapDataKey, wrapDataKey } from '../kms-keyring.js';
import type { JsonInput } from '../protocol/json-input.js';
import type { KmsKey, World } from '../world.js';
import type { JsonService, ServiceContext } from './types.js';

/** Resolves a key id, key ARN, alias name or alias ARN. */
export function findKey(world: World, ref: string): KmsKey | undefined {
  const aliasArn = /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(ref);
  const alias = aliasArn ? aliasArn[1] : ref.startsWith('alias/') ? ref : undefined;
  if (alias) return world.kmsKeys.find((k) => k.aliases.includes(alias));
  return world.kmsKeys.find((k) => k.keyId === ref || k.arn === ref);
}

function notFound(world: World, ref: string): AwsError {
  if (ref.startsWith('alias/') || ref.includes(':alias/')) {
    const full = ref.startsWith('arn:') ? ref : `arn:aws:kms:${world.region}:${world.account}:${ref}`;
    return new AwsError('NotFoundException', `Alias ${full} is not found.`);
  }
  const full = ref.startsWith('arn:') ? ref : `arn:aws:kms:${world.region}:${world.account}:key/${ref}`;
  return new AwsError('NotFoundException', `Key '${full}' does not exist`);
}

function requireUsableKey(ctx: ServiceContext, ref: string, action: string): KmsKey {
  const key = findKey(ctx.world, ref);
  if (!key) throw notFound(ctx.world, ref);
  ctx.authorize(action, key.arn);
  if (key.keyState === 'Disabled' || !key.enabled)
    throw new AwsError('DisabledException', `${key.arn} is disabled.`);
  if (key.keyState !== 'Enabled')
    throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  return key;
}

function describeKey(input: JsonInput, ctx: ServiceContext): unknown {
  const ref = input.requiredString('KeyId');
  const key = findKey(ctx.world, ref);
  if (!key) throw notFound(ctx.world, ref);
  ctx.authorize('kms:DescribeKey', key.arn);
  return {
    KeyMetadata: {
      AWSAccountId: ctx.world.account,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: new Date(key.createdAt),
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.keyState,
      Origin: 'AWS_KMS',
      KeyManager: key.keyManager,
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    },
  };
}

function generateDataKey(input: JsonInput, ctx: ServiceContext): unknown {
  const key = requireUsableKey(ctx, input.requiredString('KeyId'), 'kms:GenerateDataKey');
  const numberOfBytes = input.number('NumberOfBytes');
  const keySpec = input.string('KeySpec');
  if ((numberOfBytes === undefined) === (keySpec === undefined)) {
    throw new AwsError('ValidationException', 'Please specify either number of bytes or key spec.');
  }
  let size: number;
  if (keySpec !== undefined) {
    if (keySpec !== 'AES_256' && keySpec !== 'AES_128') {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value '${keySpec}' at 'keySpec' failed to satisfy constraint.`,
      );
    }
    size = keySpec === 'AES_256' ? 32 : 16;
  } else {
    size = numberOfBytes ?? 0;
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value '${size}' at 'numberOfBytes' failed to satisfy constraint: ` +
          'Member must have value less than or equal to 1024',
      );
    }
  }
  const plaintext = randomBytes(size);
  const context = input.stringMap('EncryptionContext');
  return { CiphertextBlob: wrapDataKey(key.arn, plaintext, context), Plaintext: plaintext, KeyId: key.arn };
}

function decrypt(input: JsonInput, ctx: ServiceContext): unknown {
  const blob = input.blob('CiphertextBlob');
  if (!blob || blob.length === 0) throw new AwsError('ValidationException', 'CiphertextBlob is required.');
  const blobArn = blobKeyArn(blob);
  if (!blobArn) throw new AwsError('InvalidCiphertextException', '');
  const key = requireUsableKey(ctx, blobArn, 'kms:Decrypt');
  const keyRef = input.string('KeyId');
  if (keyRef !== undefined && findKey(ctx.world, keyRef)?.arn !== key.arn) {
    throw new AwsError(
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
  }
  try {
    const { plaintext } = unwrapDataKey(blob, input.stringMap('EncryptionContext'));
    return { KeyId: key.arn, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  } catch (e) {
    if (e instanceof InvalidCiphertext) throw new AwsError('InvalidCiphertextException', '');
    throw e;
  }
}

export const kmsService: JsonService = {
  protocol: 'json',
  targetPrefix: 'TrentService',
  signingName: 'kms',
  invalidInputCode: 'ValidationException',
  operations: {
    DescribeKey: describeKey,
    GenerateDataKey: generateDataKey,
    Decrypt: decrypt,
  },
};
