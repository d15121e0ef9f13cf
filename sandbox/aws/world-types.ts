// The shape of the emulated deployment: plain, JSON-serializable data (timestamps are epoch
// milliseconds) that the service modules render in each API's own form.

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  /** Only in trust policies; the evaluator ignores it. */
  Principal?: '*' | Record<string, string | string[]>;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

export interface ManagedPolicy {
  arn: string;
  name: string;
  policyId: string;
  path: string;
  description: string;
  defaultVersionId: string;
  createdAt: number;
  updatedAt: number;
  document: PolicyDocument;
}

export interface IamPrincipal {
  name: string;
  arn: string;
  /** AIDA… for users, AROA… for roles. */
  id: string;
  path: string;
  createdAt: number;
  inlinePolicies: Record<string, PolicyDocument>;
  attachedPolicyArns: string[];
  /** MFA devices of a user (iam:ListMFADevices); roles have none. */
  mfaDevices?: { serialNumber: string; enabledAt: number }[];
}

export interface IamRole extends IamPrincipal {
  description: string;
  maxSessionDuration: number;
  assumeRolePolicy: PolicyDocument;
}

export interface NameValue {
  name: string;
  value: string;
}

export interface ContainerDefinition {
  name: string;
  image: string;
  cpu: number;
  essential: boolean;
  portMappings: { containerPort: number; hostPort: number; protocol: string; name?: string }[];
  environment: NameValue[];
  secrets: { name: string; valueFrom: string }[];
  readonlyRootFilesystem: boolean;
  linuxParameters: { initProcessEnabled: boolean };
  logConfiguration: { logDriver: string; options: Record<string, string> };
}

export interface TaskDefinition {
  arn: string;
  family: string;
  revision: number;
  taskRoleArn: string;
  executionRoleArn: string;
  networkMode: string;
  cpu: string;
  memory: string;
  pidMode?: 'task' | 'host';
  registeredAt: number;
  registeredBy: string;
  status: 'ACTIVE' | 'INACTIVE';
  requiresCompatibilities: string[];
  containerDefinitions: ContainerDefinition[];
}

export interface ManagedAgent {
  name: 'ExecuteCommandAgent';
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  lastStartedAt?: number;
  reason?: string;
}

export interface EcsContainer {
  name: string;
  containerArn: string;
  runtimeId: string;
  image: string;
  imageDigest: string;
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  exitCode?: number;
  reason?: string;
  healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  managedAgents: ManagedAgent[];
  cpu: string;
}

export interface TaskEni {
  attachmentId: string;
  networkInterfaceId: string;
  subnetId: string;
  privateIp: string;
  macAddress: string;
  privateDnsName: string;
  status: 'ATTACHED' | 'DELETED';
}

export interface EcsTask {
  taskId: string;
  arn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  group: string;
  startedBy: string;
  lastStatus: 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'STOPPING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  launchType: 'FARGATE';
  platformVersion: string;
  platformFamily: string;
  cpu: string;
  memory: string;
  availabilityZone: string;
  enableExecuteCommand: boolean;
  healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  version: number;
  createdAt: number;
  pullStartedAt: number;
  pullStoppedAt: number;
  startedAt?: number;
  connectivityAt: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stoppedReason?: string;
  stopCode?: string;
  containers: EcsContainer[];
  eni: TaskEni;
}

export interface ExecuteCommandConfiguration {
  kmsKeyId?: string;
  logging: 'NONE' | 'DEFAULT' | 'OVERRIDE';
  logConfiguration?: {
    cloudWatchLogGroupName?: string;
    cloudWatchEncryptionEnabled?: boolean;
    s3BucketName?: string;
    s3EncryptionEnabled?: boolean;
    s3KeyPrefix?: string;
  };
}

export interface EcsCluster {
  name: string;
  arn: string;
  status: 'ACTIVE' | 'INACTIVE';
  capacityProviders: string[];
  settings: NameValue[];
  executeCommandConfiguration?: ExecuteCommandConfiguration;
}

export interface EcsDeployment {
  id: string;
  status: 'PRIMARY' | 'ACTIVE' | 'INACTIVE';
  taskDefinitionArn: string;
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  failedTasks: number;
  createdAt: number;
  updatedAt: number;
  rolloutState: 'COMPLETED' | 'IN_PROGRESS' | 'FAILED';
  rolloutStateReason: string;
}

export interface EcsService {
  name: string;
  arn: string;
  clusterArn: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  launchType: 'FARGATE';
  platformVersion: string;
  platformFamily: string;
  taskDefinitionArn: string;
  enableExecuteCommand: boolean;
  networkConfiguration: {
    subnets: string[];
    securityGroups: string[];
    assignPublicIp: 'ENABLED' | 'DISABLED';
  };
  createdAt: number;
  createdBy: string;
  deployments: EcsDeployment[];
  events: { id: string; createdAt: number; message: string }[];
}

export interface SecretEntry {
  name: string;
  arn: string;
  description: string;
  kmsKeyId?: string;
  secretString: string;
  versionId: string;
  createdAt: number;
  lastChangedAt: number;
  lastAccessedAt: number;
}

export interface KmsKey {
  keyId: string;
  arn: string;
  aliases: string[];
  description: string;
  enabled: boolean;
  keyState: 'Enabled' | 'Disabled' | 'PendingDeletion';
  keyManager: 'CUSTOMER' | 'AWS';
  createdAt: number;
}

export interface DbInstance {
  identifier: string;
  arn: string;
  resourceId: string;
  status: string;
  engine: string;
  engineVersion: string;
  instanceClass: string;
  endpoint: { address: string; port: number; hostedZoneId: string };
  masterUsername: string;
  dbName: string;
  allocatedStorage: number;
  storageType: string;
  storageEncrypted: boolean;
  kmsKeyId?: string;
  vpcSecurityGroupIds: string[];
  subnetGroup: { name: string; description: string; vpcId: string; subnetIds: string[] };
  availabilityZone: string;
  multiAZ: boolean;
  publiclyAccessible: boolean;
  iamDatabaseAuthenticationEnabled: boolean;
  backupRetentionPeriod: number;
  caCertificateIdentifier: string;
  deletionProtection: boolean;
  createdAt: number;
}

export interface Subnet {
  id: string;
  name: string;
  vpcId: string;
  cidr: string;
  availabilityZone: string;
  availabilityZoneId: string;
  mapPublicIpOnLaunch: boolean;
  availableIpAddressCount: number;
}

export interface Route {
  destinationCidrBlock?: string;
  destinationPrefixListId?: string;
  gatewayId?: string;
  natGatewayId?: string;
  state: 'active' | 'blackhole';
  origin: 'CreateRouteTable' | 'CreateRoute';
}

export interface RouteTable {
  id: string;
  name: string;
  vpcId: string;
  main: boolean;
  subnetIds: string[];
  routes: Route[];
}

export interface NatGateway {
  id: string;
  vpcId: string;
  subnetId: string;
  state: 'pending' | 'available' | 'deleting' | 'deleted' | 'failed';
  publicIp: string;
  privateIp: string;
  networkInterfaceId: string;
  allocationId: string;
  createdAt: number;
}

export interface VpcEndpoint {
  id: string;
  vpcId: string;
  serviceName: string;
  type: 'Interface' | 'Gateway';
  state: 'available' | 'pending' | 'deleted' | 'failed';
  subnetIds: string[];
  securityGroupIds: string[];
  routeTableIds: string[];
  privateDnsEnabled: boolean;
  createdAt: number;
}

export interface SgRule {
  protocol: string;
  fromPort?: number;
  toPort?: number;
  cidrs: { cidr: string; description?: string }[];
  groups: { groupId: string; description?: string }[];
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  vpcId: string;
  ingress: SgRule[];
  egress: SgRule[];
}

export interface NetworkInterface {
  id: string;
  vpcId: string;
  subnetId: string;
  availabilityZone: string;
  privateIp: string;
  publicIp?: string;
  groupIds: string[];
  description: string;
  macAddress: string;
  interfaceType: string;
  requesterId: string;
  requesterManaged: boolean;
  status: 'in-use' | 'available';
  attachTime: number;
}

export interface LogEvent {
  timestamp: number;
  ingestionTime: number;
  message: string;
}

export interface LogStream {
  name: string;
  createdAt: number;
  events: LogEvent[];
}

export interface LogGroup {
  name: string;
  arn: string;
  createdAt: number;
  retentionInDays?: number;
  streams: LogStream[];
  /** Made by CreateLogGroup at run time: kept across scenario switches, as streams written are. */
  createdByCaller?: boolean;
}

export interface World {
  /** The scenario (or `a+b` combination) this world was built for. */
  scenario: string;
  builtAt: number;
  account: string;
  region: string;
  /** The identity every request with the sandbox credentials acts as. */
  caller: IamPrincipal;
  roles: IamRole[];
  managedPolicies: ManagedPolicy[];
  cluster: EcsCluster;
  service: EcsService;
  tasks: EcsTask[];
  taskDefinitions: TaskDefinition[];
  /** What the agent side should emulate inside the container. */
  container: { hasPsql: boolean };
  secrets: SecretEntry[];
  kmsKeys: KmsKey[];
  dbInstances: DbInstance[];
  vpc: { id: string; cidr: string; internetGatewayId: string };
  subnets: Subnet[];
  routeTables: RouteTable[];
  natGateways: NatGateway[];
  vpcEndpoints: VpcEndpoint[];
  securityGroups: SecurityGroup[];
  networkInterfaces: NetworkInterface[];
  logGroups: LogGroup[];
  /** CloudWatch Logs answers every call with 503 ServiceUnavailable (an outage, a blocked endpoint). */
  logsUnavailable?: boolean;
  /** The next this many PutLogEvents calls are throttled (ThrottlingException), then they succeed. */
  logsThrottledPuts?: number;
}

export interface BuildWorldOptions {
  /** The sandbox database URL: it becomes the secret's value and the RDS endpoint. */
  databaseUrl: string;
  /** The clock, for tests; defaults to Date.now(). */
  now?: number;
}
