// The network side of the emulated deployment: one VPC with two private subnets (the task's and
// the database's) routed through a NAT gateway, a public subnet with the NAT and an internet
// route, an S3 gateway endpoint, the service and RDS security groups, and the ENIs.

import { arn, DAY, IDS, TASK_ATTACHMENT } from './world-ids.js';
import type { NetworkInterface, Route, RouteTable, SecurityGroup, Subnet, World } from './world-types.js';

type Network = Pick<
  World,
  'vpc' | 'subnets' | 'routeTables' | 'natGateways' | 'vpcEndpoints' | 'securityGroups' | 'networkInterfaces'
>;

/** `dbPort` is the RDS port the database security group admits; `taskStarted` dates the task ENI. */
export function buildNetwork(now: number, dbPort: number, taskStarted: number): Network {
  const { region } = IDS;
  const subnets: Subnet[] = [
    {
      id: IDS.privateSubnetA,
      name: 'coder-private-us-east-1a',
      vpcId: IDS.vpcId,
      cidr: '10.20.1.0/24',
      availabilityZone: 'us-east-1a',
      availabilityZoneId: 'use1-az1',
      mapPublicIpOnLaunch: false,
      availableIpAddressCount: 243,
    },
    {
      id: IDS.privateSubnetB,
      name: 'coder-private-us-east-1b',
      vpcId: IDS.vpcId,
      cidr: '10.20.2.0/24',
      availabilityZone: 'us-east-1b',
      availabilityZoneId: 'use1-az2',
      mapPublicIpOnLaunch: false,
      availableIpAddressCount: 248,
    },
    {
      id: IDS.publicSubnetA,
      name: 'coder-public-us-east-1a',
      vpcId: IDS.vpcId,
      cidr: '10.20.101.0/24',
      availabilityZone: 'us-east-1a',
      availabilityZoneId: 'use1-az1',
      mapPublicIpOnLaunch: true,
      availableIpAddressCount: 249,
    },
  ];

  const local: Route = {
    destinationCidrBlock: '10.20.0.0/16',
    gatewayId: 'local',
    state: 'active',
    origin: 'CreateRouteTable',
  };
  const s3Endpoint = 'vpce-0f1e2d3c4b5a69788';
  const routeTables: RouteTable[] = [
    {
      id: IDS.privateRouteTable,
      name: 'coder-private',
      vpcId: IDS.vpcId,
      main: false,
      subnetIds: [IDS.privateSubnetA, IDS.privateSubnetB],
      routes: [
        local,
        {
          destinationCidrBlock: '0.0.0.0/0',
          natGatewayId: IDS.natGatewayId,
          state: 'active',
          origin: 'CreateRoute',
        },
        {
          destinationPrefixListId: 'pl-63a5400a',
          gatewayId: s3Endpoint,
          state: 'active',
          origin: 'CreateRoute',
        },
      ],
    },
    {
      id: IDS.publicRouteTable,
      name: 'coder-public',
      vpcId: IDS.vpcId,
      main: true,
      subnetIds: [IDS.publicSubnetA],
      routes: [
        local,
        {
          destinationCidrBlock: '0.0.0.0/0',
          gatewayId: IDS.internetGatewayId,
          state: 'active',
          origin: 'CreateRoute',
        },
      ],
    },
  ];

  const securityGroups: SecurityGroup[] = [
    {
      id: IDS.serviceSecurityGroupId,
      name: 'coder-service-sg',
      description: 'Coder server tasks',
      vpcId: IDS.vpcId,
      ingress: [
        {
          protocol: 'tcp',
          fromPort: 3000,
          toPort: 3000,
          cidrs: [{ cidr: '10.20.0.0/16', description: 'Load balancer' }],
          groups: [],
        },
      ],
      egress: [{ protocol: '-1', cidrs: [{ cidr: '0.0.0.0/0' }], groups: [] }],
    },
    {
      id: IDS.rdsSecurityGroupId,
      name: 'coder-postgres-sg',
      description: 'coder-postgres RDS instance',
      vpcId: IDS.vpcId,
      ingress: [
        {
          protocol: 'tcp',
          // The instance's port, which is the sandbox database's (5432 unless it listens elsewhere).
          fromPort: dbPort,
          toPort: dbPort,
          cidrs: [],
          groups: [{ groupId: IDS.serviceSecurityGroupId, description: 'Coder server tasks' }],
        },
      ],
      egress: [{ protocol: '-1', cidrs: [{ cidr: '0.0.0.0/0' }], groups: [] }],
    },
  ];

  const networkInterfaces: NetworkInterface[] = [
    {
      id: IDS.taskEniId,
      vpcId: IDS.vpcId,
      subnetId: IDS.privateSubnetA,
      availabilityZone: 'us-east-1a',
      privateIp: IDS.taskPrivateIp,
      groupIds: [IDS.serviceSecurityGroupId],
      description: arn('ecs', `attachment/${TASK_ATTACHMENT.id}`),
      macAddress: TASK_ATTACHMENT.macAddress,
      interfaceType: 'interface',
      requesterId: '578734482556',
      requesterManaged: true,
      status: 'in-use',
      attachTime: taskStarted - 60_000,
    },
    {
      id: 'eni-0d1c2b3a4f5e60718',
      vpcId: IDS.vpcId,
      subnetId: IDS.publicSubnetA,
      availabilityZone: 'us-east-1a',
      privateIp: '10.20.101.25',
      publicIp: '54.210.33.17',
      groupIds: [],
      description: `Interface for NAT Gateway ${IDS.natGatewayId}`,
      macAddress: '0e:2f:3a:4b:5c:6d',
      interfaceType: 'nat_gateway',
      requesterId: 'AIDAJ7EXAMPLEREQUESTER',
      requesterManaged: true,
      status: 'in-use',
      attachTime: now - 200 * DAY,
    },
  ];

  return {
    vpc: { id: IDS.vpcId, cidr: '10.20.0.0/16', internetGatewayId: IDS.internetGatewayId },
    subnets,
    routeTables,
    natGateways: [
      {
        id: IDS.natGatewayId,
        vpcId: IDS.vpcId,
        subnetId: IDS.publicSubnetA,
        state: 'available',
        publicIp: '54.210.33.17',
        privateIp: '10.20.101.25',
        networkInterfaceId: 'eni-0d1c2b3a4f5e60718',
        allocationId: 'eipalloc-0a1b2c3d4e5f67890',
        createdAt: now - 200 * DAY,
      },
    ],
    vpcEndpoints: [
      {
        id: s3Endpoint,
        vpcId: IDS.vpcId,
        serviceName: `com.amazonaws.${region}.s3`,
        type: 'Gateway',
        state: 'available',
        subnetIds: [],
        securityGroupIds: [],
        routeTableIds: [IDS.privateRouteTable],
        privateDnsEnabled: false,
        createdAt: now - 200 * DAY,
      },
    ],
    securityGroups,
    networkInterfaces,
  };
}
