// The database side of the runbook's "Authentication failed" and "Connection refused" sections:
// the secret Coder (and coderdb) reads the URL from exists, is readable and parses, the RDS
// instance is available, and the secret points at that instance. The secret's value and password
// are never shown; only host, port, database and user are.

import type { DBInstance } from '@aws-sdk/client-rds';
import { AwsCallFailure } from '../aws-failure.js';
import type { DoctorContext } from '../context.js';
import type { SecretFacts } from '../facts.js';
import { type CheckSpec, fail, pass, warn } from '../types.js';

export const secretCheck: CheckSpec<DoctorContext> = {
  id: 'secret.value',
  title: 'Database secret readable and valid',
  dependsOn: ['aws.credentials'],
  scope: 'deployment',
  async run(ctx) {
    let secret: SecretFacts;
    try {
      secret = await ctx.facts.secret();
    } catch (error) {
      // With a URL of its own, coderdb does not need the secret; Coder still does.
      if (error instanceof AwsCallFailure && error.denied && ctx.hasOwnUrl()) {
        return warn(error.message, error.hint ?? null, [
          'coderdb does not need it here (the profile has its own URL), but Coder reads it when a task starts',
        ]);
      }
      throw error;
    }
    const kind = secret.format === 'url' ? 'a postgres:// URL' : 'RDS JSON';
    return pass(
      `${ctx.profile.secretId} holds ${kind} for ${secret.user}@${secret.host}:${secret.port}/${secret.database}`,
      secret.arn ? [`secret ARN ${secret.arn}`] : [],
    );
  },
};

/** Statuses in which an instance still serves connections. */
const BUSY_BUT_SERVING = [
  'backing-up',
  'modifying',
  'maintenance',
  'upgrading',
  'renaming',
  'resetting-master-credentials',
  'storage-optimization',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
  'converting-to-vpc',
];

export const rdsInstanceCheck: CheckSpec<DoctorContext> = {
  id: 'rds.instance',
  title: 'RDS instance available',
  dependsOn: ['aws.credentials'],
  scope: 'deployment',
  async run(ctx) {
    const id = ctx.profile.rdsInstance;
    const db = await ctx.facts.dbInstance();
    if (!db) {
      return fail(
        `RDS instance "${id}" was not found in ${ctx.region}`,
        'check the instance name (rdsInstance in the profile, or CODERDB_RDS_INSTANCE) and the region',
      );
    }
    const status = db.DBInstanceStatus ?? 'unknown';
    const where = `${db.Endpoint?.Address ?? '?'}:${db.Endpoint?.Port ?? '?'}`;
    const details = [
      `${db.Engine ?? 'engine?'} ${db.EngineVersion ?? ''}, ${db.DBInstanceClass ?? ''}, endpoint ${where}`,
    ];
    if (status === 'available') return pass(`${id} is available at ${where}`, details);
    if (BUSY_BUT_SERVING.includes(status)) {
      return warn(
        `${id} is ${status}; it serves connections but may be slow or restart`,
        'wait for it to become available',
        details,
      );
    }
    const start = `aws rds start-db-instance --db-instance-identifier ${id} ${ctx.regionFlag}`;
    return fail(
      `${id} is ${status}, so it refuses connections`,
      status === 'stopped' || status === 'stopping'
        ? `start it (a stopped instance restarts by itself after 7 days):\n${start}`
        : `see its events: aws rds describe-events --source-identifier ${id} --source-type db-instance ${ctx.regionFlag}`,
      details,
    );
  },
};

export const rdsEndpointCheck: CheckSpec<DoctorContext> = {
  id: 'rds.endpoint',
  title: 'Secret points at the RDS instance',
  dependsOn: ['rds.instance', 'secret.value'],
  scope: 'deployment',
  async run(ctx) {
    const db = (await ctx.facts.dbInstance()) as DBInstance;
    const secret = await ctx.facts.secret();
    const host = db.Endpoint?.Address ?? '';
    const port = db.Endpoint?.Port;
    const sameHost = host.toLowerCase() === secret.host.toLowerCase();
    const samePort = port === undefined || port === secret.port;
    const fix = [
      'store the instance endpoint in the secret (USER and *** are the user and password it has now):',
      `aws secretsmanager put-secret-value --secret-id ${ctx.profile.secretId} --secret-string 'postgres://USER:***@${host}:${port ?? 5432}/${secret.database}?sslmode=require' ${ctx.regionFlag}`,
    ].join('\n');
    if (!samePort) {
      return fail(
        `the secret says ${secret.host}:${secret.port} but ${ctx.profile.rdsInstance} listens on ${host}:${port}`,
        fix,
      );
    }
    if (!sameHost) {
      return warn(
        `the secret names host ${secret.host}, not the instance endpoint ${host}; fine only if it is an alias (CNAME) of it`,
        fix,
      );
    }
    return pass(`the secret and ${ctx.profile.rdsInstance} agree on ${host}:${port}`);
  },
};
