// The check ids `coderdb doctor` documents (README, `--list`, `--json`), shared by the tests that
// pin them: scripts depend on these names, so a change here is a breaking change.

/** The documented ids (README and `coderdb doctor --list`); scripts depend on them. */
export const DOCUMENTED_IDS = [
  'aws.credentials',
  'ecs.cluster',
  'ecs.service',
  'ecs.service-exec',
  'ecs.task',
  'ecs.task-exec',
  'ecs.platform-version',
  'ecs.exec-agent',
  'taskdef.readonly-root',
  'taskdef.init-process',
  'taskdef.pid-mode',
  'taskdef.aws-keys',
  'iam.task-role',
  'iam.caller',
  'exec-config.kms',
  'exec-config.logging',
  'secret.value',
  'rds.instance',
  'rds.endpoint',
  'network.db-ingress',
  'network.ssm-route',
  'logs.database-errors',
  'probe.select',
  'reader.role',
  'audit.sink',
];
