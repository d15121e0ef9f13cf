// Permissions on both ends of a session: the task role must let the ExecuteCommandAgent open its
// channels to Session Manager (ssmmessages:*Channel), and the operator must be allowed the call
// the profile's transport makes: ecs:ExecuteCommand on the task for exec, ssm:StartSession on the
// task and the port-forwarding document for tunnel, either for auto, neither for direct.

import { iamStatement, shellQuote } from '../aws-failure.js';
import type { DoctorContext } from '../context.js';
import { taskDefinitionLabel } from '../facts.js';
import {
  type Answered,
  callerPrincipal,
  checkPermissions,
  describeAnswers,
  type PermissionReport,
  type Principal,
  principalLabel,
  rolePrincipal,
} from '../permissions.js';
import { type CheckSpec, type Finding, fail, pass, skip, warn } from '../types.js';
import { listing } from './common.js';

export const SSMMESSAGES_ACTIONS = [
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

export const PORT_FORWARDING_DOCUMENT = 'AWS-StartPortForwardingSessionToRemoteHost';

/** How to give a principal a statement, as a command when IAM lets us name one. */
export function grant(
  principal: Principal,
  actions: string[],
  resources: string[],
  policyName: string,
): string {
  const statement = iamStatement(actions, resources);
  const document = JSON.stringify({ Version: '2012-10-17', Statement: [JSON.parse(statement)] });
  const lines = [
    `allow ${principalLabel(principal)} this (a new inline policy leaves its other policies as they are):`,
    statement,
  ];
  if (principal.kind === 'role') {
    lines.push(
      `aws iam put-role-policy --role-name ${principal.name} --policy-name ${policyName} --policy-document ${shellQuote(document)}`,
    );
  } else if (principal.kind === 'user') {
    lines.push(
      `aws iam put-user-policy --user-name ${principal.name} --policy-name ${policyName} --policy-document ${shellQuote(document)}`,
    );
  }
  return lines.join('\n');
}

/** The finding for a report none of whose answers could be reached. */
export function unverifiable(what: string, report: PermissionReport, principal: Principal): Finding {
  return warn(
    `cannot verify ${what}: ${report.note ?? 'IAM gave no answer'}`,
    `allow the caller iam:SimulatePrincipalPolicy on ${principal.arn}, or iam:Get*/iam:List* on it, so doctor can read its policies`,
    describeAnswers(report),
  );
}

const notAllowed = (answers: Answered[]) =>
  answers.filter((a) => a.answer === 'denied' || a.answer === 'explicitDeny');

export const taskRoleCheck: CheckSpec<DoctorContext> = {
  id: 'iam.task-role',
  title: 'Task role allows ssmmessages',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const taskDefinition = await ctx.facts.taskDefinition();
    const label = taskDefinitionLabel(taskDefinition);
    if (!taskDefinition.taskRoleArn) {
      return fail(
        `${label} has no task role, so the ExecuteCommandAgent has no credentials for Session Manager`,
        [
          `create a role that ecs-tasks.amazonaws.com may assume, with this statement, set it as taskRoleArn in ${label} and deploy:`,
          iamStatement(SSMMESSAGES_ACTIONS, ['*']),
        ].join('\n'),
      );
    }
    const role = rolePrincipal(taskDefinition.taskRoleArn);
    const report = await checkPermissions(
      ctx,
      role,
      SSMMESSAGES_ACTIONS.map((action) => ({ action, resource: '*' })),
    );
    const details = describeAnswers(report);
    if (report.via === 'none') return unverifiable(`the permissions of task role ${role.name}`, report, role);
    const missing = notAllowed(report.answers);
    const read = report.via === 'policies' ? ' (read from its policies)' : '';
    if (missing.length > 0) {
      return fail(
        `task role ${role.name} is not allowed ${listing(missing.map((a) => a.action))}${read}`,
        grant(
          role,
          missing.map((a) => a.action),
          ['*'],
          'coderdb-ecs-exec',
        ),
        details,
      );
    }
    if (report.answers.some((a) => a.answer !== 'allowed')) {
      return warn(
        `task role ${role.name} is allowed the ssmmessages actions only under conditions doctor cannot evaluate${read}`,
        'make sure the conditions hold for the ECS task, or allow the actions without conditions',
        details,
      );
    }
    return pass(`task role ${role.name} allows the four ssmmessages channel actions${read}`, details);
  },
};

export const callerCheck: CheckSpec<DoctorContext> = {
  id: 'iam.caller',
  title: 'Caller may start sessions',
  dependsOn: ['aws.credentials'],
  scope: 'agent',
  async run(ctx) {
    const { exec, tunnel } = ctx.needs;
    if (!exec && !tunnel) {
      return skip(
        `the transport (${ctx.transportLabel}) needs neither ecs:ExecuteCommand nor ssm:StartSession`,
      );
    }
    const identity = await ctx.facts.identity();
    const caller = callerPrincipal(identity.arn);
    const task = await ctx.facts.task().catch(() => undefined);
    const { cluster } = ctx.profile;
    const anyTask = `arn:${ctx.partition}:ecs:${ctx.region}:${identity.account}:task/${cluster}/*`;
    const taskArn = task?.taskArn ?? anyTask;
    const document = `arn:${ctx.partition}:ssm:${ctx.region}::document/${PORT_FORWARDING_DOCUMENT}`;
    const questions = [
      ...(exec ? [{ action: 'ecs:ExecuteCommand', resource: taskArn }] : []),
      ...(tunnel
        ? [
            { action: 'ssm:StartSession', resource: taskArn },
            { action: 'ssm:StartSession', resource: document },
          ]
        : []),
    ];
    const report = await checkPermissions(ctx, caller, questions);
    const details = describeAnswers(report);
    if (report.via === 'none') return unverifiable(`what ${identity.arn} may do`, report, caller);
    const read = report.via === 'policies' ? ' (read from its policies)' : '';
    // Conditional answers count as allowed here and turn a pass into a warning below.
    const allowed = (action: string) =>
      notAllowed(report.answers.filter((a) => a.action === action)).length === 0;
    const execOk = allowed('ecs:ExecuteCommand');
    const tunnelOk = allowed('ssm:StartSession');
    const finding = decideCaller(exec, tunnel, execOk, tunnelOk);
    if (finding.status === 'pass' && report.answers.some((a) => a.answer !== 'allowed')) {
      return warn(
        `${finding.finding}, but only under conditions doctor cannot evaluate`,
        'make sure the conditions of those statements hold for you (MFA, source IP, tags…)',
        details,
      );
    }
    return finding;

    function decideCaller(exec: boolean, tunnel: boolean, execOk: boolean, tunnelOk: boolean): Finding {
      const execFix = grant(caller, ['ecs:ExecuteCommand'], [anyTask], 'coderdb-exec');
      const tunnelFix = grant(caller, ['ssm:StartSession'], [anyTask, document], 'coderdb-tunnel');
      const who = principalLabel(caller);
      if (exec && tunnel) {
        if (execOk && tunnelOk)
          return pass(
            `${who} may call ecs:ExecuteCommand and ssm:StartSession (port forwarding)${read}`,
            details,
          );
        if (execOk) {
          return warn(
            `${who} may call ecs:ExecuteCommand but not ssm:StartSession for port forwarding${read}; auto will use exec`,
            tunnelFix,
            details,
          );
        }
        if (tunnelOk) {
          return warn(
            `${who} may call ssm:StartSession but not ecs:ExecuteCommand${read}; auto will use the tunnel`,
            execFix,
            details,
          );
        }
        return fail(
          `${who} may call neither ecs:ExecuteCommand nor ssm:StartSession on the task${read}`,
          `${execFix}\n${tunnelFix}`,
          details,
        );
      }
      if (exec) {
        return execOk
          ? pass(`${who} may call ecs:ExecuteCommand on the task${read}`, details)
          : fail(`${who} is not allowed ecs:ExecuteCommand on ${taskArn}${read}`, execFix, details);
      }
      return tunnelOk
        ? pass(
            `${who} may call ssm:StartSession on the task with ${PORT_FORWARDING_DOCUMENT}${read}`,
            details,
          )
        : fail(
            `${who} is not allowed ssm:StartSession on the task and ${PORT_FORWARDING_DOCUMENT}${read}`,
            tunnelFix,
            details,
          );
    }
  },
};
