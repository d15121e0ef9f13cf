// The client's side of the session handshake (§5): turn the agent's HandshakeRequest into our
// HandshakeResponse, creating the KMS session cipher when the agent asks for encryption. Kept apart
// from the channel so the decisions (which session types we accept, what goes into the encryption
// context, what a failure looks like on the wire) can be read and tested on their own.

import {
  ActionStatus,
  ActionType,
  type HandshakeRequest,
  type HandshakeResponse,
  type KmsEncryptionRequest,
  type KmsEncryptionResponse,
  type ProcessedClientAction,
  SessionTypeName,
} from './codec.js';
import { DATA_KEY_LENGTH, SessionCipher } from './crypto.js';
import type { KmsDataKeyProvider } from './kms.js';

export interface EncryptionSettings {
  kms: KmsDataKeyProvider;
  /** `ecs:<cluster>_<taskId>_<runtimeId>` for ECS; goes into the KMS encryption context. */
  targetId: string;
  /**
   * Bind the data key to the agent's random challenge (`aws:ssm:RandomChallenge` in the context,
   * `ChallengeAcknowledgement: true`). The 1.2.677.0 plugin does not; agents only require it when
   * RequireKMSChallengeResponse is set. Off by default so we look exactly like the plugin.
   */
  acknowledgeChallenge?: boolean;
}

export interface HandshakeContext {
  sessionId: string;
  clientVersion: string;
  encryption?: EncryptionSettings;
  /** Bounds the KMS call; the agent itself gives up after 15 s. */
  withDeadline: <T>(promise: Promise<T>) => Promise<T>;
}

export interface HandshakeAnswer {
  response: HandshakeResponse;
  agentVersion: string;
  sessionType: string | undefined;
  properties: unknown;
  cipher: SessionCipher | undefined;
  /** Why we could not honour an action; the agent cancels the session when any status ≠ 1. */
  failures: string[];
}

const SUPPORTED_SESSION_TYPES = new Set<string>(Object.values(SessionTypeName));

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

export async function answerHandshake(
  request: HandshakeRequest,
  context: HandshakeContext,
): Promise<HandshakeAnswer> {
  const answer: HandshakeAnswer = {
    response: { ClientVersion: context.clientVersion, ProcessedClientActions: [], Errors: null },
    agentVersion: request.AgentVersion,
    sessionType: undefined,
    properties: null,
    cipher: undefined,
    failures: [],
  };
  const processed = (action: ProcessedClientAction) => {
    answer.response.ProcessedClientActions.push(action);
    if (action.Error) answer.failures.push(action.Error);
  };

  for (const action of request.RequestedClientActions) {
    if (action.ActionType === ActionType.sessionType) {
      const params = asRecord(action.ActionParameters);
      const sessionType = typeof params.SessionType === 'string' ? params.SessionType : '';
      if (SUPPORTED_SESSION_TYPES.has(sessionType)) {
        answer.sessionType = sessionType;
        answer.properties = params.Properties ?? null;
        processed({
          ActionType: action.ActionType,
          ActionStatus: ActionStatus.success,
          ActionResult: null,
          Error: '',
        });
      } else {
        processed({
          ActionType: action.ActionType,
          ActionStatus: ActionStatus.failed,
          ActionResult: null,
          Error: `Failed to process action SessionType: unsupported type ${JSON.stringify(sessionType)}`,
        });
      }
    } else if (action.ActionType === ActionType.kmsEncryption) {
      processed(await answerKmsAction(action.ActionParameters, context, answer));
    } else {
      // The plugin writes Unsupported into ActionResult by mistake; the status field is what counts.
      processed({
        ActionType: action.ActionType,
        ActionStatus: ActionStatus.unsupported,
        ActionResult: null,
        Error: `Unsupported action ${action.ActionType}`,
      });
    }
  }
  if (answer.failures.length > 0) answer.response.Errors = [...answer.failures];
  return answer;
}

async function answerKmsAction(
  parameters: unknown,
  context: HandshakeContext,
  answer: HandshakeAnswer,
): Promise<ProcessedClientAction> {
  const failed = (reason: string): ProcessedClientAction => ({
    ActionType: ActionType.kmsEncryption,
    ActionStatus: ActionStatus.failed,
    ActionResult: null,
    Error: `Failed to process action KMSEncryption: ${reason}`,
  });
  const settings = context.encryption;
  if (!settings) return failed('this client was not given a KMS data-key provider');
  const params = asRecord(parameters) as Partial<KmsEncryptionRequest>;
  if (typeof params.KMSKeyId !== 'string' || params.KMSKeyId === '')
    return failed('the agent sent no KMSKeyId');

  const encryptionContext: Record<string, string> = {
    'aws:ssm:SessionId': context.sessionId,
    'aws:ssm:TargetId': settings.targetId,
  };
  const bindChallenge = settings.acknowledgeChallenge === true && typeof params.Challenge === 'string';
  if (bindChallenge) encryptionContext['aws:ssm:RandomChallenge'] = params.Challenge as string;

  try {
    const key = await context.withDeadline(
      settings.kms.generateDataKey({
        keyId: params.KMSKeyId,
        encryptionContext,
        numberOfBytes: DATA_KEY_LENGTH,
      }),
    );
    answer.cipher = new SessionCipher(key.plaintext, 'client');
    const result: KmsEncryptionResponse = {
      KMSCipherTextKey: Buffer.from(key.ciphertextBlob).toString('base64'),
      KMSCipherTextHash: null,
    };
    if (bindChallenge) result.ChallengeAcknowledgement = true;
    return {
      ActionType: ActionType.kmsEncryption,
      ActionStatus: ActionStatus.success,
      ActionResult: result,
      Error: '',
    };
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  }
}
