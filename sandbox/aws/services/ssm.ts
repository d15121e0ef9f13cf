// AWS Systems Manager (awsJson1_1, target prefix AmazonSSM): the Session Manager calls behind port
// forwarding to an ECS task: StartSession with the AWS port-forwarding documents, ResumeSession,
// TerminateSession and DescribeSessions. Targets are `ecs:<cluster>_<taskId>_<runtimeId>`; a
// target whose agent is not connected fails with TargetNotConnected, as Session Manager does.

import { execAgentConnectivity } from '../derive.js';
import { AwsError } from '../errors.js';
import type { JsonInput } from '../protocol/json-input.js';
import { type EcsTask, taskArnFor, type World } from '../world.js';
import type { JsonService, ServiceContext } from './types.js';

/** The port-forwarding documents and the parameters each requires. */
const DOCUMENTS: Record<string, string[]> = {
  'AWS-StartPortForwardingSessionToRemoteHost': ['host', 'portNumber'],
  'AWS-StartPortForwardingSession': ['portNumber'],
};

interface EcsTarget {
  cluster: string;
  taskId: string;
  runtimeId: string;
}

export function parseEcsTarget(target: string): EcsTarget | undefined {
  const m = /^ecs:([^_]+)_([0-9a-f]{32})_(.+)$/.exec(target);
  return m ? { cluster: m[1]!, taskId: m[2]!, runtimeId: m[3]! } : undefined;
}

function connectedTask(world: World, target: string): EcsTask {
  const notConnected = new AwsError('TargetNotConnected', `${target} is not connected.`);
  const t = parseEcsTarget(target);
  if (!t || t.cluster !== world.cluster.name) throw notConnected;
  const task = world.tasks.find((x) => x.taskId === t.taskId && x.clusterArn === world.cluster.arn);
  const container = task?.containers.find((c) => c.runtimeId === t.runtimeId);
  if (!task || !container || task.lastStatus !== 'RUNNING' || !task.enableExecuteCommand) throw notConnected;
  const agent = container.managedAgents.find((a) => a.name === 'ExecuteCommandAgent');
  if (agent?.lastStatus !== 'RUNNING' || !execAgentConnectivity(world, task).ok) throw notConnected;
  return task;
}

function sessionArn(ctx: ServiceContext, sessionId: string): string {
  return `arn:aws:ssm:${ctx.world.region}:${ctx.world.account}:session/${sessionId}`;
}

function startSession(input: JsonInput, ctx: ServiceContext): unknown {
  const { world } = ctx;
  const target = input.requiredString('Target');
  const documentName = input.string('DocumentName');
  const parsed = parseEcsTarget(target);
  const targetArn = parsed
    ? taskArnFor(parsed.cluster, parsed.taskId)
    : `arn:aws:ec2:${world.region}:${world.account}:instance/${target}`;
  ctx.authorize('ssm:StartSession', targetArn);
  if (documentName !== undefined) {
    ctx.authorize('ssm:StartSession', `arn:aws:ssm:${world.region}::document/${documentName}`);
  }
  const required = documentName === undefined ? undefined : DOCUMENTS[documentName];
  if (documentName === undefined || !required) {
    throw new AwsError(
      'InvalidDocument',
      documentName === undefined
        ? 'The sandbox emulates port-forwarding sessions only; pass a DocumentName.'
        : `Document with name ${documentName} does not exist.`,
    );
  }
  const parameters = input.stringListMap('Parameters') ?? {};
  const missing = required.filter((p) => !parameters[p]?.[0]);
  if (missing.length > 0) {
    throw new AwsError('InvalidParameters', `Missing required parameters: ${missing.join(', ')}.`);
  }
  for (const p of ['portNumber', 'localPortNumber']) {
    const v = parameters[p]?.[0];
    if (v !== undefined && !/^\d{1,5}$/.test(v)) {
      throw new AwsError('InvalidParameters', `Parameter "${p}" "${v}" failed to satisfy constraint.`);
    }
  }
  connectedTask(world, target);
  if (!ctx.broker) throw new AwsError('InternalServerError', 'sandbox: no session broker is attached.', 500);
  const grant = ctx.broker.open({ kind: 'port', target, documentName, parameters });
  ctx.state.sessions.set(grant.sessionId, {
    sessionId: grant.sessionId,
    target,
    documentName,
    startedAt: Date.now(),
    status: 'Connected',
    owner: world.caller.arn,
  });
  return { SessionId: grant.sessionId, TokenValue: grant.tokenValue, StreamUrl: grant.streamUrl };
}

function resumeSession(input: JsonInput, ctx: ServiceContext): unknown {
  const sessionId = input.requiredString('SessionId');
  ctx.authorize('ssm:ResumeSession', sessionArn(ctx, sessionId));
  const known = ctx.state.sessions.get(sessionId);
  const grant = ctx.broker?.resume(sessionId);
  if (grant) return { SessionId: grant.sessionId, TokenValue: grant.tokenValue, StreamUrl: grant.streamUrl };
  // A session this endpoint opened that is gone: no token, which the plugin reports as timed out.
  if (known) return { SessionId: sessionId };
  throw new AwsError('DoesNotExistException', `Session ${sessionId} does not exist.`);
}

function terminateSession(input: JsonInput, ctx: ServiceContext): unknown {
  const sessionId = input.requiredString('SessionId');
  ctx.authorize('ssm:TerminateSession', sessionArn(ctx, sessionId));
  ctx.broker?.terminate(sessionId);
  const record = ctx.state.sessions.get(sessionId);
  if (record && record.status !== 'Terminated') {
    record.status = 'Terminated';
    record.endedAt = Date.now();
  }
  return { SessionId: sessionId };
}

function describeSessions(input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('ssm:DescribeSessions');
  const state = input.requiredString('State');
  if (state !== 'Active' && state !== 'History') {
    throw new AwsError('ValidationException', `State must be Active or History, not ${state}.`);
  }
  // A session the agent ended on its own (the command exited, the client sent Flag
  // TerminateSession) is history, as MGS reports it.
  for (const record of ctx.state.sessions.values()) {
    if (record.status === 'Connected' && ctx.broker?.ended?.(record.sessionId)) {
      record.status = 'Terminated';
      record.endedAt = Date.now();
    }
  }
  const sessions = [...ctx.state.sessions.values()]
    .filter((s) => (state === 'Active' ? s.status === 'Connected' : s.status === 'Terminated'))
    .map((s) => ({
      SessionId: s.sessionId,
      Target: s.target,
      Status: s.status,
      StartDate: new Date(s.startedAt),
      EndDate: s.endedAt === undefined ? undefined : new Date(s.endedAt),
      DocumentName: s.documentName,
      Owner: s.owner,
    }));
  return { Sessions: sessions };
}

export const ssmService: JsonService = {
  protocol: 'json',
  targetPrefix: 'AmazonSSM',
  signingName: 'ssm',
  invalidInputCode: 'ValidationException',
  operations: {
    StartSession: startSession,
    ResumeSession: resumeSession,
    TerminateSession: terminateSession,
    DescribeSessions: describeSessions,
  },
};
