import type { Command } from 'commander';
import { accessFor } from '../activities';
import { planCluster } from '../activities/plan';
import { defaultS3ClientFactory } from '../activities/s3';
import { withClusterAccess } from '../redis/connection';
import { printJson, readSpecFile } from './common';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show what provisioning a spec would change on the live nodes; reads only, changes nothing')
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { json?: boolean }) => {
      const spec = readSpecFile(file);
      const plan = await withClusterAccess(accessFor(spec), () => planCluster(spec, defaultS3ClientFactory));
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
