import type { Command } from 'commander';
import { planClusterRepair, planProvisioning } from '../cluster/inspect';
import { planBalance } from './plan-balance';
import { printJson, readSpecFile } from './common';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show what provisioning a spec would change on the live nodes; reads only, changes nothing')
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--repair', 'what `rco repair` would do instead (approvals it would wait for are marked)')
    .option('--balance <measure>', 'a new slot layout evening out keys, memory, cpu or network across the masters')
    .option('--write <file>', 'with --balance: write the spec with that layout to this file (JSON, or YAML by name)')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { json?: boolean; repair?: boolean; balance?: string; write?: string }) => {
      if (options.balance) {
        await planBalance(file, options.balance, options);
        return;
      }
      if (options.repair) {
        const repair = await planClusterRepair(readSpecFile(file));
        if (options.json) printJson(repair);
        else {
          for (const refusal of repair.refusals) console.log(`  refused: ${refusal}`);
          if (repair.changes.length === 0) console.log('  nothing to repair');
          for (const c of repair.changes) console.log(`  ${c.step.padEnd(15)} ${(c.node ?? '').padEnd(4)} ${c.change}`);
        }
        if (repair.refusals.length > 0) process.exitCode = 2;
        return;
      }
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
