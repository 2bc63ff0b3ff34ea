import 'reflect-metadata';
import { Command } from 'commander';
import { registerWorkerCommand } from './commands/worker-command.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { registerBootstrapCommand } from './commands/bootstrap-command.js';
import { registerDbCommand } from './commands/db-command.js';
import { registerHealthCommand } from './commands/health-command.js';
import { registerKnowledgeCommand } from './commands/knowledge-command.js';
import { registerStackCommand } from './commands/stack-command.js';
import { registerUserCommand } from './commands/user-command.js';
import { registerOrgCommand } from './commands/org-command.js';
import { registerMaintenanceCommand } from './commands/maintenance-command.js';
import { EXIT } from './cli-output.js';

/** Builds the `platform-data` command line (commander). */
export function buildProgram(): Command {
  const program = new Command('platform-data')
    .description('Bootstrap, check and demo the platform-data stores (PostgreSQL, MongoDB, Qdrant, Redis)')
    .showHelpAfterError()
    .exitOverride();
  registerBootstrapCommand(program);
  registerDemoCommand(program);
  registerWorkerCommand(program);
  registerDbCommand(program);
  registerHealthCommand(program);
  registerKnowledgeCommand(program);
  registerStackCommand(program);
  registerUserCommand(program);
  registerOrgCommand(program);
  registerMaintenanceCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    // commander has printed its message; an unknown option or a missing argument is a usage error (2), help and --version exit 0.
    const code = (error as { exitCode?: number }).exitCode;
    process.exitCode = typeof code === 'number' && code !== 0 ? EXIT.badConfig : (code ?? EXIT.failed);
  }
}
