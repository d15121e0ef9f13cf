// coderdb sandbox start|stop|status|env|demo: the local stand-in for the deployment. Only this
// command loads the sandbox code, and only when it runs.

import type { Command } from 'commander';
import { Option } from 'commander';
import { usageError } from '../../core/errors.js';
import { interruption } from '../interrupt.js';
import { globals, say, setExitStatus } from '../shared.js';

interface SandboxFlags {
  engine?: 'pglite' | 'postgres';
  layout?: 'current' | 'legacy';
  scenario?: string;
  scale?: string;
  realisticPacing?: boolean;
  agentVersion?: string;
  private?: boolean;
  dbPort?: string;
  awsPort?: string;
  keep?: boolean;
}

function addStartOptions(
  command: Command,
  engineDefault: [value: string | undefined, description?: string] = ['pglite'],
): Command {
  return command
    .addOption(
      new Option('--engine <engine>', 'database engine')
        .choices(['pglite', 'postgres'])
        .default(...engineDefault),
    )
    .addOption(
      new Option('--layout <layout>', 'Coder schema layout')
        .choices(['current', 'legacy'])
        .default('current'),
    )
    .option('--scenario <name>', 'start as a broken deployment (see `coderdb sandbox scenarios`)', 'healthy')
    .option('--scale <n>', 'demo data scale (1 ≈ a small team; 1000 ≈ tens of MB)', '1')
    .option('--realistic-pacing', 'pace the data channel like the real agent (about 1 MB/s)')
    .option(
      '--agent-version <version>',
      'SSM agent version to claim (≤ 3.0.196.0: port forwarding without smux)',
    )
    .option(
      '--private',
      'a private VPC: no direct path to the database, only through the task (auto: tunnel, then exec)',
    )
    .option('--db-port <port>', 'fixed database port (default: a free one)')
    .option('--aws-port <port>', 'fixed AWS endpoint port (default: a free one)');
}

function sandboxOptions(flags: SandboxFlags) {
  const scale = Number(flags.scale ?? 1);
  if (!Number.isFinite(scale) || scale <= 0)
    throw usageError('sandbox.scale', '--scale must be a positive number');
  return {
    ...(flags.engine ? { engine: flags.engine } : {}),
    ...(flags.layout ? { layout: flags.layout } : {}),
    ...(flags.scenario ? { scenario: flags.scenario } : {}),
    scale,
    realisticPacing: Boolean(flags.realisticPacing),
    ...(flags.agentVersion ? { agentVersion: flags.agentVersion } : {}),
    ...(flags.private ? { private: true } : {}),
    ...(flags.dbPort ? { dbPort: Number(flags.dbPort) } : {}),
    ...(flags.awsPort ? { awsPort: Number(flags.awsPort) } : {}),
  };
}

const load = () => import('../../../sandbox/index.js');
const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

export function registerSandbox(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local stand-in for the deployment (PostgreSQL + emulated ECS, SSM, Secrets Manager…)');

  addStartOptions(
    sandbox.command('start').description('start the sandbox in the background; returns when ready'),
  ).action(async (flags: SandboxFlags, cmd: Command) => {
    const { checkScenario, start, status, switchScenario } = await load();
    if (flags.scenario) await checkScenario(flags.scenario);
    const given = (option: string) => cmd.getOptionValueSource(option) === 'cli';
    const running = status();
    if (running) {
      // What the running sandbox cannot become without a restart is refused, not silently ignored.
      if (given('engine') && flags.engine !== running.engine) {
        throw usageError(
          'sandbox.running',
          `the sandbox is already running with --engine ${running.engine}`,
          { hint: 'stop it first (coderdb sandbox stop) to start it with another engine' },
        );
      }
      if (given('private') && Boolean(flags.private) !== Boolean(running.private)) {
        throw usageError('sandbox.running', 'the sandbox is already running without --private', {
          hint: 'stop it first (coderdb sandbox stop), then start it with --private',
        });
      }
      for (const option of ['layout', 'scale', 'realisticPacing', 'agentVersion', 'dbPort', 'awsPort']) {
        if (given(option)) {
          throw usageError(
            'sandbox.running',
            `the sandbox is already running; --${kebab(option)} needs a new one`,
            {
              hint: 'stop it first (coderdb sandbox stop), then start it with the options you want',
            },
          );
        }
      }
      const scenario = flags.scenario ?? 'healthy';
      if (given('scenario') && scenario !== running.scenario) {
        const state = await switchScenario(running, scenario);
        say(`The sandbox is running (pid ${state.pid}); its scenario is now ${state.scenario}.`);
      } else {
        say(
          `The sandbox is already running (${running.engine}, scenario ${running.scenario}, pid ${running.pid}).`,
        );
      }
      return;
    }
    const { state } = await start(sandboxOptions(flags));
    const network = state.private ? ', private VPC' : '';
    say(`The sandbox is ready (${state.engine}, scenario ${state.scenario}${network}, pid ${state.pid}).`);
    say('Use it with --profile sandbox, or: eval "$(coderdb sandbox env)"');
  });

  addStartOptions(
    sandbox.command('serve', { hidden: true }).description('run the sandbox in the foreground'),
  ).action(async (flags: SandboxFlags) => {
    const [{ checkScenario, serve }, { interruption }] = await Promise.all([
      load(),
      import('../interrupt.js'),
    ]);
    if (flags.scenario) await checkScenario(flags.scenario);
    await serve(sandboxOptions(flags), interruption);
  });

  sandbox
    .command('stop')
    .description('stop the sandbox and discard its data')
    .action(async () => {
      const { stop } = await load();
      say((await stop()) ? 'The sandbox has stopped.' : 'The sandbox was not running.');
    });

  sandbox
    .command('status')
    .description('whether the sandbox runs, and where')
    .action(async (_flags: unknown, cmd: Command) => {
      const { status } = await load();
      const state = status();
      if (globals(cmd).format === 'json') {
        process.stdout.write(
          `${JSON.stringify(state ? { running: true, ...state } : { running: false }, null, 2)}\n`,
        );
        return;
      }
      if (!state) {
        process.stdout.write('not running (start it with `coderdb sandbox start`)\n');
        return;
      }
      const { redactUrl } = await import('../../core/secret.js');
      process.stdout.write(
        [
          `running     pid ${state.pid} since ${state.startedAt}`,
          `engine      ${state.engine}`,
          `network     ${state.private ? 'private (through the task only)' : 'direct (database URL known)'}`,
          `scenario    ${state.scenario}`,
          `database    ${redactUrl(state.databaseUrl)}`,
          `aws         ${state.awsEndpoint ?? 'not running'}`,
          `data        ${state.dir}`,
        ].join('\n') + '\n',
      );
    });

  sandbox
    .command('env')
    .description(
      'shell exports that point coderdb and the AWS CLI at the sandbox: eval "$(coderdb sandbox env)"',
    )
    .option('--unset', 'print the commands that undo it instead: eval "$(coderdb sandbox env --unset)"')
    .action(async (flags: { unset?: boolean }) => {
      const { envExports, envUnsets } = await load();
      process.stdout.write(flags.unset ? envUnsets() : envExports());
    });

  sandbox
    .command('scenarios')
    .description('the broken deployments the sandbox can emulate (--scenario)')
    .action(async () => {
      const { scenarioList } = await load();
      for (const { name, description } of await scenarioList())
        process.stdout.write(`${name.padEnd(34)} ${description}\n`);
    });

  addStartOptions(
    sandbox
      .command('demo')
      .description(
        "walk through the runbook's operations on the sandbox, printing each command and its output",
      ),
    // The demo shows a backup, which PGlite (PostgreSQL 18) cannot give Debian's pg_dump 15.
    [undefined, 'postgres when a local PostgreSQL 15 is installed, else pglite'],
  )
    .option('--no-private', 'give the sandbox profile its database URL (auto then goes direct)')
    .option('--keep', 'leave the sandbox running afterwards')
    .action(async (flags: SandboxFlags) => {
      const { checkScenario, demo } = await load();
      if (flags.scenario) await checkScenario(flags.scenario);
      // Private by default: the path a real deployment takes (tunnel, then exec), not direct.
      const options = { ...sandboxOptions(flags), private: flags.private !== false };
      // A reader that goes away (`| head`) or Ctrl-C still stops the sandbox the demo started.
      setExitStatus(await demo({ ...options, keep: Boolean(flags.keep), signal: interruption }));
    });
}
