import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsDataKeyProvider } from '../../src/ssm/kms.js';

// A loopback stand-in for kms:GenerateDataKey (awsJson1_1), recording what the SDK sent.
const requests: Array<{ target: string | undefined; body: Record<string, unknown> }> = [];
const server = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => {
    body += chunk;
  });
  request.on('end', () => {
    requests.push({ target: request.headers['x-amz-target'] as string | undefined, body: JSON.parse(body) });
    response.setHeader('content-type', 'application/x-amz-json-1.1');
    response.end(
      JSON.stringify({
        KeyId: 'arn:aws:kms:us-east-1:123456789012:key/test',
        Plaintext: Buffer.alloc(64, 7).toString('base64'),
        CiphertextBlob: Buffer.from('blob').toString('base64'),
      }),
    );
  });
});
let endpoint = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('createKmsDataKeyProvider', () => {
  it('calls GenerateDataKey with the key, context and size the agent asked for', async () => {
    const client = new KMSClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    });
    const provider = createKmsDataKeyProvider(client);
    const key = await provider.generateDataKey({
      keyId: 'alias/ecs-exec',
      encryptionContext: { 'aws:ssm:SessionId': 's-1', 'aws:ssm:TargetId': 'ecs:c_t_r' },
      numberOfBytes: 64,
    });
    client.destroy();
    expect(Buffer.from(key.plaintext)).toEqual(Buffer.alloc(64, 7));
    expect(Buffer.from(key.ciphertextBlob).toString()).toBe('blob');
    expect(requests).toEqual([
      {
        target: 'TrentService.GenerateDataKey',
        body: {
          KeyId: 'alias/ecs-exec',
          EncryptionContext: { 'aws:ssm:SessionId': 's-1', 'aws:ssm:TargetId': 'ecs:c_t_r' },
          NumberOfBytes: 64,
        },
      },
    ]);
  });
});
