// The network paths a session needs: the RDS security group must admit the service's security
// group on the database port (the runbook's describe-security-groups), and a task without a public
// IP needs a way to Session Manager, through a NAT gateway route or a VPC interface endpoint for
// ssmmessages (the agent dials out; nothing dials in).

import type { IpPermission, RouteTable, SecurityGroup } from '@aws-sdk/client-ec2';
import { cidrContains } from '../../../aws/cidr.js';
import type { DoctorContext } from '../context.js';
import { type CheckSpec, fail, pass, skip, warn } from '../types.js';
import { attachmentDetail, listing } from './common.js';

function coversPort(rule: IpPermission, port: number): boolean {
  const protocol = rule.IpProtocol ?? '';
  if (protocol === '-1' || protocol === 'all') return true;
  if (protocol !== 'tcp' && protocol !== '6') return false;
  return (rule.FromPort ?? 0) <= port && port <= (rule.ToPort ?? 65535);
}

function describeRule(rule: IpPermission): string {
  const ports =
    rule.IpProtocol === '-1'
      ? 'all traffic'
      : `${rule.IpProtocol}/${rule.FromPort === rule.ToPort ? rule.FromPort : `${rule.FromPort}-${rule.ToPort}`}`;
  const sources = [
    ...(rule.UserIdGroupPairs ?? []).map((p) => p.GroupId ?? '?'),
    ...(rule.IpRanges ?? []).map((r) => r.CidrIp ?? '?'),
    ...(rule.PrefixListIds ?? []).map((p) => p.PrefixListId ?? '?'),
  ];
  return `${ports} from ${sources.join(', ') || 'nothing'}`;
}

export const dbIngressCheck: CheckSpec<DoctorContext> = {
  id: 'network.db-ingress',
  title: 'RDS security group admits the service',
  dependsOn: ['rds.instance', 'ecs.service'],
  scope: 'deployment',
  async run(ctx) {
    const db = await ctx.facts.dbInstance();
    const service = await ctx.facts.service();
    const port = db?.Endpoint?.Port ?? (await ctx.facts.secret().catch(() => undefined))?.port ?? 5432;
    const attached = (db?.VpcSecurityGroups ?? [])
      .filter((g) => g.Status === undefined || g.Status === 'active' || g.Status === 'adding')
      .map((g) => g.VpcSecurityGroupId ?? '')
      .filter(Boolean);
    const dbGroups = attached.length > 0 ? attached : [ctx.profile.securityGroup];
    const details: string[] = [];
    if (attached.length > 0 && !attached.includes(ctx.profile.securityGroup)) {
      details.push(
        `the profile names ${ctx.profile.securityGroup}, which is not attached to the instance; using ${attached.join(', ')}`,
      );
    }
    const serviceGroups = service?.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? [];
    if (serviceGroups.length === 0) {
      return warn(
        `service ${ctx.profile.service} has no awsvpc security groups to compare with`,
        `check the RDS security group by hand: aws ec2 describe-security-groups --group-ids ${dbGroups.join(' ')} ${ctx.regionFlag}`,
      );
    }
    const task = await ctx.facts.task().catch(() => undefined);
    const taskIp = attachmentDetail(task, 'privateIPv4Address');
    const groups: SecurityGroup[] = await ctx.facts.securityGroups(dbGroups);
    for (const group of groups) {
      for (const rule of group.IpPermissions ?? [])
        details.push(`${group.GroupId} admits ${describeRule(rule)}`);
    }
    for (const group of groups) {
      for (const rule of group.IpPermissions ?? []) {
        if (!coversPort(rule, port)) continue;
        const viaGroup = rule.UserIdGroupPairs?.find((p) => p.GroupId && serviceGroups.includes(p.GroupId));
        if (viaGroup) {
          return pass(
            `${group.GroupId} admits the service's group ${viaGroup.GroupId} on tcp/${port}`,
            details,
          );
        }
        const viaCidr = taskIp
          ? rule.IpRanges?.find((r) => r.CidrIp && cidrContains(r.CidrIp, taskIp))
          : undefined;
        if (viaCidr) {
          return pass(
            `${group.GroupId} admits ${viaCidr.CidrIp}, which holds the task's address ${taskIp}, on tcp/${port}`,
            details,
          );
        }
      }
    }
    return fail(
      `no ingress rule of ${listing(dbGroups)} admits the service's security group ${listing(serviceGroups)} on tcp/${port}`,
      `aws ec2 authorize-security-group-ingress --group-id ${dbGroups[0]} --protocol tcp --port ${port} --source-group ${serviceGroups[0]} ${ctx.regionFlag}`,
      details,
    );
  },
};

const isAvailable = (state: string | undefined) => (state ?? '').toLowerCase() === 'available';

export const ssmRouteCheck: CheckSpec<DoctorContext> = {
  id: 'network.ssm-route',
  title: 'Task can reach Session Manager',
  dependsOn: ['ecs.service'],
  scope: 'agent',
  async run(ctx) {
    const service = await ctx.facts.service();
    const awsvpc = service?.networkConfiguration?.awsvpcConfiguration;
    const task = await ctx.facts.task().catch(() => undefined);
    const taskSubnet = attachmentDetail(task, 'subnetId');
    const subnetIds = taskSubnet ? [taskSubnet] : (awsvpc?.subnets ?? []);
    if (subnetIds.length === 0)
      return skip(`service ${ctx.profile.service} has no awsvpc subnets (not Fargate?)`);
    const subnets = await ctx.facts.subnets(subnetIds);
    const vpcId = subnets[0]?.VpcId;
    if (!vpcId) return warn(`cannot find the VPC of ${listing(subnetIds)}`, null);
    const endpoints = await ctx.facts.vpcEndpoints(vpcId);
    const endpointFor = (service: string) =>
      endpoints.find(
        (e) =>
          e.ServiceName === `com.amazonaws.${ctx.region}.${service}` &&
          e.VpcEndpointType === 'Interface' &&
          isAvailable(e.State),
      );
    const ssm = endpointFor('ssmmessages');
    const details = endpoints.map((e) => `VPC endpoint ${e.VpcEndpointId} for ${e.ServiceName} (${e.State})`);
    if (ssm?.PrivateDnsEnabled) {
      const missing = await endpointsAlsoNeeded(ctx, endpointFor);
      if (missing.length > 0) {
        return warn(
          `${vpcId} reaches ssmmessages through ${ssm.VpcEndpointId}, but has no endpoint for ${listing(missing)}, which the exec configuration needs`,
          endpointFix(ctx, vpcId, subnetIds, awsvpc?.securityGroups ?? [], missing),
          details,
        );
      }
      return pass(`${vpcId} has an interface endpoint for ssmmessages (${ssm.VpcEndpointId})`, details);
    }
    const eniId = attachmentDetail(task, 'networkInterfaceId');
    const eni = eniId ? await ctx.facts.networkInterface(eniId) : undefined;
    const publicIp =
      eni?.Association?.PublicIp ?? (awsvpc?.assignPublicIp === 'ENABLED' ? 'assigned' : undefined);
    const routes: string[] = [];
    const problems: string[] = [];
    const unsure: string[] = [];
    const brokenTables = new Set<string>();
    for (const subnetId of subnetIds) {
      const table = await ctx.facts.routeTableFor(subnetId, vpcId);
      const verdict = await defaultRoute(ctx, table, subnetId, publicIp);
      (verdict.ok === true ? routes : verdict.ok === false ? problems : unsure).push(verdict.text);
      if (verdict.ok === false && table?.RouteTableId) brokenTables.add(table.RouteTableId);
    }
    if (ssm && !ssm.PrivateDnsEnabled) {
      details.push(`${ssm.VpcEndpointId} for ssmmessages has private DNS off, so the agent does not use it`);
    }
    details.push(...routes, ...unsure);
    if (problems.length > 0) {
      return fail(
        `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more subnet(s))` : ''}, so the ExecuteCommandAgent cannot reach Session Manager`,
        [
          endpointFix(ctx, vpcId, subnetIds, awsvpc?.securityGroups ?? [], ['ssmmessages']),
          'or route 0.0.0.0/0 of the task subnets through a NAT gateway:',
          ...(brokenTables.size > 0 ? [...brokenTables] : ['<rtb-…>']).map(
            (table) =>
              `aws ec2 create-route --route-table-id ${table} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat-…> ${ctx.regionFlag}`,
          ),
        ].join('\n'),
        [...problems.slice(1), ...details],
      );
    }
    if (unsure.length > 0) {
      return warn(`${unsure[0]}; doctor cannot tell whether that reaches Session Manager`, null, details);
    }
    return pass(routes[0] ?? `the task subnets have a route to Session Manager`, details);
  },
};

interface RouteVerdict {
  ok: boolean | undefined;
  text: string;
}

async function defaultRoute(
  ctx: DoctorContext,
  table: RouteTable | undefined,
  subnetId: string,
  publicIp: string | undefined,
): Promise<RouteVerdict> {
  const route = table?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.State !== 'blackhole');
  if (!route) {
    return {
      ok: false,
      text: `subnet ${subnetId} has no route to 0.0.0.0/0 and its VPC no ssmmessages endpoint`,
    };
  }
  if (route.NatGatewayId) {
    const nat = await ctx.facts.natGateway(route.NatGatewayId);
    if (isAvailable(nat?.State)) {
      return {
        ok: true,
        text: `subnet ${subnetId} routes 0.0.0.0/0 through NAT gateway ${route.NatGatewayId} (available)`,
      };
    }
    return {
      ok: false,
      text: `subnet ${subnetId} routes 0.0.0.0/0 through NAT gateway ${route.NatGatewayId}, which is ${nat?.State ?? 'gone'}`,
    };
  }
  if (route.GatewayId?.startsWith('igw-')) {
    if (publicIp)
      return {
        ok: true,
        text: `subnet ${subnetId} routes 0.0.0.0/0 to ${route.GatewayId} and the task has a public IP`,
      };
    return {
      ok: false,
      text: `subnet ${subnetId} routes 0.0.0.0/0 to internet gateway ${route.GatewayId} but the task has no public IP`,
    };
  }
  const target =
    route.TransitGatewayId ??
    route.NetworkInterfaceId ??
    route.InstanceId ??
    route.VpcPeeringConnectionId ??
    route.GatewayId ??
    'an unknown target';
  return { ok: undefined, text: `subnet ${subnetId} routes 0.0.0.0/0 to ${target}` };
}

/** Services the agent also calls when the exec configuration encrypts or logs to CloudWatch. */
async function endpointsAlsoNeeded(
  ctx: DoctorContext,
  endpointFor: (service: string) => unknown,
): Promise<string[]> {
  const config = (await ctx.facts.cluster().catch(() => undefined))?.configuration
    ?.executeCommandConfiguration;
  const needed: string[] = [];
  if (config?.kmsKeyId) needed.push('kms');
  if (config?.logging === 'OVERRIDE' && config.logConfiguration?.cloudWatchLogGroupName) needed.push('logs');
  return needed.filter((service) => !endpointFor(service));
}

function endpointFix(
  ctx: DoctorContext,
  vpcId: string,
  subnets: string[],
  groups: string[],
  services: string[],
): string {
  return [
    `create interface endpoints for ${listing(services)} in ${vpcId} (their security group must admit tcp/443 from the tasks):`,
    ...services.map(
      (service) =>
        `aws ec2 create-vpc-endpoint --vpc-id ${vpcId} --vpc-endpoint-type Interface --service-name com.amazonaws.${ctx.region}.${service} --subnet-ids ${subnets.join(' ')}${groups.length ? ` --security-group-ids ${groups.join(' ')}` : ''} --private-dns-enabled ${ctx.regionFlag}`,
    ),
  ].join('\n');
}
