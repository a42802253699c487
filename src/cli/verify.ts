import type { Command } from 'commander';
import { inspectLiveCluster } from '../cluster/inspect';
import { printJson, readSpecFile } from './common';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('compare the live cluster with a spec, from every node; reads only, changes nothing')
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { json?: boolean }) => {
      const report = await inspectLiveCluster(readSpecFile(file));
      if (options.json) printJson(report);
      else if (report.problems.length === 0)
        console.log(`cluster ${report.name} matches the spec (currentEpoch ${report.currentEpoch})`);
      else console.log(`cluster ${report.name} differs from the spec:\n  ${report.problems.join('\n  ')}`);
      if (report.problems.length > 0) process.exitCode = 2;
    });
}
