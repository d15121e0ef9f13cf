// Who is calling AWS: the credentials resolve (asking for an MFA code on a terminal when the AWS
// profile wants one), STS says who they belong to, and they are good enough for the account's
// policies. The last part catches the common "deny everything unless signed in with MFA" policy,
// which makes every call after GetCallerIdentity fail with an explicit deny that names no MFA.

import { awsModule } from '../../../aws/clients.js';
import { isCoderdbError } from '../../../core/errors.js';
import { canPrompt } from '../../../core/prompt.js';
import { AwsCallFailure } from '../aws-failure.js';
import type { DoctorContext } from '../context.js';
import type { CallerIdentity } from '../facts.js';
import { callerPrincipal } from '../permissions.js';
import { type CheckSpec, type Finding, fail, pass } from '../types.js';

const MFA_SERIAL = /arn:[a-z-]+:iam::\d{12}:mfa\/[\w+=,.@/-]+/;

export const credentialsCheck: CheckSpec<DoctorContext> = {
  id: 'aws.credentials',
  title: 'AWS credentials and identity',
  scope: 'aws',
  // Resolving credentials may ask for an MFA code on the terminal; give a person time to type it.
  ...(canPrompt() ? { timeoutMs: 5 * 60_000 } : {}),
  async run(ctx) {
    let identity: CallerIdentity;
    try {
      identity = await ctx.facts.identity();
    } catch (error) {
      return credentialsFailure(ctx, error);
    }
    const keyId = await ctx.facts.accessKeyId();
    const kind = keyId?.startsWith('AKIA')
      ? 'a long-term access key'
      : keyId?.startsWith('ASIA')
        ? 'temporary credentials'
        : 'credentials';
    const mfa = await missingMfa(ctx, identity, keyId);
    if (mfa) {
      const serial = mfa.serial ?? 'arn:aws:iam::ACCOUNT:mfa/USER';
      return fail(
        `${identity.arn} is denied without MFA: ${mfa.action} was refused by an explicit Deny, and these credentials (${kind}) ${mfa.confirmed ? 'carry' : 'most likely carry'} no MFA`,
        [
          `get MFA session credentials and use them:`,
          `aws sts get-session-token --serial-number ${serial} --token-code <code from the device>`,
          `export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from its Credentials, or put`,
          `mfa_serial = ${serial} in your AWS profile so coderdb asks for the code itself`,
        ].join('\n'),
        [`account ${identity.account}, signed with ${kind}`],
      );
    }
    return pass(`${identity.arn} (account ${identity.account})`, [`signed with ${kind}`]);
  },
};

function credentialsFailure(ctx: DoctorContext, error: unknown): Finding {
  const message = isCoderdbError(error) ? error.message : String(error);
  const profileName = ctx.profile.awsProfile ?? ctx.env.AWS_PROFILE;
  if (/MFA/i.test(message) && /no terminal|mfa code/i.test(message)) {
    const serial = MFA_SERIAL.exec(message)?.[0] ?? 'arn:aws:iam::ACCOUNT:mfa/USER';
    return fail(
      `the AWS profile${profileName ? ` ${profileName}` : ''} needs an MFA code (${serial}) and there is no terminal to ask on`,
      [
        'run coderdb doctor on a terminal (it asks for the code), or export MFA session credentials first:',
        `aws sts get-session-token --serial-number ${serial} --token-code <code from the device>`,
        'then AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from its Credentials',
      ].join('\n'),
    );
  }
  if (error instanceof AwsCallFailure && error.code === 'aws.credentials') {
    return fail(
      message,
      [
        `configure credentials: aws configure, aws sso login${profileName ? ` --profile ${profileName}` : ''}, AWS_PROFILE or --aws-profile`,
        'or give a database URL (--url) and use --transport direct, which needs no AWS credentials',
      ].join('\n'),
    );
  }
  if (isCoderdbError(error)) return fail(error.message, error.hint ?? null);
  return fail(message, null);
}

interface MissingMfa {
  action: string;
  serial: string | undefined;
  /** IAM's simulator said the call would be allowed with MFA. */
  confirmed: boolean;
}

/**
 * Whether the caller's policies refuse these credentials for lack of MFA. The evidence: the first
 * real call (ecs:DescribeClusters, which every operator needs) is refused by an explicit Deny,
 * the caller is an IAM user with an MFA device, and, when IAM lets us simulate, the same call
 * would be allowed with `aws:MultiFactorAuthPresent`.
 */
async function missingMfa(
  ctx: DoctorContext,
  identity: CallerIdentity,
  keyId: string | undefined,
): Promise<MissingMfa | undefined> {
  let denied: AwsCallFailure;
  try {
    await ctx.facts.cluster();
    return undefined;
  } catch (error) {
    if (!(error instanceof AwsCallFailure && error.denied && error.explicitDeny)) return undefined;
    denied = error;
  }
  const principal = callerPrincipal(identity.arn);
  if (principal.kind !== 'user') return undefined;
  let serials: string[];
  try {
    serials = await ctx.facts.mfaDevices(principal.name);
  } catch {
    serials = [];
  }
  const confirmed = await allowedWithMfa(ctx, principal.arn, identity.account);
  // The simulator says MFA would not help: the deny is something else, which the checks that
  // need the call report. Without the simulator, a user with no MFA device is no evidence either.
  if (confirmed === false) return undefined;
  if (confirmed === undefined && serials.length === 0) return undefined;
  return {
    action: denied.action,
    serial: serials[0],
    confirmed: confirmed === true || Boolean(keyId?.startsWith('AKIA')),
  };
}

/** true/false from IAM's simulator; undefined when simulation is itself refused. */
async function allowedWithMfa(
  ctx: DoctorContext,
  userArn: string,
  account: string,
): Promise<boolean | undefined> {
  const { SimulatePrincipalPolicyCommand } = await awsModule('iam');
  const iam = await ctx.aws.iam();
  const cluster = `arn:${ctx.partition}:ecs:${ctx.region}:${account}:cluster/${ctx.profile.cluster}`;
  const ask = async (present: string) => {
    const answer = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: userArn,
        ActionNames: ['ecs:DescribeClusters'],
        ResourceArns: [cluster],
        ContextEntries: [
          {
            ContextKeyName: 'aws:MultiFactorAuthPresent',
            ContextKeyValues: [present],
            ContextKeyType: 'boolean',
          },
        ],
      }),
      { abortSignal: ctx.signal },
    );
    return answer.EvaluationResults?.[0]?.EvalDecision === 'allowed';
  };
  try {
    return (await ask('true')) && !(await ask('false'));
  } catch {
    return undefined;
  }
}
