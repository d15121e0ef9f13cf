// Choosing among several usable tasks (a rolling deployment, or a service with more than one
// task) on a terminal: a numbered list on stderr, newest first, and Enter takes the newest. Each
// line shows the task's start time and platform version as findTask read them ("unknown" when ECS
// did not say).

import type { TaskTarget } from '../../aws/tasks.js';
import { CoderdbError, usageError } from '../../core/errors.js';
import { ask } from '../../core/prompt.js';

export interface PickerIo {
  /** Shows one line to the person choosing (stderr). */
  write(line: string): void;
  /** Asks one line; rejects when there is nobody to answer. */
  ask(question: string): Promise<string>;
}

const ATTEMPTS = 3;

export async function pickTask(candidates: TaskTarget[], io: PickerIo): Promise<TaskTarget> {
  if (candidates.length <= 1) {
    const only = candidates[0];
    if (!only) throw usageError('remote.no-task', 'no task to choose from');
    return only;
  }
  io.write(`${candidates.length} tasks can be used:`);
  candidates.forEach((task, index) => {
    const started = task.startedAt ? task.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'unknown';
    const platform = task.platformVersion ?? 'unknown';
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

/** The picker on this process's terminal. */
export function terminalPicker(candidates: TaskTarget[]): Promise<TaskTarget> {
  return pickTask(candidates, {
    write: (line) => process.stderr.write(`${line}\n`),
    ask: (question) => ask(question),
  });
}
