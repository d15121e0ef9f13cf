// `coderdb doctor` as a library call: every troubleshooting step of the runbook, the ECS Exec
// prerequisites amazon-ecs-exec-checker looks at, the database side, and a real `select 1`, run
// as a DAG of checks with timeouts. The ids are a stable interface (scripts read them from
// `--json`); add new checks, never rename old ones.
//
//   aws.credentials        credentials resolve (MFA asked on a terminal), sts:GetCallerIdentity,
//                          and the policies do not deny them for lack of MFA
//   ecs.cluster            the cluster exists and is ACTIVE
//   ecs.service            the service exists and is ACTIVE
//   ecs.service-exec       the service has enableExecuteCommand
//   ecs.task               a task is RUNNING, or why not (scaled to 0, last stop reason)
//   ecs.task-exec          the running task was started with exec (else a new deployment)
//   ecs.platform-version   Fargate platform 1.4.0 or later
//   ecs.exec-agent         the container's ExecuteCommandAgent is RUNNING, or its reason
//   taskdef.readonly-root  no readonlyRootFilesystem on the container
//   taskdef.init-process   initProcessEnabled (warning only)
//   taskdef.pid-mode       no pidMode "task" (warning only)
//   taskdef.aws-keys       no AWS access keys in the container's environment or secrets
//   iam.task-role          the task role allows the four ssmmessages channel actions
//   iam.caller             the caller may ecs:ExecuteCommand (exec) / ssm:StartSession (tunnel)
//   exec-config.kms        the exec KMS key is enabled, caller kms:GenerateDataKey, role kms:Decrypt
//   exec-config.logging    the exec logging target exists and the task role may write to it
//   secret.value           the secret exists, is readable, parses as a URL or RDS JSON
//   rds.instance           the RDS instance is available
//   rds.endpoint           the secret's host and port are the instance's endpoint
//   network.db-ingress     the RDS security group admits the service's group on the DB port
//   network.ssm-route      the task reaches Session Manager (NAT, endpoint, or public IP)
//   logs.database-errors   database errors in the log group over the last hour (warning only)
//   probe.select           `select 1` over the profile's transport, with its latency
//   reader.role            reads run as a role that cannot write (warning only)

import { awsModule } from '../../aws/clients.js';
import { usageError } from '../../core/errors.js';
import { auditSinkCheck } from './checks/audit-sink.js';
import { rdsEndpointCheck, rdsInstanceCheck, secretCheck } from './checks/database.js';
import {
  clusterCheck,
  execAgentCheck,
  platformVersionCheck,
  serviceCheck,
  serviceExecCheck,
  taskCheck,
  taskExecCheck,
} from './checks/ecs.js';
import { kmsCheck, loggingCheck } from './checks/exec-config.js';
import { callerCheck, taskRoleCheck } from './checks/iam.js';
import { credentialsCheck } from './checks/identity.js';
import { databaseErrorsCheck } from './checks/logs.js';
import { dbIngressCheck, ssmRouteCheck } from './checks/network.js';
import { probeCheck } from './checks/probe.js';
import { readerCheck } from './checks/reader.js';
import { awsKeysCheck, initProcessCheck, pidModeCheck, readonlyRootCheck } from './checks/task-definition.js';
import { DoctorContext, type DoctorInput } from './context.js';
import { runChecks } from './runner.js';
import type { CheckResult, CheckSpec, Finding } from './types.js';

export type { DoctorInput } from './context.js';
export type { CheckResult, CheckStatus } from './types.js';

/** Every check, in the order they are reported. */
export const CHECKS: readonly CheckSpec<DoctorContext>[] = [
  credentialsCheck,
  clusterCheck,
  serviceCheck,
  serviceExecCheck,
  taskCheck,
  taskExecCheck,
  platformVersionCheck,
  execAgentCheck,
  readonlyRootCheck,
  initProcessCheck,
  pidModeCheck,
  awsKeysCheck,
  taskRoleCheck,
  callerCheck,
  kmsCheck,
  loggingCheck,
  secretCheck,
  rdsInstanceCheck,
  rdsEndpointCheck,
  dbIngressCheck,
  ssmRouteCheck,
  databaseErrorsCheck,
  probeCheck,
  readerCheck,
  auditSinkCheck,
];

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface DoctorOptions {
  /** Per-check timeout (the end-to-end probe allows itself longer). */
  timeoutMs?: number;
  /** Run only these checks, and the checks they depend on. */
  only?: readonly string[];
  onResult?: (result: CheckResult) => void;
}

export interface DoctorReport {
  checks: CheckResult[];
  /** No check failed (warnings and skips do not count). */
  ok: boolean;
  durationMs: number;
}

/** The id, title and dependencies of every check, for documentation and `--list`. */
export function checkCatalog(): { id: string; title: string; dependsOn: readonly string[] }[] {
  return CHECKS.map((check) => ({ id: check.id, title: check.title, dependsOn: check.dependsOn ?? [] }));
}

export async function runDoctor(input: DoctorInput, options: DoctorOptions = {}): Promise<DoctorReport> {
  const started = performance.now();
  const controller = new AbortController();
  const context = new DoctorContext(input, controller.signal);
  const specs = select(options.only);
  // Loading the SDK's client modules takes a while on a busy machine; doing it before the clocks
  // start keeps the per-check timeouts about AWS answering, not about reading node_modules.
  if (specs.some((spec) => spec.id !== 'probe.select')) await preloadClients();
  try {
    const checks = await runChecks(specs, context, {
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      adjust: (spec, finding) => forTransport(context, spec, finding),
      ...(options.onResult ? { onResult: options.onResult } : {}),
    });
    return {
      checks,
      ok: checks.every((check) => check.status !== 'fail'),
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    // Whatever is still in flight (a lookup a timed-out check started) stops here.
    controller.abort();
  }
}

const CLIENT_MODULES = ['sts', 'ecs', 'iam', 'kms', 'secrets', 'rds', 'ec2', 'logs'] as const;

async function preloadClients(): Promise<void> {
  await Promise.all(CLIENT_MODULES.map((name) => awsModule(name)));
}

/** The selected checks plus everything they depend on, in report order. */
function select(only: readonly string[] | undefined): CheckSpec<DoctorContext>[] {
  if (!only || only.length === 0) return [...CHECKS];
  const byId = new Map(CHECKS.map((check) => [check.id, check]));
  const wanted = new Set<string>();
  const add = (id: string) => {
    const check = byId.get(id);
    if (!check) {
      throw usageError('doctor.unknown-check', `there is no check named "${id}"`, {
        hint: `checks: ${CHECKS.map((c) => c.id).join(', ')}`,
      });
    }
    if (wanted.has(id)) return;
    wanted.add(id);
    for (const dep of check.dependsOn ?? []) add(dep);
  };
  for (const id of only) add(id);
  return CHECKS.filter((check) => wanted.has(check.id));
}

/**
 * A failure that cannot affect the profile's transport is reported as a warning: the direct
 * transport never goes through the ECS Exec agent, and with a URL of its own needs no AWS at all.
 */
function forTransport(context: DoctorContext, spec: CheckSpec<DoctorContext>, finding: Finding): Finding {
  if (finding.status !== 'fail' || context.effectiveTransport !== 'direct') return finding;
  if (spec.scope === 'agent') {
    return {
      ...finding,
      status: 'warn',
      finding: `${finding.finding} (only the exec and tunnel transports need this; this profile uses ${context.transportLabel})`,
    };
  }
  if (spec.scope === 'aws' && context.hasOwnUrl()) {
    return {
      ...finding,
      status: 'warn',
      finding: `${finding.finding} (the direct transport with a URL needs no AWS)`,
    };
  }
  return finding;
}
