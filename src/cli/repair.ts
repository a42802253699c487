/** rco repair, rco failover, rco approve: day two of a cluster that never fails over by itself. */
import { InvalidArgumentError, type Command } from 'commander';
import { RedisClusterClient } from '../client';
import { APPROVALS, type Approval } from '../model';
import { printJson, readSpecFile } from './common';
import { watchRun } from './watch';

function approvals(value: string): Approval[] {
  const list = value.split(',').map((v) => v.trim());
  const wrong = list.filter((v) => !(APPROVALS as readonly string[]).includes(v));
  if (wrong.length > 0) throw new InvalidArgumentError(`${wrong.join(', ')}: one or more of ${APPROVALS.join(', ')}`);
  return list as Approval[];
}

/** Follows the run (approvals it waits for are printed with the command that grants them) and prints its changes. */
async function follow(
  client: RedisClusterClient,
  workflowId: string,
  options: { wait: boolean; json?: boolean },
): Promise<void> {
  if (!options.wait) {
    if (options.json) printJson({ workflowId });
    else console.log(`started ${workflowId}`);
    return;
  }
  if (!options.json) await watchRun(client, workflowId);
  const result = (await client.handle(workflowId).result()) as { changes: { node?: string; change: string }[] };
  if (options.json) return printJson(result);
  if (result.changes.length === 0) console.log('nothing to change');
  for (const c of result.changes) console.log(`  ${(c.node ?? '').padEnd(4)} ${c.change}`);
}

export function registerRepair(program: Command): void {
  program
    .command('repair')
    .description(
      'bring a live cluster back to its spec: start nodes that are down, take over a lost master and forget lost node ids (both after approval), rejoin empty nodes, restore the spec roles',
    )
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--approve <what>', `destructive steps approved in advance: ${APPROVALS.join(',')}`, approvals)
    .option('--no-wait', 'return once the run is started')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { approve?: Approval[]; wait: boolean; json?: boolean }) => {
      const spec = readSpecFile(file);
      const client = await RedisClusterClient.connect();
      try {
        const handle = await client.repair(spec, { approve: options.approve });
        await follow(client, handle.workflowId, options);
      } finally {
        await client.close();
      }
    });

  program
    .command('failover')
    .description(
      "move a master's role to its spec replica (planned); with --force, take over a master that is down (after approval)",
    )
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .requiredOption('--master <id>', 'the spec id of the master')
    .option('--force', 'CLUSTER FAILOVER TAKEOVER: only for a master that does not answer and most masters flag failed')
    .option('--approve <what>', 'takeover approved in advance', approvals)
    .option('--no-wait', 'return once the run is started')
    .option('--json', 'JSON output')
    .action(
      async (
        file: string,
        options: { master: string; force?: boolean; approve?: Approval[]; wait: boolean; json?: boolean },
      ) => {
        const spec = readSpecFile(file);
        const client = await RedisClusterClient.connect();
        try {
          const handle = await client.failover(spec, {
            master: options.master,
            force: options.force,
            approve: options.approve,
          });
          await follow(client, handle.workflowId, options);
        } finally {
          await client.close();
        }
      },
    );

  program
    .command('approve')
    .description(
      'let a run go on with a destructive step it waits for (repair: takeover, forget; provisioning: remove)',
    )
    .argument('<run>', 'cluster name (its running repair, failover or provisioning) or a workflow id')
    .argument('<what>', APPROVALS.join(' or '), approvals)
    .action(async (run: string, what: Approval[]) => {
      const client = await RedisClusterClient.connect();
      try {
        const granted = await client.approve(run, what);
        console.log(`approved: ${granted.join(', ')}`);
      } finally {
        await client.close();
      }
    });
}
