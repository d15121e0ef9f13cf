// Opening SSM data channels to a task: ECS ExecuteCommand for commands in the container, SSM
// StartSession with a port-forwarding document for tunnels. Both hand the channel the AWS calls it
// needs (ResumeSession after a dropped socket, TerminateSession on abort, KMS for encrypted
// sessions), so the channel itself never loads the SDK.

import type { Profile } from '../core/config.js';
import { connectionError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import { DataChannel, type DataChannelOptions } from '../ssm/channel.js';
import { awsModule } from './clients.js';
import { fromAwsError } from './errors.js';
import type { AwsSession } from './session.js';
import type { TaskTarget } from './tasks.js';

/** The cluster's ECS Exec KMS key, which makes the agent encrypt and handshake. */
export async function execKmsKey(aws: AwsSession, profile: Profile): Promise<string | undefined> {
  const { DescribeClustersCommand } = await awsModule('ecs');
  try {
    const answer = await (await aws.ecs()).send(
      new DescribeClustersCommand({ clusters: [profile.cluster], include: ['CONFIGURATIONS'] }),
    );
    return answer.clusters?.[0]?.configuration?.executeCommandConfiguration?.kmsKeyId || undefined;
  } catch (error) {
    throw fromAwsError(error, 'ecs:DescribeClusters', profile.cluster);
  }
}

export interface ExecChannelOptions {
  /** The cluster's KMS key, if already known (saves a DescribeClusters call per session). */
  kmsKeyId?: string | null;
  channel?: Partial<DataChannelOptions>;
}

/** Runs `command` in the task's container through ECS ExecuteCommand and opens its data channel. */
export async function openExecChannel(
  aws: AwsSession,
  profile: Profile,
  target: TaskTarget,
  command: string,
  options: ExecChannelOptions = {},
): Promise<DataChannel> {
  const kmsKeyId =
    options.kmsKeyId === undefined ? await execKmsKey(aws, profile) : (options.kmsKeyId ?? undefined);
  const { ExecuteCommandCommand } = await awsModule('ecs');
  let session: { sessionId?: string; streamUrl?: string; tokenValue?: string } | undefined;
  try {
    const answer = await (await aws.ecs()).send(
      new ExecuteCommandCommand({
        cluster: target.cluster,
        task: target.taskArn,
        container: target.container,
        command,
        interactive: true,
      }),
    );
    session = answer.session;
  } catch (error) {
    throw explainExecFailure(error, target);
  }
  if (!session?.sessionId || !session.streamUrl || !session.tokenValue) {
    throw connectionError('exec.no-session', 'ECS ExecuteCommand returned no session');
  }
  return openChannel(aws, session.sessionId, session.streamUrl, new Secret(session.tokenValue), {
    handshake: kmsKeyId ? 'required' : 'none',
    ...(kmsKeyId ? { encryption: await encryption(aws, target) } : {}),
    ...options.channel,
  });
}

export interface PortSessionRequest {
  host: string;
  port: number;
  localPort?: number;
}

/** Starts an AWS-StartPortForwardingSessionToRemoteHost session through the task. */
export async function openPortChannel(
  aws: AwsSession,
  target: TaskTarget,
  request: PortSessionRequest,
  channel: Partial<DataChannelOptions> = {},
): Promise<DataChannel> {
  const { StartSessionCommand } = await awsModule('ssm');
  let answer: { SessionId?: string; StreamUrl?: string; TokenValue?: string };
  try {
    answer = await (await aws.ssm()).send(
      new StartSessionCommand({
        Target: target.ssmTarget,
        DocumentName: 'AWS-StartPortForwardingSessionToRemoteHost',
        Parameters: {
          host: [request.host],
          portNumber: [String(request.port)],
          localPortNumber: [String(request.localPort ?? 0)],
        },
      }),
    );
  } catch (error) {
    throw fromAwsError(
      error,
      'ssm:StartSession',
      `${target.ssmTarget}, document AWS-StartPortForwardingSessionToRemoteHost`,
    );
  }
  if (!answer.SessionId || !answer.StreamUrl || !answer.TokenValue) {
    throw connectionError('tunnel.no-session', 'SSM StartSession returned no session');
  }
  return openChannel(aws, answer.SessionId, answer.StreamUrl, new Secret(answer.TokenValue), {
    handshake: 'required',
    ...channel,
  });
}

async function openChannel(
  aws: AwsSession,
  sessionId: string,
  streamUrl: string,
  token: Secret,
  options: Partial<DataChannelOptions>,
): Promise<DataChannel> {
  const opening = DataChannel.open({
    streamUrl,
    token,
    sessionId,
    resumeSession: async () => {
      const { ResumeSessionCommand } = await awsModule('ssm');
      const resumed = await (await aws.ssm()).send(new ResumeSessionCommand({ SessionId: sessionId }));
      return resumed.TokenValue ? new Secret(resumed.TokenValue) : undefined;
    },
    terminateSession: async () => {
      const { TerminateSessionCommand } = await awsModule('ssm');
      await (await aws.ssm()).send(new TerminateSessionCommand({ SessionId: sessionId }));
    },
    ...options,
  });
  // The SSM client (~100 ms to load) is needed only to resume or end the session: it loads while
  // the WebSocket opens and the agent starts the command, not before.
  aws.ssm().catch(() => undefined);
  return opening;
}

async function encryption(aws: AwsSession, target: TaskTarget) {
  const { createKmsDataKeyProvider } = await import('../ssm/kms.js');
  // The KMS client is asked for when the agent's handshake comes, and loads while it is awaited.
  const kms = aws.kms();
  kms.catch(() => undefined);
  return { kms: createKmsDataKeyProvider(() => kms), targetId: target.ssmTarget };
}

function explainExecFailure(error: unknown, target: TaskTarget) {
  const name = (error as { name?: string }).name ?? '';
  const message = (error as Error).message ?? '';
  if (name === 'TargetNotConnectedException') {
    return connectionError(
      'exec.target-not-connected',
      `the ECS Exec agent in task ${target.taskId} cannot be reached: ${message}`,
      {
        hint: 'the task role needs ssmmessages:* and a route to SSM; run `coderdb doctor`',
      },
    );
  }
  if (/InvalidParameter/.test(name) && /execute command/i.test(message)) {
    return connectionError(
      'exec.not-enabled',
      `ECS Exec is not enabled for task ${target.taskId}: ${message}`,
      {
        hint: 'aws ecs update-service --enable-execute-command --force-new-deployment; run `coderdb doctor`',
      },
    );
  }
  return fromAwsError(error, 'ecs:ExecuteCommand', `task ${target.taskId}, container ${target.container}`);
}
