// Small pieces several groups of checks use to word findings and fixes the same way: the
// `aws ecs update-service` command line, task ids, how long ago something happened, clipping.

import type { Task } from '@aws-sdk/client-ecs';
import type { DoctorContext } from '../context.js';
import { lastSegment } from '../facts.js';

export function taskIdOf(task: Task | undefined): string {
  return task?.taskArn ? lastSegment(task.taskArn) : 'unknown';
}

/** `aws ecs update-service --cluster … --service … <flags> --region …`. */
export function updateService(ctx: DoctorContext, flags: string): string {
  const { cluster, service } = ctx.profile;
  return `aws ecs update-service --cluster ${cluster} --service ${service} ${flags} ${ctx.regionFlag}`;
}

/** The fix for a task definition setting: change it, register the revision, deploy it. */
export function redeployWith(ctx: DoctorContext, change: string, family: string | undefined): string {
  return [
    change,
    `then register the new revision and deploy it:`,
    updateService(ctx, `--task-definition ${family ?? '<family>'} --force-new-deployment`),
  ].join('\n');
}

/** `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(date: Date | undefined, now = Date.now()): string {
  if (!date) return 'at an unknown time';
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

export function clip(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `a, b and c`. */
export function listing(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** A value from a task's ENI attachment details (subnetId, privateIPv4Address…). */
export function attachmentDetail(task: Task | undefined, name: string): string | undefined {
  for (const attachment of task?.attachments ?? []) {
    if (attachment.type !== 'ElasticNetworkInterface') continue;
    const value = attachment.details?.find((detail) => detail.name === name)?.value;
    if (value) return value;
  }
  return undefined;
}
