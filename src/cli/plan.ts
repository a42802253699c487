import type { Command } from 'commander';
import { planProvisioning } from '../cluster/inspect';
import { printJson, readSpecFile } from './common';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show what provisioning a spec would change on the live nodes; reads only, changes nothing')
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { json?: boolean }) => {
      const plan = await planProvisioning(readSpecFile(file));
      if (options.json) printJson(plan);
      else {
        const states = plan.nodes.map((n) => `${n.node}=${n.state}`).join(' ');
        console.log(`cluster ${plan.cluster}: nodes ${states}`);
        for (const refusal of plan.refusals) console.log(`  refused: ${refusal}`);
        if (plan.changes.length === 0) console.log('  nothing to change');
        for (const c of plan.changes) console.log(`  ${c.step.padEnd(15)} ${(c.node ?? '').padEnd(4)} ${c.change}`);
      }
      // 2 = the run would refuse; 0 otherwise (changes pending or not).
      if (plan.refusals.length > 0) process.exitCode = 2;
    });
}
