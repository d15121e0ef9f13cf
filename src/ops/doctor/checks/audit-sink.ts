// The shared audit trail (profile `auditLogGroup`): the log group exists (DescribeLogGroups), the
// caller may create its stream and put records there (IAM's own evaluation, as for the other
// permissions; DescribeLogStreams on the group when IAM cannot be asked), and whether the caller's
// stream is already there. Nothing is written: a check must not add records to the trail.

import { auditStreamName } from '../../../aws/audit-sink.js';
import { awsModule } from '../../../aws/clients.js';
import { shellQuote } from '../aws-failure.js';
import type { DoctorContext } from '../context.js';
import { callerPrincipal, checkPermissions, describeAnswers } from '../permissions.js';
import { type CheckSpec, fail, pass, skip, warn } from '../types.js';
import { grant } from './iam.js';

const WRITE_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

export const auditSinkCheck: CheckSpec<DoctorContext> = {
  id: 'audit.sink',
  title: 'The audit log group takes records',
  dependsOn: ['aws.credentials'],
  // The trail is written whatever the transport, so a failure here counts even for direct.
  scope: 'deployment',
  async run(ctx) {
    const group = ctx.profile.auditLogGroup;
    if (!group) return skip('the profile has no auditLogGroup: audit records stay in the local file');
    const required = ctx.profile.auditRequired ? ' (auditRequired: nothing would run)' : '';
    const { DescribeLogGroupsCommand, DescribeLogStreamsCommand } = await awsModule('logs');
    const logs = await ctx.aws.logs();
    const groupArn = `arn:${ctx.partition}:logs:${ctx.region}:${ctx.account}:log-group:${group}`;
    const found = await ctx.call('logs:DescribeLogGroups', '*', (abortSignal) =>
      logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group, limit: 50 }), { abortSignal }),
    );
    if (!found.logGroups?.some((g) => g.logGroupName === group)) {
      return fail(
        `log group ${group} does not exist in ${ctx.region}${required}`,
        [
          'ask the platform team to create it, with a retention, e.g.:',
          `aws logs create-log-group --log-group-name ${shellQuote(group)} ${ctx.regionFlag}`,
          `aws logs put-retention-policy --log-group-name ${shellQuote(group)} --retention-in-days 400 ${ctx.regionFlag}`,
        ].join('\n'),
      );
    }
    const stream = auditStreamName();
    const streamArn = `${groupArn}:log-stream:${stream}`;
    const identity = await ctx.facts.identity();
    const caller = callerPrincipal(identity.arn);
    const report = await checkPermissions(
      ctx,
      caller,
      WRITE_ACTIONS.map((action) => ({ action, resource: streamArn })),
    );
    const details = describeAnswers(report);
    // Whether this operator's stream exists yet; a caller who may not even list streams of the
    // group is a finding of its own when IAM could not be asked.
    const streams = await ctx
      .call('logs:DescribeLogStreams', `${groupArn}:*`, (abortSignal) =>
        logs.send(new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: stream }), {
          abortSignal,
        }),
      )
      .then((answer) => ({ exists: Boolean(answer.logStreams?.some((s) => s.logStreamName === stream)) }))
      .catch((error: unknown) => ({ error: error as Error }));
    details.push(
      'error' in streams
        ? `logs:DescribeLogStreams on ${group}: ${streams.error.message}`
        : `stream ${stream}: ${streams.exists ? 'exists' : 'not yet created (the first record creates it)'}`,
    );
    const fix = grant(caller, [...WRITE_ACTIONS], [`${groupArn}:*`], 'coderdb-audit');
    if (report.via === 'none') {
      if ('error' in streams) {
        return fail(`cannot use log group ${group}: ${streams.error.message}${required}`, fix, details);
      }
      return warn(
        `log group ${group} exists and its streams can be listed, but whether ${identity.arn} may call logs:PutLogEvents could not be verified: ${report.note ?? 'IAM gave no answer'}`,
        `allow the caller iam:SimulatePrincipalPolicy on ${caller.arn}, so doctor can ask IAM`,
        details,
      );
    }
    const denied = report.answers.filter((a) => a.answer === 'denied' || a.answer === 'explicitDeny');
    const read = report.via === 'policies' ? ' (read from its policies)' : ' (IAM policy simulation)';
    if (denied.length > 0) {
      return fail(
        `${identity.arn} may not ${denied.map((a) => a.action).join(' or ')} in log group ${group}${read}${required}`,
        fix,
        details,
      );
    }
    if (report.answers.some((a) => a.answer !== 'allowed')) {
      return warn(
        `log group ${group} exists; logs:PutLogEvents is allowed only under conditions doctor cannot evaluate`,
        'make sure the conditions of those statements hold for you (MFA, source IP, tags…)',
        details,
      );
    }
    return pass(
      `log group ${group} exists and ${identity.arn} may create stream ${stream} and call logs:PutLogEvents${read}`,
      details,
    );
  },
};
