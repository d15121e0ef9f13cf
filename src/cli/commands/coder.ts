// coderdb templates …, users list, workspaces list|count: Coder-aware operations.

import type { Command } from 'commander';
import { outputFormat, withContext } from '../shared.js';
import { addWriteFlags, reportOutcome, type WriteFlags, writeOptions } from '../write-flow.js';
import { addLimit, read } from './catalog.js';

interface OrgFlags {
  org?: string;
  all?: boolean;
}

export function registerCoder(program: Command): void {
  const templates = program
    .command('templates')
    .description("Coder's templates (deleted ones hidden unless --all)");
  addLimit(templates.command('list'))
    .description('list templates with their organization and live workspace count')
    .option('--org <name|id>', 'only this organization')
    .option('--all', 'include deleted templates')
    .action(async (flags: OrgFlags, cmd: Command) => {
      await read(cmd, async (db) => {
        const { listTemplates } = await import('../../ops/coder/templates.js');
        return listTemplates(db, {
          ...(flags.org ? { org: flags.org } : {}),
          includeDeleted: Boolean(flags.all),
        });
      });
    });
  addLimit(templates.command('search'))
    .description('templates whose name, display name or description contains TEXT (case-insensitive)')
    .argument('<text>')
    .option('--org <name|id>', 'only this organization')
    .option('--all', 'include deleted templates')
    .action(async (text: string, flags: OrgFlags, cmd: Command) => {
      await read(cmd, async (db) => {
        const { searchTemplates } = await import('../../ops/coder/templates.js');
        return searchTemplates(db, text, {
          ...(flags.org ? { org: flags.org } : {}),
          includeDeleted: Boolean(flags.all),
        });
      });
    });

  const setDescription = templates
    .command('set-description')
    .description("set one template's description (planned, confirmed, audited, undoable)")
    .argument('<template>', 'template name or id')
    .argument('<text>', 'the new description (at most 128 characters)')
    .option('--org <name|id>', 'organization, when the name is used in several');
  addWriteFlags(setDescription).action(
    async (template: string, text: string, flags: WriteFlags & OrgFlags, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { setTemplateDescription, API_PATH_NOTE } = await import('../../ops/coder/templates.js');
        const outcome = await setTemplateDescription(context, template, text, {
          ...writeOptions(flags, format),
          ...(flags.org ? { org: flags.org } : {}),
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        await reportOutcome(outcome, format, [API_PATH_NOTE]);
      });
    },
  );

  const replace = templates
    .command('replace-description')
    .description('replace text in template descriptions, e.g. --from Coder --to Workbench')
    .requiredOption('--from <text>', 'text to replace')
    .requiredOption('--to <text>', 'replacement')
    .option('--exact', 'only descriptions exactly equal to --from')
    .option('--org <name|id>', 'only this organization');
  addWriteFlags(replace, { allowAllRows: true }).action(
    async (flags: WriteFlags & OrgFlags & { from: string; to: string; exact?: boolean }, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { replaceTemplateDescriptions, API_PATH_NOTE } = await import('../../ops/coder/templates.js');
        const outcome = await replaceTemplateDescriptions(context, flags.from, flags.to, {
          ...writeOptions(flags, format),
          exact: Boolean(flags.exact),
          allowAllRows: Boolean(flags.allowAllRows),
          ...(flags.org ? { org: flags.org } : {}),
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        await reportOutcome(outcome, format, [API_PATH_NOTE]);
      });
    },
  );

  const users = program.command('users').description("Coder's users (credentials are never shown)");
  addLimit(users.command('list'))
    .description('list users (deleted ones hidden unless --all)')
    .option('--all', 'include deleted users')
    .option('--search <text>', 'username or e-mail contains TEXT')
    .action(async (flags: { all?: boolean; search?: string }, cmd: Command) => {
      await read(cmd, async (db) => {
        const { listUsers } = await import('../../ops/coder/people.js');
        return listUsers(db, {
          includeDeleted: Boolean(flags.all),
          ...(flags.search ? { search: flags.search } : {}),
        });
      });
    });

  const workspaces = program.command('workspaces').description("Coder's workspaces");
  addLimit(workspaces.command('list'))
    .description('list workspaces with owner, template and last build (deleted ones hidden unless --all)')
    .option('--all', 'include deleted workspaces')
    .option('--template <name|id>', 'only this template')
    .option('--owner <username|id>', 'only this owner')
    .action(async (flags: { all?: boolean; template?: string; owner?: string }, cmd: Command) => {
      await read(cmd, async (db) => {
        const { listWorkspaces } = await import('../../ops/coder/people.js');
        return listWorkspaces(db, {
          includeDeleted: Boolean(flags.all),
          ...(flags.template ? { template: flags.template } : {}),
          ...(flags.owner ? { owner: flags.owner } : {}),
        });
      });
    });
  addLimit(workspaces.command('count'))
    .description('live workspaces per template (deleted workspaces and templates excluded)')
    .option('--org <name>', 'only this organization')
    .action(async (flags: { org?: string }, cmd: Command) => {
      await read(cmd, async (db) => {
        const { countWorkspaces } = await import('../../ops/coder/people.js');
        return countWorkspaces(db, flags.org ? { org: flags.org } : {});
      });
    });
}
