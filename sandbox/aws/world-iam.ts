// The IAM side of the emulated deployment: the operator user (the caller, with a virtual MFA
// device) with a read-only managed policy and an inline policy for exec, port forwarding, the
// secret and the exec KMS key; the task
// role with the ECSExecPolicy inline policy; the execution role; and the managed policies.

import { ARNS, DAY, IDS } from './world-ids.js';
import type { IamPrincipal, IamRole, ManagedPolicy, PolicyDocument, PolicyStatement } from './world-types.js';

function policy(...statements: PolicyStatement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

const ECS_TASKS_TRUST = policy({
  Effect: 'Allow',
  Principal: { Service: 'ecs-tasks.amazonaws.com' },
  Action: 'sts:AssumeRole',
});

export function buildIam(now: number): {
  managedPolicies: ManagedPolicy[];
  caller: IamPrincipal;
  roles: IamRole[];
} {
  const { account, region, clusterName } = IDS;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;
  const taskRoleArn = ARNS.taskRole;
  const executionRoleArn = ARNS.executionRole;
  const secretArn = ARNS.secret;
  const rdsSecretArn = ARNS.rdsSecret;
  const execKeyArn = ARNS.execKey;
  const operatorPolicyArn = `arn:aws:iam::${account}:policy/CoderOperatorReadOnly`;
  const taskLoggingPolicyArn = `arn:aws:iam::${account}:policy/CoderTaskExecLogging`;
  const executionManagedArn = 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy';
  const execLogGroupArn = ARNS.execLogGroup;

  const managedPolicies: ManagedPolicy[] = [
    {
      arn: operatorPolicyArn,
      name: 'CoderOperatorReadOnly',
      policyId: 'ANPA4OPERATORREADONLY1',
      path: '/',
      description: 'Read access to the Coder deployment for operators',
      defaultVersionId: 'v3',
      createdAt: now - 200 * DAY,
      updatedAt: now - 30 * DAY,
      document: policy(
        {
          Sid: 'DescribeDeployment',
          Effect: 'Allow',
          Action: [
            'ecs:Describe*',
            'ecs:List*',
            'ec2:Describe*',
            'rds:Describe*',
            'logs:Describe*',
            'logs:FilterLogEvents',
            'logs:GetLogEvents',
            'iam:Get*',
            'iam:List*',
            'ssm:DescribeSessions',
            'kms:DescribeKey',
            'secretsmanager:DescribeSecret',
            'secretsmanager:ListSecrets',
          ],
          Resource: '*',
        },
        { Sid: 'SimulatePolicies', Effect: 'Allow', Action: 'iam:SimulatePrincipalPolicy', Resource: '*' },
      ),
    },
    {
      arn: taskLoggingPolicyArn,
      name: 'CoderTaskExecLogging',
      policyId: 'ANPA4TASKEXECLOGGING01',
      path: '/',
      description: 'Lets the ECS Exec agent write session logs',
      defaultVersionId: 'v1',
      createdAt: now - 200 * DAY,
      updatedAt: now - 200 * DAY,
      document: policy(
        { Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: '*' },
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
          Resource: `${execLogGroupArn}:*`,
        },
      ),
    },
    {
      arn: executionManagedArn,
      name: 'AmazonECSTaskExecutionRolePolicy',
      policyId: 'ANPAJG4KJ2VOSVOZUGKZK',
      path: '/service-role/',
      description: 'Provides access to other AWS service resources that are required to run Amazon ECS tasks',
      defaultVersionId: 'v1',
      createdAt: Date.UTC(2017, 10, 16, 18, 48, 22),
      updatedAt: Date.UTC(2017, 10, 16, 18, 48, 22),
      document: policy({
        Effect: 'Allow',
        Action: [
          'ecr:GetAuthorizationToken',
          'ecr:BatchCheckLayerAvailability',
          'ecr:GetDownloadUrlForLayer',
          'ecr:BatchGetImage',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
        ],
        Resource: '*',
      }),
    },
  ];

  const caller: IamPrincipal = {
    name: IDS.callerUserName,
    arn: ARNS.caller,
    id: 'AIDASANDBOXOPERATOR01',
    path: '/',
    createdAt: now - 400 * DAY,
    mfaDevices: [
      { serialNumber: `arn:aws:iam::${account}:mfa/${IDS.callerUserName}`, enabledAt: now - 300 * DAY },
    ],
    attachedPolicyArns: [operatorPolicyArn],
    inlinePolicies: {
      CoderDatabaseAccess: policy(
        {
          Sid: 'EcsExec',
          Effect: 'Allow',
          Action: 'ecs:ExecuteCommand',
          Resource: arn('ecs', `task/${clusterName}/*`),
        },
        {
          Sid: 'PortForwarding',
          Effect: 'Allow',
          Action: 'ssm:StartSession',
          Resource: [
            arn('ecs', `task/${clusterName}/*`),
            `arn:aws:ssm:${region}::document/AWS-StartPortForwardingSession*`,
          ],
        },
        {
          Sid: 'SessionControl',
          Effect: 'Allow',
          Action: ['ssm:ResumeSession', 'ssm:TerminateSession'],
          Resource: arn('ssm', 'session/*'),
        },
        {
          Sid: 'DatabaseSecret',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: arn('secretsmanager', 'secret:coder-postgres-*'),
        },
        {
          Sid: 'ExecSessionKey',
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: execKeyArn,
        },
        {
          Sid: 'AuditTrail',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: arn('logs', `log-group:${IDS.auditLogGroupName}:*`),
        },
      ),
    },
  };

  const roles: IamRole[] = [
    {
      name: IDS.taskRoleName,
      arn: taskRoleArn,
      id: 'AROASANDBOXCODERTASK1',
      path: '/',
      createdAt: now - 200 * DAY,
      description: 'Role assumed by the Coder server task',
      maxSessionDuration: 3600,
      assumeRolePolicy: ECS_TASKS_TRUST,
      attachedPolicyArns: [taskLoggingPolicyArn],
      inlinePolicies: {
        [IDS.execPolicyName]: policy({
          Effect: 'Allow',
          Action: [
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          Resource: '*',
        }),
      },
    },
    {
      name: IDS.executionRoleName,
      arn: executionRoleArn,
      id: 'AROASANDBOXCODEREXEC1',
      path: '/',
      createdAt: now - 200 * DAY,
      description: 'Role the ECS agent uses to pull the image and read the task secrets',
      maxSessionDuration: 3600,
      assumeRolePolicy: ECS_TASKS_TRUST,
      attachedPolicyArns: [executionManagedArn],
      inlinePolicies: {
        SecretsAccess: policy({
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: [secretArn, rdsSecretArn],
        }),
      },
    },
  ];

  return { managedPolicies, caller, roles };
}
