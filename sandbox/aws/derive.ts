// Facts that follow from the world rather than being stored in it: whether the ExecuteCommand agent
// in a task can reach Session Manager (task role permissions, credentials, filesystem, network
// route), and whether the task can reach the database (RDS status and security groups). ECS
// ExecuteCommand and SSM StartSession use the first; the orchestrator can use the second to make
// the agent's port sessions fail the way the network would.

import { cidrContains } from '../../src/aws/cidr.js';
import { evaluatePrincipal } from './iam-policy.js';
import type { EcsTask, SgRule, TaskDefinition, World } from './world.js';

export interface Verdict {
  ok: boolean;
  /** Why not, one short sentence each; empty when ok. */
  reasons: string[];
}

const SSMMESSAGES_ACTIONS = [
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

export function taskDefinitionOf(world: World, task: EcsTask): TaskDefinition | undefined {
  return world.taskDefinitions.find((td) => td.arn === task.taskDefinitionArn);
}

/** Whether the task's subnet has a path to the regional ssmmessages endpoint. */
function ssmRoute(world: World, task: EcsTask): string | undefined {
  const serviceName = `com.amazonaws.${world.region}.ssmmessages`;
  const endpoint = world.vpcEndpoints.find(
    (e) =>
      e.serviceName === serviceName &&
      e.state === 'available' &&
      e.type === 'Interface' &&
      e.privateDnsEnabled,
  );
  if (endpoint) return undefined;
  const subnetId = task.eni.subnetId;
  const table =
    world.routeTables.find((t) => t.subnetIds.includes(subnetId)) ??
    world.routeTables.find((t) => t.main && t.vpcId === world.vpc.id);
  const route = table?.routes.find((r) => r.destinationCidrBlock === '0.0.0.0/0' && r.state === 'active');
  if (route?.natGatewayId) {
    const nat = world.natGateways.find((n) => n.id === route.natGatewayId);
    if (nat?.state === 'available') return undefined;
    return `the default route of ${subnetId} uses NAT gateway ${route.natGatewayId}, which is not available`;
  }
  if (route?.gatewayId?.startsWith('igw-')) {
    const eni = world.networkInterfaces.find((n) => n.id === task.eni.networkInterfaceId);
    if (eni?.publicIp) return undefined;
    return `subnet ${subnetId} routes to an internet gateway but the task has no public IP`;
  }
  return `subnet ${subnetId} has no NAT or internet route and the VPC has no ${serviceName} endpoint`;
}

/** Can the ExecuteCommandAgent in this task open its control channel to Session Manager? */
export function execAgentConnectivity(world: World, task: EcsTask): Verdict {
  const reasons: string[] = [];
  const td = taskDefinitionOf(world, task);
  const role = world.roles.find((r) => r.arn === td?.taskRoleArn);
  if (!role) reasons.push('the task has no task role');
  else {
    const missing = SSMMESSAGES_ACTIONS.filter(
      (a) => evaluatePrincipal(world, role, a, '*').decision !== 'allowed',
    );
    if (missing.length > 0) reasons.push(`the task role ${role.name} is not allowed ${missing.join(', ')}`);
  }
  for (const cd of td?.containerDefinitions ?? []) {
    if (cd.environment.some((e) => e.name === 'AWS_ACCESS_KEY_ID')) {
      reasons.push(
        `container ${cd.name} sets AWS_ACCESS_KEY_ID, so the agent uses those keys, not the task role`,
      );
    }
    if (cd.readonlyRootFilesystem) {
      reasons.push(`container ${cd.name} has a read-only root filesystem, so the agent cannot start`);
    }
  }
  const route = ssmRoute(world, task);
  if (route) reasons.push(route);
  return { ok: reasons.length === 0, reasons };
}

function ruleAdmits(rule: SgRule, port: number, groupIds: string[], ip: string): boolean {
  const allPorts = rule.protocol === '-1';
  const portOk =
    allPorts || (rule.protocol === 'tcp' && (rule.fromPort ?? 0) <= port && port <= (rule.toPort ?? 65535));
  if (!portOk) return false;
  return (
    rule.groups.some((g) => groupIds.includes(g.groupId)) || rule.cidrs.some((c) => cidrContains(c.cidr, ip))
  );
}

/** Can the running task open a TCP connection to the RDS instance? */
export function taskCanReachDatabase(world: World, task?: EcsTask): Verdict {
  const reasons: string[] = [];
  const db = world.dbInstances[0];
  const t = task ?? world.tasks.find((x) => x.lastStatus === 'RUNNING');
  if (!db) return { ok: false, reasons: ['there is no RDS instance'] };
  if (db.status !== 'available') reasons.push(`the RDS instance ${db.identifier} is ${db.status}`);
  if (!t) reasons.push('there is no running task');
  else {
    const eni = world.networkInterfaces.find((n) => n.id === t.eni.networkInterfaceId);
    const groupIds = eni?.groupIds ?? world.service.networkConfiguration.securityGroups;
    const admitted = db.vpcSecurityGroupIds.some((id) => {
      const sg = world.securityGroups.find((g) => g.id === id);
      return sg?.ingress.some((r) => ruleAdmits(r, db.endpoint.port, groupIds, t.eni.privateIp)) ?? false;
    });
    if (!admitted) {
      reasons.push(
        `no ingress rule of ${db.vpcSecurityGroupIds.join(', ')} admits the task (${groupIds.join(', ')}) ` +
          `on port ${db.endpoint.port}`,
      );
    }
  }
  return { ok: reasons.length === 0, reasons };
}
