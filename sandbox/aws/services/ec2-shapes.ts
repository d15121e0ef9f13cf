// The EC2 API's view of world network objects, with EC2's lowerCamel element names (`groupId`,
// `ipPermissions`, `routeSet`…); every list is rendered with `<item>` elements by the codec.

import type { XmlValue } from '../protocol/xml.js';
import type {
  NatGateway,
  NetworkInterface,
  RouteTable,
  SecurityGroup,
  SgRule,
  Subnet,
  VpcEndpoint,
  World,
} from '../world.js';

const nameTag = (name: string) => [{ key: 'Name', value: name }];

function rule(world: World, r: SgRule): XmlValue {
  return {
    ipProtocol: r.protocol,
    fromPort: r.protocol === '-1' ? undefined : r.fromPort,
    toPort: r.protocol === '-1' ? undefined : r.toPort,
    groups: r.groups.map((g) => ({ description: g.description, userId: world.account, groupId: g.groupId })),
    ipRanges: r.cidrs.map((c) => ({ cidrIp: c.cidr, description: c.description })),
    ipv6Ranges: [],
    prefixListIds: [],
  };
}

export function securityGroupShape(world: World, sg: SecurityGroup): XmlValue {
  return {
    ownerId: world.account,
    groupId: sg.id,
    groupName: sg.name,
    groupDescription: sg.description,
    vpcId: sg.vpcId,
    securityGroupArn: `arn:aws:ec2:${world.region}:${world.account}:security-group/${sg.id}`,
    ipPermissions: sg.ingress.map((r) => rule(world, r)),
    ipPermissionsEgress: sg.egress.map((r) => rule(world, r)),
    tagSet: nameTag(sg.name),
  };
}

export function subnetShape(world: World, s: Subnet): XmlValue {
  return {
    subnetId: s.id,
    subnetArn: `arn:aws:ec2:${world.region}:${world.account}:subnet/${s.id}`,
    state: 'available',
    vpcId: s.vpcId,
    cidrBlock: s.cidr,
    ipv6CidrBlockAssociationSet: [],
    availableIpAddressCount: s.availableIpAddressCount,
    availabilityZone: s.availabilityZone,
    availabilityZoneId: s.availabilityZoneId,
    defaultForAz: false,
    mapPublicIpOnLaunch: s.mapPublicIpOnLaunch,
    ownerId: world.account,
    assignIpv6AddressOnCreation: false,
    tagSet: nameTag(s.name),
    enableDns64: false,
    ipv6Native: false,
    privateDnsNameOptionsOnLaunch: {
      hostnameType: 'ip-name',
      enableResourceNameDnsARecord: false,
      enableResourceNameDnsAAAARecord: false,
    },
    mapCustomerOwnedIpOnLaunch: false,
  };
}

export function routeTableShape(world: World, t: RouteTable): XmlValue {
  const associations: XmlValue[] = t.subnetIds.map((subnetId, i) => ({
    main: false,
    routeTableAssociationId: `rtbassoc-0${t.id.slice(5, 13)}${String(i).padStart(8, '0')}`,
    routeTableId: t.id,
    subnetId,
    associationState: { state: 'associated' },
  }));
  if (t.main) {
    associations.unshift({
      main: true,
      routeTableAssociationId: `rtbassoc-0${t.id.slice(5, 13)}ffffffff`,
      routeTableId: t.id,
      associationState: { state: 'associated' },
    });
  }
  return {
    associationSet: associations,
    propagatingVgwSet: [],
    routeTableId: t.id,
    routeSet: t.routes.map((r) => ({
      destinationCidrBlock: r.destinationCidrBlock,
      destinationPrefixListId: r.destinationPrefixListId,
      gatewayId: r.gatewayId,
      natGatewayId: r.natGatewayId,
      origin: r.origin,
      state: r.state,
    })),
    tagSet: nameTag(t.name),
    vpcId: t.vpcId,
    ownerId: world.account,
  };
}

export function vpcEndpointShape(world: World, e: VpcEndpoint): XmlValue {
  const service = e.serviceName.split('.').pop() ?? '';
  return {
    vpcEndpointId: e.id,
    vpcEndpointType: e.type,
    vpcId: e.vpcId,
    serviceName: e.serviceName,
    state: e.state,
    policyDocument: JSON.stringify({
      Version: '2008-10-17',
      Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }],
    }),
    routeTableIdSet: e.routeTableIds,
    subnetIdSet: e.subnetIds,
    groupSet: e.securityGroupIds.map((id) => ({
      groupId: id,
      groupName: world.securityGroups.find((g) => g.id === id)?.name,
    })),
    ipAddressType: 'ipv4',
    dnsOptions: { dnsRecordIpType: e.type === 'Interface' ? 'ipv4' : 'service-defined' },
    privateDnsEnabled: e.privateDnsEnabled,
    requesterManaged: false,
    networkInterfaceIdSet: [],
    dnsEntrySet:
      e.type === 'Interface'
        ? [
            {
              dnsName: `${e.id}.${service}.${world.region}.vpce.amazonaws.com`,
              hostedZoneId: 'Z7HUB22UULQXV',
            },
          ]
        : [],
    creationTimestamp: new Date(e.createdAt),
    tagSet: [],
    ownerId: world.account,
  };
}

export function networkInterfaceShape(world: World, n: NetworkInterface): XmlValue {
  const association = n.publicIp
    ? {
        ipOwnerId: 'amazon',
        publicDnsName: `ec2-${n.publicIp.replace(/\./g, '-')}.compute-1.amazonaws.com`,
        publicIp: n.publicIp,
      }
    : undefined;
  const privateDnsName = `ip-${n.privateIp.replace(/\./g, '-')}.ec2.internal`;
  return {
    association,
    attachment: {
      attachTime: new Date(n.attachTime),
      attachmentId: `ela-attach-0${n.id.slice(5, 21)}`,
      deleteOnTermination: false,
      deviceIndex: 1,
      networkCardIndex: 0,
      instanceOwnerId: n.requesterId,
      status: 'attached',
    },
    availabilityZone: n.availabilityZone,
    description: n.description,
    groupSet: n.groupIds.map((id) => ({
      groupId: id,
      groupName: world.securityGroups.find((g) => g.id === id)?.name,
    })),
    interfaceType: n.interfaceType,
    ipv6AddressesSet: [],
    macAddress: n.macAddress,
    networkInterfaceId: n.id,
    ownerId: world.account,
    privateDnsName,
    privateIpAddress: n.privateIp,
    privateIpAddressesSet: [{ association, primary: true, privateDnsName, privateIpAddress: n.privateIp }],
    requesterId: n.requesterId,
    requesterManaged: n.requesterManaged,
    sourceDestCheck: true,
    status: n.status,
    subnetId: n.subnetId,
    tagSet: [],
    vpcId: n.vpcId,
  };
}

export function natGatewayShape(n: NatGateway): XmlValue {
  return {
    createTime: new Date(n.createdAt),
    natGatewayAddressSet: [
      {
        allocationId: n.allocationId,
        networkInterfaceId: n.networkInterfaceId,
        privateIp: n.privateIp,
        publicIp: n.publicIp,
        associationId: `eipassoc-0${n.id.slice(5, 21)}`,
        isPrimary: true,
        status: 'succeeded',
      },
    ],
    natGatewayId: n.id,
    state: n.state,
    subnetId: n.subnetId,
    vpcId: n.vpcId,
    tagSet: [{ key: 'Name', value: 'coder-nat' }],
    connectivityType: 'public',
  };
}
