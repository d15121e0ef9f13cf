// The data-key source for KMS-encrypted sessions. The channel only needs "give me 64 bytes of key
// and the blob the agent can decrypt"; this module adapts @aws-sdk/client-kms to that shape so the
// channel itself never imports the SDK (the SDK is loaded only by callers that pass a client).

import type { KMSClient } from '@aws-sdk/client-kms';

export interface DataKeyRequest {
  keyId: string;
  encryptionContext: Record<string, string>;
  numberOfBytes: number;
}

export interface DataKey {
  plaintext: Uint8Array;
  ciphertextBlob: Uint8Array;
}

export type GenerateDataKey = (request: DataKeyRequest) => Promise<DataKey>;

export interface KmsDataKeyProvider {
  generateDataKey: GenerateDataKey;
}

/** kms:GenerateDataKey with the key id, context and size the agent asked for. */
export function createKmsDataKeyProvider(client: KMSClient | (() => Promise<KMSClient>)): KmsDataKeyProvider {
  return {
    async generateDataKey(request) {
      const { GenerateDataKeyCommand } = await import('@aws-sdk/client-kms');
      const out = await (typeof client === 'function' ? await client() : client).send(
        new GenerateDataKeyCommand({
          KeyId: request.keyId,
          EncryptionContext: request.encryptionContext,
          NumberOfBytes: request.numberOfBytes,
        }),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
      return { plaintext: out.Plaintext, ciphertextBlob: out.CiphertextBlob };
    },
  };
}
