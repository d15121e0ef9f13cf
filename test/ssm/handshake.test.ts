import { describe, expect, it } from 'vitest';
import type { HandshakeRequest } from '../../src/ssm/codec.js';
import { SessionCipher } from '../../src/ssm/crypto.js';
import { answerHandshake, type HandshakeContext } from '../../src/ssm/handshake.js';
import type { DataKeyRequest } from '../../src/ssm/kms.js';

const dataKey = Buffer.alloc(64, 9);

function context(overrides: Partial<HandshakeContext> = {}, calls: DataKeyRequest[] = []): HandshakeContext {
  return {
    sessionId: 'ecs-execute-command-1',
    clientVersion: '1.2.677.0',
    encryption: {
      targetId: 'ecs:c_t_r',
      kms: {
        async generateDataKey(request) {
          calls.push(request);
          return { plaintext: dataKey, ciphertextBlob: Buffer.from('blob') };
        },
      },
    },
    withDeadline: (promise) => promise,
    ...overrides,
  };
}

const shell: HandshakeRequest = {
  AgentVersion: '3.3.987.0',
  RequestedClientActions: [
    { ActionType: 'SessionType', ActionParameters: { SessionType: 'InteractiveCommands', Properties: null } },
  ],
};

describe('answerHandshake', () => {
  it('accepts a shell session type exactly as the plugin does', async () => {
    const answer = await answerHandshake(shell, context());
    expect(JSON.stringify(answer.response)).toBe(
      '{"ClientVersion":"1.2.677.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,' +
        '"ActionResult":null,"Error":""}],"Errors":null}',
    );
    expect(answer).toMatchObject({
      sessionType: 'InteractiveCommands',
      agentVersion: '3.3.987.0',
      failures: [],
    });
  });

  it('keeps Port properties for port sessions', async () => {
    const properties = { portNumber: '5432', type: 'LocalPortForwarding' };
    const answer = await answerHandshake(
      {
        AgentVersion: '3.3.987.0',
        RequestedClientActions: [
          { ActionType: 'SessionType', ActionParameters: { SessionType: 'Port', Properties: properties } },
        ],
      },
      context(),
    );
    expect(answer.properties).toEqual(properties);
  });

  it('fails unknown session types and unknown actions', async () => {
    const answer = await answerHandshake(
      {
        AgentVersion: '3.3.987.0',
        RequestedClientActions: [
          { ActionType: 'SessionType', ActionParameters: { SessionType: 'Telepathy' } },
          { ActionType: 'Teleport', ActionParameters: {} },
        ],
      },
      context(),
    );
    expect(answer.response.ProcessedClientActions.map((a) => a.ActionStatus)).toEqual([2, 3]);
    expect(answer.failures).toHaveLength(2);
    expect(answer.response.Errors).toHaveLength(2);
  });

  it('generates a 64-byte data key under the session and target context', async () => {
    const calls: DataKeyRequest[] = [];
    const answer = await answerHandshake(
      {
        ...shell,
        RequestedClientActions: [
          ...shell.RequestedClientActions,
          {
            ActionType: 'KMSEncryption',
            ActionParameters: { KMSKeyId: 'arn:key', Challenge: 'Q0hBTExFTkdF' },
          },
        ],
      },
      context({}, calls),
    );
    expect(calls).toEqual([
      {
        keyId: 'arn:key',
        numberOfBytes: 64,
        encryptionContext: { 'aws:ssm:SessionId': 'ecs-execute-command-1', 'aws:ssm:TargetId': 'ecs:c_t_r' },
      },
    ]);
    expect(answer.response.ProcessedClientActions[1]).toEqual({
      ActionType: 'KMSEncryption',
      ActionStatus: 1,
      ActionResult: { KMSCipherTextKey: Buffer.from('blob').toString('base64'), KMSCipherTextHash: null },
      Error: '',
    });
    const agent = new SessionCipher(dataKey, 'agent');
    expect(answer.cipher?.decrypt(agent.encrypt(Buffer.from('x'))).toString()).toBe('x');
  });

  it('binds the random challenge only when asked to', async () => {
    const calls: DataKeyRequest[] = [];
    const base = context({}, calls);
    const answer = await answerHandshake(
      {
        ...shell,
        RequestedClientActions: [
          { ActionType: 'KMSEncryption', ActionParameters: { KMSKeyId: 'k', Challenge: 'abc' } },
        ],
      },
      { ...base, encryption: { ...base.encryption!, acknowledgeChallenge: true } },
    );
    expect(calls[0]?.encryptionContext['aws:ssm:RandomChallenge']).toBe('abc');
    expect(answer.response.ProcessedClientActions[0]?.ActionResult).toMatchObject({
      ChallengeAcknowledgement: true,
    });
  });

  it('reports a failed KMS action when there is no provider or KMS fails', async () => {
    const kmsRequest: HandshakeRequest = {
      ...shell,
      RequestedClientActions: [{ ActionType: 'KMSEncryption', ActionParameters: { KMSKeyId: 'k' } }],
    };
    const none = await answerHandshake(kmsRequest, context({ encryption: undefined }));
    expect(none.response.ProcessedClientActions[0]?.ActionStatus).toBe(2);
    expect(none.cipher).toBeUndefined();
    const failing = await answerHandshake(
      kmsRequest,
      context({
        encryption: {
          targetId: 't',
          kms: {
            generateDataKey: async () => {
              throw new Error('AccessDenied');
            },
          },
        },
      }),
    );
    expect(failing.failures[0]).toContain('AccessDenied');
  });
});
