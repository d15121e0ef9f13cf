// Amazon EC2 (ec2Query, version 2016-11-15): the Describe calls a network diagnosis needs
// (security groups, subnets, route tables, VPC endpoints, network interfaces, NAT gateways), with
// id lists, the usual filters (values may use `*` and `?`), and EC2's NotFound error codes.

import { globMatch } from '../../../src/aws/iam-policy.js';
import { AwsError } from '../errors.js';
import type { QueryFilter, QueryInput } from '../protocol/query.js';
import type { XmlValue } from '../protocol/xml.js';
import type { World } from '../world.js';
import {
  natGatewayShape,
  networkInterfaceShape,
  routeTableShape,
  securityGroupShape,
  subnetShape,
  vpcEndpointShape,
} from './ec2-shapes.js';
import type { QueryService, ServiceContext } from './types.js';

type FilterFields<T> = Record<string, (item: T) => (string | undefined)[]>;

interface Describe<T> {
  action: string;
  idParam: string;
  items: (world: World) => T[];
  id: (item: T) => string;
  notFound: (id: string) => AwsError;
  filters: FilterFields<T>;
  resultKey: string;
  shape: (world: World, item: T) => XmlValue;
}

function applyFilters<T>(items: T[], filters: QueryFilter[], fields: FilterFields<T>): T[] {
  let out = items;
  for (const f of filters) {
    const field = fields[f.name];
    if (!field) throw new AwsError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    out = out.filter((item) =>
      field(item).some((v) => v !== undefined && f.values.some((pattern) => globMatch(pattern, v, false))),
    );
  }
  return out;
}

function describe<T>(spec: Describe<T>) {
  return (input: QueryInput, ctx: ServiceContext): Record<string, XmlValue> => {
    ctx.authorize(`ec2:${spec.action}`);
    const all = spec.items(ctx.world);
    const ids = input.list(spec.idParam);
    for (const id of ids) {
      if (!all.some((item) => spec.id(item) === id)) throw spec.notFound(id);
    }
    const selected = ids.length > 0 ? all.filter((item) => ids.includes(spec.id(item))) : all;
    const filtered = applyFilters(selected, input.filters(), spec.filters);
    return { [spec.resultKey]: filtered.map((item) => spec.shape(ctx.world, item)) };
  };
}

const notFound = (code: string, text: (id: string) => string) => (id: string) => new AwsError(code, text(id));

const describeSecurityGroups = describe({
  action: 'DescribeSecurityGroups',
  idParam: 'GroupId',
  items: (w) => w.securityGroups,
  id: (g) => g.id,
  notFound: notFound('InvalidGroup.NotFound', (id) => `The security group '${id}' does not exist`),
  filters: {
    'group-id': (g) => [g.id],
    'group-name': (g) => [g.name],
    'vpc-id': (g) => [g.vpcId],
    description: (g) => [g.description],
    'tag:Name': (g) => [g.name],
    'ip-permission.group-id': (g) => g.ingress.flatMap((r) => r.groups.map((x) => x.groupId)),
    'ip-permission.from-port': (g) => g.ingress.map((r) => r.fromPort?.toString()),
    'ip-permission.to-port': (g) => g.ingress.map((r) => r.toPort?.toString()),
    'ip-permission.cidr': (g) => g.ingress.flatMap((r) => r.cidrs.map((c) => c.cidr)),
  },
  resultKey: 'securityGroupInfo',
  shape: securityGroupShape,
});

const describeSubnets = describe({
  action: 'DescribeSubnets',
  idParam: 'SubnetId',
  items: (w) => w.subnets,
  id: (s) => s.id,
  notFound: notFound('InvalidSubnetID.NotFound', (id) => `The subnet ID '${id}' does not exist`),
  filters: {
    'subnet-id': (s) => [s.id],
    'vpc-id': (s) => [s.vpcId],
    'availability-zone': (s) => [s.availabilityZone],
    'cidr-block': (s) => [s.cidr],
    'map-public-ip-on-launch': (s) => [String(s.mapPublicIpOnLaunch)],
    'tag:Name': (s) => [s.name],
  },
  resultKey: 'subnetSet',
  shape: subnetShape,
});

const describeRouteTables = describe({
  action: 'DescribeRouteTables',
  idParam: 'RouteTableId',
  items: (w) => w.routeTables,
  id: (t) => t.id,
  notFound: notFound('InvalidRouteTableID.NotFound', (id) => `The routeTable ID '${id}' does not exist`),
  filters: {
    'route-table-id': (t) => [t.id],
    'vpc-id': (t) => [t.vpcId],
    'association.subnet-id': (t) => t.subnetIds,
    'association.main': (t) => [String(t.main)],
    'route.nat-gateway-id': (t) => t.routes.map((r) => r.natGatewayId),
    'route.gateway-id': (t) => t.routes.map((r) => r.gatewayId),
    'route.destination-cidr-block': (t) => t.routes.map((r) => r.destinationCidrBlock),
    'tag:Name': (t) => [t.name],
  },
  resultKey: 'routeTableSet',
  shape: routeTableShape,
});

const describeVpcEndpoints = describe({
  action: 'DescribeVpcEndpoints',
  idParam: 'VpcEndpointId',
  items: (w) => w.vpcEndpoints,
  id: (e) => e.id,
  notFound: notFound('InvalidVpcEndpointId.NotFound', (id) => `The Vpc Endpoint Id '${id}' does not exist`),
  filters: {
    'vpc-endpoint-id': (e) => [e.id],
    'vpc-id': (e) => [e.vpcId],
    'service-name': (e) => [e.serviceName],
    'vpc-endpoint-type': (e) => [e.type],
    'vpc-endpoint-state': (e) => [e.state],
  },
  resultKey: 'vpcEndpointSet',
  shape: vpcEndpointShape,
});

const describeNetworkInterfaces = describe({
  action: 'DescribeNetworkInterfaces',
  idParam: 'NetworkInterfaceId',
  items: (w) => w.networkInterfaces,
  id: (n) => n.id,
  notFound: notFound(
    'InvalidNetworkInterfaceID.NotFound',
    (id) => `The networkInterface ID '${id}' does not exist`,
  ),
  filters: {
    'network-interface-id': (n) => [n.id],
    'subnet-id': (n) => [n.subnetId],
    'vpc-id': (n) => [n.vpcId],
    'group-id': (n) => n.groupIds,
    'private-ip-address': (n) => [n.privateIp],
    'addresses.private-ip-address': (n) => [n.privateIp],
    'association.public-ip': (n) => [n.publicIp],
    description: (n) => [n.description],
    'interface-type': (n) => [n.interfaceType],
    status: (n) => [n.status],
  },
  resultKey: 'networkInterfaceSet',
  shape: networkInterfaceShape,
});

const describeNatGateways = describe({
  action: 'DescribeNatGateways',
  idParam: 'NatGatewayId',
  items: (w) => w.natGateways,
  id: (n) => n.id,
  notFound: notFound('NatGatewayNotFound', (id) => `The Nat Gateway ${id} was not found`),
  filters: {
    'nat-gateway-id': (n) => [n.id],
    'subnet-id': (n) => [n.subnetId],
    'vpc-id': (n) => [n.vpcId],
    state: (n) => [n.state],
  },
  resultKey: 'natGatewaySet',
  shape: (_w, n) => natGatewayShape(n),
});

export const ec2Service: QueryService = {
  protocol: 'ec2',
  signingName: 'ec2',
  version: '2016-11-15',
  xmlns: 'http://ec2.amazonaws.com/doc/2016-11-15/',
  missingParameterCode: 'MissingParameter',
  operations: {
    DescribeSecurityGroups: describeSecurityGroups,
    DescribeSubnets: describeSubnets,
    DescribeRouteTables: describeRouteTables,
    DescribeVpcEndpoints: describeVpcEndpoints,
    DescribeNetworkInterfaces: describeNetworkInterfaces,
    DescribeNatGateways: describeNatGateways,
  },
};
