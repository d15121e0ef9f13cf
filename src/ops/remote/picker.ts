// Choosing among several usable tasks (a rolling deployment, or a service with more than one
// task) on a terminal: a numbered list on stderr, newest first, and Enter takes the newest. The
// list shows each task's platform version, which findTask does not keep, so it is looked up once,
// and only when there is a choice to make; if that fails the list simply goes without it.

import type { TaskTarget } from '../../aws/tasks.js';
import { CoderdbError, usageError } from '../../core/errors.js';
import { ask } from '../../core/prompt.js';
import { withTimeout } from '../../ssm/timing.js';

export interface PickerIo {
  /** Shows one line to the person choosing (stderr). */
  write(line: string): void;
  /** Asks one line; rejects when there is nobody to answer. */
  ask(question: string): Promise<string>;
  /** Platform versions by task ARN; may fail or be partial. */
  platformVersions?(candidates: TaskTarget[]): Promise<Map<string, string>>;
}

const ATTEMPTS = 3;

export async function pickTask(candidates: TaskTarget[], io: PickerIo): Promise<TaskTarget> {
  if (candidates.length <= 1) {
    const only = candidates[0];
    if (!only) throw usageError('remote.no-task', 'no task to choose from');
    return only;
  }
  let versions = new Map<string, string>();
  try {
    versions = (await io.platformVersions?.(candidates)) ?? versions;
  } catch {
    // Shown as unknown below.
  }
  io.write(`${candidates.length} tasks can be used:`);
  candidates.forEach((task, index) => {
    const started = task.startedAt ? task.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'unknown';
    const platform = versions.get(task.taskArn) ?? 'unknown';
    const newest = index === 0 ? '  (newest)' : '';
    io.write(`  ${index + 1}) ${task.taskId}  started ${started}  platform ${platform}${newest}`);
  });
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let answer: string;
    try {
      answer = (await io.ask(`Task [1-${candidates.length}, Enter for 1]: `)).trim();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message === 'interrupted') {
        throw new CoderdbError('interrupted', 'remote.pick-interrupted', 'no task was chosen');
      }
      throw usageError('remote.pick-failed', `no task was chosen: ${message}`, {
        hint: 'choose one with --task',
      });
    }
    if (answer === '') return candidates[0]!;
    const chosen = /^\d+$/.test(answer) ? candidates[Number(answer) - 1] : undefined;
    const byId = candidates.find((task) => task.taskId === answer || task.taskArn === answer);
    if (chosen ?? byId) return (chosen ?? byId)!;
    io.write(`"${answer}" is not one of 1-${candidates.length}`);
  }
  throw usageError('remote.pick-failed', 'no task was chosen', { hint: 'choose one with --task' });
}

/** The picker on this process's terminal; looks the platform versions up in ECS. */
export function terminalPicker(
  platformVersions: (candidates: TaskTarget[]) => Promise<Map<string, string>>,
): (candidates: TaskTarget[]) => Promise<TaskTarget> {
  return (candidates) =>
    pickTask(candidates, {
      write: (line) => process.stderr.write(`${line}\n`),
      ask: (question) => ask(question),
      platformVersions: (tasks) =>
        withTimeout(platformVersions(tasks), 10_000, () => new Error('DescribeTasks timed out')),
    });
}
