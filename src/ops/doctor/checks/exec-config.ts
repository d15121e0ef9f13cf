// The cluster's ECS Exec configuration (DescribeClusters with CONFIGURATIONS): a KMS key makes
// every exec session encrypted, so the key must be usable, the caller must be allowed
// kms:GenerateDataKey and the task role kms:Decrypt on it; session logging makes the agent write
// to a log group or bucket, which must exist and which the task role must be allowed to write.

import type { DoctorContext } from '../context.js';
import { lastSegment } from '../facts.js';
import {
  type Answered,
  callerPrincipal,
  checkPermissions,
  describeAnswers,
  type Principal,
  principalLabel,
  type Question,
  rolePrincipal,
} from '../permissions.js';
import { CheckFailure, type CheckSpec, fail, pass, skip, warn } from '../types.js';
import { listing } from './common.js';
import { grant } from './iam.js';

const denied = (answers: Answered[]) =>
  answers.filter((a) => a.answer === 'denied' || a.answer === 'explicitDeny');

async function taskRole(ctx: DoctorContext): Promise<Principal> {
  const taskDefinition = await ctx.facts.taskDefinition();
  if (!taskDefinition.taskRoleArn) {
    throw new CheckFailure(
      'doctor.no-task-role',
      'the task definition has no task role (see iam.task-role)',
      null,
    );
  }
  return rolePrincipal(taskDefinition.taskRoleArn);
}

export const kmsCheck: CheckSpec<DoctorContext> = {
  id: 'exec-config.kms',
  title: 'Exec KMS key usable',
  dependsOn: ['ecs.cluster', 'ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const cluster = await ctx.facts.cluster();
    const keyId = cluster?.configuration?.executeCommandConfiguration?.kmsKeyId;
    if (!keyId)
      return skip("the cluster's exec configuration has no KMS key: sessions are not KMS-encrypted");
    if (ctx.needs.tunnel && !ctx.needs.exec) {
      return skip(
        `port-forwarding sessions are never KMS-encrypted; the tunnel transport does not use ${keyId}`,
      );
    }
    const key = await ctx.facts.kmsKey(keyId);
    if (!key) {
      return fail(
        `the exec KMS key ${keyId} of cluster ${ctx.profile.cluster} does not exist`,
        `point the cluster at a key that exists:\naws ecs update-cluster --cluster ${ctx.profile.cluster} --configuration 'executeCommandConfiguration={kmsKeyId=<key-arn>,logging=DEFAULT}' ${ctx.regionFlag}`,
      );
    }
    const name = key.KeyId ?? lastSegment(keyId);
    if (key.KeyState !== 'Enabled' || key.Enabled === false) {
      return fail(
        `the exec KMS key ${name} is ${key.KeyState ?? 'disabled'}, so no exec session can start`,
        key.KeyState === 'PendingDeletion'
          ? `aws kms cancel-key-deletion --key-id ${name} ${ctx.regionFlag} && aws kms enable-key --key-id ${name} ${ctx.regionFlag}`
          : `aws kms enable-key --key-id ${name} ${ctx.regionFlag}`,
      );
    }
    const keyArn = key.Arn ?? keyId;
    const caller = callerPrincipal((await ctx.facts.identity()).arn);
    const role = await taskRole(ctx);
    const [callerReport, roleReport] = await Promise.all([
      checkPermissions(ctx, caller, [{ action: 'kms:GenerateDataKey', resource: keyArn }]),
      checkPermissions(ctx, role, [{ action: 'kms:Decrypt', resource: keyArn }]),
    ]);
    const details = [...describeAnswers(callerReport), ...describeAnswers(roleReport)];
    const fixes: string[] = [];
    const problems: string[] = [];
    if (denied(callerReport.answers).length > 0) {
      problems.push(`${principalLabel(caller)} is not allowed kms:GenerateDataKey`);
      fixes.push(grant(caller, ['kms:GenerateDataKey'], [keyArn], 'coderdb-exec-kms'));
    }
    if (denied(roleReport.answers).length > 0) {
      problems.push(`task role ${role.name} is not allowed kms:Decrypt`);
      fixes.push(grant(role, ['kms:Decrypt'], [keyArn], 'coderdb-exec-kms'));
    }
    if (problems.length > 0) {
      return fail(
        `exec sessions are encrypted with KMS key ${name}, but ${listing(problems)} on it`,
        fixes.join('\n'),
        details,
      );
    }
    if (callerReport.via === 'none' || roleReport.via === 'none') {
      return warn(
        `exec sessions are encrypted with KMS key ${name}; doctor could not verify who may use it`,
        'allow the caller iam:SimulatePrincipalPolicy (or iam:Get*/iam:List*) so doctor can check',
        details,
      );
    }
    return pass(
      `exec sessions are encrypted with KMS key ${name}: the caller may kms:GenerateDataKey and task role ${role.name} kms:Decrypt`,
      details,
    );
  },
};

export const loggingCheck: CheckSpec<DoctorContext> = {
  id: 'exec-config.logging',
  title: 'Exec session logging target',
  dependsOn: ['ecs.cluster', 'ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const cluster = await ctx.facts.cluster();
    const config = cluster?.configuration?.executeCommandConfiguration;
    const logging = config?.logging ?? 'DEFAULT';
    if (logging === 'NONE') return skip('exec session logging is off (logging NONE)');
    if (logging === 'DEFAULT') {
      return skip(
        "exec sessions are logged like the container's own output (logging DEFAULT); nothing else to check",
      );
    }
    const groupName = config?.logConfiguration?.cloudWatchLogGroupName;
    const bucket = config?.logConfiguration?.s3BucketName;
    if (!groupName && !bucket) {
      return warn(
        'exec logging is OVERRIDE but names neither a log group nor a bucket',
        `set one: aws ecs update-cluster --cluster ${ctx.profile.cluster} --configuration 'executeCommandConfiguration={logging=OVERRIDE,logConfiguration={cloudWatchLogGroupName=/ecs/coder-exec}}' ${ctx.regionFlag}`,
      );
    }
    const { account } = await ctx.facts.identity();
    const role = await taskRole(ctx);
    const questions: Question[] = [];
    if (groupName) {
      const groupArn = `arn:${ctx.partition}:logs:${ctx.region}:${account}:log-group:${groupName}:*`;
      questions.push(
        { action: 'logs:DescribeLogGroups', resource: '*' },
        { action: 'logs:CreateLogStream', resource: groupArn },
        { action: 'logs:DescribeLogStreams', resource: groupArn },
        { action: 'logs:PutLogEvents', resource: groupArn },
      );
    }
    if (bucket) {
      const prefix = config?.logConfiguration?.s3KeyPrefix ?? '';
      questions.push({ action: 's3:PutObject', resource: `arn:${ctx.partition}:s3:::${bucket}/${prefix}*` });
      if (config?.logConfiguration?.s3EncryptionEnabled) {
        questions.push({
          action: 's3:GetEncryptionConfiguration',
          resource: `arn:${ctx.partition}:s3:::${bucket}`,
        });
      }
    }
    const [exists, report] = await Promise.all([
      groupName ? ctx.facts.logGroupExists(groupName) : Promise.resolve(true),
      checkPermissions(ctx, role, questions),
    ]);
    const details = describeAnswers(report);
    const targets = [groupName ? `log group ${groupName}` : '', bucket ? `bucket ${bucket}` : ''].filter(
      Boolean,
    );
    if (!exists) {
      return fail(
        `exec sessions are logged to log group ${groupName}, which does not exist in ${ctx.region}`,
        `create it (or change the cluster's executeCommandConfiguration):\naws logs create-log-group --log-group-name ${groupName} ${ctx.regionFlag}`,
        details,
      );
    }
    const missing = denied(report.answers);
    if (missing.length > 0) {
      const byResource = new Map<string, string[]>();
      for (const a of missing) byResource.set(a.resource, [...(byResource.get(a.resource) ?? []), a.action]);
      return fail(
        `task role ${role.name} may not write exec logs to ${listing(targets)}: ${listing(missing.map((a) => a.action))} not allowed`,
        [...byResource]
          .map(([resource, actions]) => grant(role, actions, [resource], 'coderdb-exec-logging'))
          .join('\n'),
        details,
      );
    }
    if (report.via === 'none') {
      return warn(
        `exec sessions are logged to ${listing(targets)}; doctor could not verify the task role may write there`,
        'allow the caller iam:SimulatePrincipalPolicy (or iam:Get*/iam:List*) so doctor can check',
        details,
      );
    }
    return pass(
      `exec sessions are logged to ${listing(targets)}, which task role ${role.name} may write`,
      details,
    );
  },
};
