// Amazon RDS (awsQuery, version 2014-10-31): DescribeDBInstances for the Coder database, whose
// endpoint is the sandbox database's host and port, so it matches the secret. RDS names list
// items after their shape (`<DBInstance>`, `<VpcSecurityGroupMembership>`), hence `listMembers`.

import { AwsError } from '../errors.js';
import type { QueryInput } from '../protocol/query.js';
import type { DbInstance, World } from '../world.js';
import type { QueryService, ServiceContext } from './types.js';

function az(world: World, subnetId: string): string {
  return world.subnets.find((s) => s.id === subnetId)?.availabilityZone ?? `${world.region}a`;
}

function instanceShape(world: World, db: DbInstance) {
  const major = db.engineVersion.split('.')[0];
  return {
    DBInstanceIdentifier: db.identifier,
    DBInstanceClass: db.instanceClass,
    Engine: db.engine,
    DBInstanceStatus: db.status,
    MasterUsername: db.masterUsername,
    DBName: db.dbName,
    Endpoint: {
      Address: db.endpoint.address,
      Port: db.endpoint.port,
      HostedZoneId: db.endpoint.hostedZoneId,
    },
    AllocatedStorage: db.allocatedStorage,
    InstanceCreateTime: new Date(db.createdAt),
    PreferredBackupWindow: '03:00-03:30',
    BackupRetentionPeriod: db.backupRetentionPeriod,
    DBSecurityGroups: [],
    VpcSecurityGroups: db.vpcSecurityGroupIds.map((id) => ({ VpcSecurityGroupId: id, Status: 'active' })),
    DBParameterGroups: [
      { DBParameterGroupName: `default.postgres${major}`, ParameterApplyStatus: 'in-sync' },
    ],
    AvailabilityZone: db.availabilityZone,
    DBSubnetGroup: {
      DBSubnetGroupName: db.subnetGroup.name,
      DBSubnetGroupDescription: db.subnetGroup.description,
      VpcId: db.subnetGroup.vpcId,
      SubnetGroupStatus: 'Complete',
      Subnets: db.subnetGroup.subnetIds.map((id) => ({
        SubnetIdentifier: id,
        SubnetAvailabilityZone: { Name: az(world, id) },
        SubnetOutpost: {},
        SubnetStatus: 'Active',
      })),
    },
    PreferredMaintenanceWindow: 'sun:05:00-sun:05:30',
    PendingModifiedValues: {},
    LatestRestorableTime: db.status === 'available' ? new Date(world.builtAt - 300_000) : undefined,
    MultiAZ: db.multiAZ,
    EngineVersion: db.engineVersion,
    AutoMinorVersionUpgrade: true,
    ReadReplicaDBInstanceIdentifiers: [],
    LicenseModel: 'postgresql-license',
    OptionGroupMemberships: [{ OptionGroupName: `default:postgres-${major}`, Status: 'in-sync' }],
    PubliclyAccessible: db.publiclyAccessible,
    StorageType: db.storageType,
    DbInstancePort: 0,
    StorageEncrypted: db.storageEncrypted,
    KmsKeyId: db.kmsKeyId,
    DbiResourceId: db.resourceId,
    CACertificateIdentifier: db.caCertificateIdentifier,
    DomainMemberships: [],
    CopyTagsToSnapshot: true,
    MonitoringInterval: 0,
    DBInstanceArn: db.arn,
    IAMDatabaseAuthenticationEnabled: db.iamDatabaseAuthenticationEnabled,
    PerformanceInsightsEnabled: false,
    DeletionProtection: db.deletionProtection,
    AssociatedRoles: [],
    TagList: [{ Key: 'Project', Value: 'coder' }],
    CustomerOwnedIpEnabled: false,
    BackupTarget: 'region',
    NetworkType: 'IPV4',
    StorageThroughput: 125,
    CertificateDetails: {
      CAIdentifier: db.caCertificateIdentifier,
      ValidTill: new Date(Date.UTC(2061, 4, 20)),
    },
    DedicatedLogVolume: false,
    EngineLifecycleSupport: 'open-source-rds-extended-support',
  };
}

function describeDbInstances(input: QueryInput, ctx: ServiceContext) {
  ctx.authorize('rds:DescribeDBInstances');
  const id = input.string('DBInstanceIdentifier');
  let found = ctx.world.dbInstances.filter((db) => id === undefined || db.identifier === id || db.arn === id);
  for (const f of input.filters()) {
    if (f.name === 'db-instance-id') {
      found = found.filter((db) => f.values.includes(db.identifier) || f.values.includes(db.arn));
    } else if (f.name === 'engine') found = found.filter((db) => f.values.includes(db.engine));
    else if (f.name === 'dbi-resource-id') found = found.filter((db) => f.values.includes(db.resourceId));
    else throw new AwsError('InvalidParameterValue', `Unrecognized filter name: ${f.name}.`);
  }
  if (id !== undefined && found.length === 0) {
    throw new AwsError('DBInstanceNotFound', `DBInstance ${id} not found.`, 404);
  }
  return { DBInstances: found.map((db) => instanceShape(ctx.world, db)) };
}

export const rdsService: QueryService = {
  protocol: 'query',
  signingName: 'rds',
  version: '2014-10-31',
  xmlns: 'http://rds.amazonaws.com/doc/2014-10-31/',
  missingParameterCode: 'MissingParameter',
  listMembers: {
    DBInstances: 'DBInstance',
    DBSecurityGroups: 'DBSecurityGroup',
    VpcSecurityGroups: 'VpcSecurityGroupMembership',
    DBParameterGroups: 'DBParameterGroup',
    Subnets: 'Subnet',
    ReadReplicaDBInstanceIdentifiers: 'ReadReplicaDBInstanceIdentifier',
    ReadReplicaDBClusterIdentifiers: 'ReadReplicaDBClusterIdentifier',
    OptionGroupMemberships: 'OptionGroupMembership',
    StatusInfos: 'DBInstanceStatusInfo',
    DomainMemberships: 'DomainMembership',
    AssociatedRoles: 'DBInstanceRole',
    ProcessorFeatures: 'ProcessorFeature',
    TagList: 'Tag',
  },
  operations: {
    DescribeDBInstances: describeDbInstances,
  },
};
