// The task picker coderdb shows on a terminal when several tasks qualify. The sandbox runs a single
// task, so the picker is driven here directly, with the terminal's two halves (the list written to
// stderr, the answer read from stdin) played by the test.

import { describe, expect, it } from 'vitest';
import { assess, type TaskTarget } from '../../src/aws/tasks.js';
import { CoderdbError } from '../../src/core/errors.js';
import { type PickerIo, pickTask } from '../../src/ops/remote/index.js';

const task = (id: string, startedAt: string, platformVersion?: string): TaskTarget => ({
  cluster: 'coder-cluster',
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/coder-cluster/${id}`,
  taskId: id,
  container: 'coder',
  runtimeId: `${id}-runtime`,
  startedAt: new Date(startedAt),
  ...(platformVersion ? { platformVersion } : {}),
  ssmTarget: `ecs:coder-cluster_${id}_${id}-runtime`,
});

// Newest first, as findTask hands them over, with the platform versions ECS reported.
const CANDIDATES = [
  task('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '2024-05-02T10:00:00.000Z', '1.4.0'),
  task('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', '2024-05-01T09:30:15.250Z', '1.3.0'),
];

function scriptedIo(answers: Array<string | Error>) {
  const lines: string[] = [];
  const questions: string[] = [];
  const io: PickerIo = {
    write: (line) => lines.push(line),
    ask: async (question) => {
      questions.push(question);
      const answer = answers.shift();
      if (answer === undefined) throw new Error('input closed');
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { io, lines, questions };
}

describe('task picker', () => {
  it('lists id, start time and platform version, newest first, and Enter takes the newest', async () => {
    const { io, lines, questions } = scriptedIo(['']);
    expect(await pickTask(CANDIDATES, io)).toBe(CANDIDATES[0]);
    expect(lines).toEqual([
      '2 tasks can be used:',
      '  1) aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  started 2024-05-02T10:00:00Z  platform 1.4.0  (newest)',
      '  2) bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  started 2024-05-01T09:30:15Z  platform 1.3.0',
    ]);
    expect(questions).toEqual(['Task [1-2, Enter for 1]: ']);
  });

  it('takes a number or a task id, and asks again after a wrong answer', async () => {
    expect(await pickTask(CANDIDATES, scriptedIo(['2']).io)).toBe(CANDIDATES[1]);
    expect(await pickTask(CANDIDATES, scriptedIo([' bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ']).io)).toBe(
      CANDIDATES[1],
    );
    const retry = scriptedIo(['3', 'x', '2']);
    expect(await pickTask(CANDIDATES, retry.io)).toBe(CANDIDATES[1]);
    expect(retry.lines.filter((line) => line.includes('is not one of'))).toHaveLength(2);
  });

  it('shows "unknown" when ECS did not report a platform version', async () => {
    const unreported = CANDIDATES.map((candidate) => ({ ...candidate, platformVersion: undefined }));
    const { io, lines } = scriptedIo(['1']);
    expect(await pickTask(unreported, io)).toBe(unreported[0]);
    expect(lines[1]).toContain('platform unknown');
  });

  it('gives up with a usage error pointing at --task, or 130 when interrupted', async () => {
    const wrong = pickTask(CANDIDATES, scriptedIo(['9', '9', '9']).io);
    await expect(wrong).rejects.toMatchObject({ code: 'remote.pick-failed', exitCode: 2 });
    await expect(wrong).rejects.toMatchObject({ hint: 'choose one with --task' });

    const closed = pickTask(CANDIDATES, scriptedIo([]).io);
    await expect(closed).rejects.toBeInstanceOf(CoderdbError);
    await expect(closed).rejects.toMatchObject({ exitCode: 2 });

    const interrupted = pickTask(CANDIDATES, scriptedIo([new Error('interrupted')]).io);
    await expect(interrupted).rejects.toMatchObject({ exitCode: 130 });
  });

  it('does not ask when there is only one task', async () => {
    const { io, questions } = scriptedIo([]);
    expect(await pickTask([CANDIDATES[1]!], io)).toBe(CANDIDATES[1]);
    expect(questions).toEqual([]);
  });

  it('takes the platform version from the DescribeTasks answer findTask already has', () => {
    const target = assess(
      {
        taskArn: CANDIDATES[0]!.taskArn,
        clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/coder-cluster',
        lastStatus: 'RUNNING',
        startedAt: CANDIDATES[0]!.startedAt,
        enableExecuteCommand: true,
        platformVersion: '1.4.0',
        containers: [
          {
            name: 'coder',
            runtimeId: CANDIDATES[0]!.runtimeId,
            managedAgents: [{ name: 'ExecuteCommandAgent', lastStatus: 'RUNNING' }],
          },
        ],
      },
      { container: 'coder', cluster: 'coder-cluster' },
    );
    expect(target).toEqual(CANDIDATES[0]);
  });
});
