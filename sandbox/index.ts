// The sandbox as the `coderdb sandbox` command sees it.

import { CoderdbError } from '../src/core/errors.js';
import { SANDBOX_CREDENTIALS } from '../src/core/sandbox-state.js';
import { status } from './daemon.js';

export { checkScenario, type SandboxOptions, serve, start, status, stop, switchScenario } from './daemon.js';
export { demo } from './demo.js';

/** Shell exports for coderdb, psql and the AWS CLI; everything points at the running sandbox. */
export function envExports(): string {
  const state = status();
  if (!state) {
    throw new CoderdbError('usage', 'sandbox.not-running', 'the sandbox is not running', {
      hint: 'start it with `coderdb sandbox start`',
    });
  }
  const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
  const lines = [
    '# coderdb sandbox: eval "$(coderdb sandbox env)"',
    'unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE',
    'export CODERDB_PROFILE=sandbox',
    // A private sandbox, like a private VPC, has no URL to give: coderdb goes through the task.
    state.private
      ? '# private sandbox: no CODER_PG_CONNECTION_URL (the database is reachable only through the task)'
      : `export CODER_PG_CONNECTION_URL=${quote(state.databaseUrl)}`,
  ];
  if (state.awsEndpoint) {
    lines.push(
      `export AWS_ENDPOINT_URL=${quote(state.awsEndpoint)}`,
      `export AWS_ACCESS_KEY_ID=${SANDBOX_CREDENTIALS.accessKeyId}`,
      `export AWS_SECRET_ACCESS_KEY=${SANDBOX_CREDENTIALS.secretAccessKey}`,
      `export AWS_REGION=${state.region}`,
      `export AWS_DEFAULT_REGION=${state.region}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Shell commands that undo envExports(): `eval "$(coderdb sandbox env --unset)"`. */
export function envUnsets(): string {
  return [
    '# coderdb sandbox: eval "$(coderdb sandbox env --unset)"',
    'unset CODERDB_PROFILE CODER_PG_CONNECTION_URL AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY',
    'unset AWS_REGION AWS_DEFAULT_REGION',
    '',
  ].join('\n');
}

export async function scenarioList(): Promise<{ name: string; description: string }[]> {
  const { SCENARIOS } = await import('./aws/scenarios.js');
  return Object.entries(SCENARIOS).map(([name, scenario]) => ({ name, description: scenario.description }));
}
