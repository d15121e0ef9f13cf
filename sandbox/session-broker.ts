// The seam between the emulated AWS APIs (sandbox/aws) and the emulated agent side of the SSM data
// channel (sandbox/agent). ECS ExecuteCommand and SSM StartSession/ResumeSession/TerminateSession
// call a broker; the agent implements it and serves the WebSocket behind the stream URL.

/** What ECS ExecuteCommand asks for: a command in a container of a running task. */
export interface ExecSessionRequest {
  kind: 'exec';
  cluster: string;
  taskArn: string;
  taskId: string;
  container: string;
  runtimeId: string;
  /** The command string as given to ExecuteCommand (split shell-style by the agent). */
  command: string;
  /** The cluster's executeCommandConfiguration.kmsKeyId, when sessions must be encrypted. */
  kmsKeyId?: string;
}

/** What SSM StartSession asks for with a port-forwarding document. */
export interface PortSessionRequest {
  kind: 'port';
  /** `ecs:<cluster>_<taskId>_<runtimeId>` */
  target: string;
  documentName: string;
  parameters: Record<string, string[]>;
}

export type SessionRequest = ExecSessionRequest | PortSessionRequest;

export interface SessionGrant {
  sessionId: string;
  tokenValue: string;
  /** ws://127.0.0.1:<port>/v1/data-channel/<sessionId>?role=publish_subscribe */
  streamUrl: string;
}

export interface SessionBroker {
  open(request: SessionRequest): SessionGrant;
  /** A new token for a live session (ssm:ResumeSession); undefined when it is gone or timed out. */
  resume(sessionId: string): SessionGrant | undefined;
  /** Ends a session (ssm:TerminateSession); false when unknown. */
  terminate(sessionId: string): boolean;
  /** Whether the agent has ended the session itself (its command exited, a Flag, a timeout). */
  ended?(sessionId: string): boolean;
}
