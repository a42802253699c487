/**
 * `rco plan --balance keys|memory|cpu|network <spec> [--write <new-spec>]`: reads the load of every slot of the live
 * cluster and proposes a layout that evens it out across the masters, moving as few slots as it can. It writes a new
 * spec; provisioning that spec moves the slots. The spec stays the one truth: nothing is moved here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { type BalanceMeasure, describeRanges, formatSlotRange, spread } from '../model';
import { planBalancedLayout } from '../cluster/inspect';
import { printJson, readSpecFile } from './common';

const MEASURES: BalanceMeasure[] = ['keys', 'memory', 'cpu', 'network'];

export async function planBalance(file: string, measure: string, options: { write?: string; json?: boolean }) {
  if (!MEASURES.includes(measure as BalanceMeasure))
    throw new Error(`--balance: "${measure}" is not one of ${MEASURES.join(', ')}`);
  const spec = readSpecFile(file);
  const plan = await planBalancedLayout(spec, measure as BalanceMeasure);
  const report = {
    measure,
    spreadBefore: spread(plan.masters.map((m) => m.before)),
    spreadAfter: spread(plan.masters.map((m) => m.after)),
    ...plan,
  };
  if (options.write) {
    // The user's own file, with only the masters' slots changed.
    const raw = YAML.parse(readFileSync(file, 'utf8')) as { nodes: { id: string; slots?: string[] }[] };
    for (const node of raw.nodes) {
      const planned = plan.masters.find((m) => m.id === node.id);
      if (planned) node.slots = planned.ranges.map(formatSlotRange);
    }
    const yaml = /\.ya?ml$/i.test(options.write);
    writeFileSync(options.write, yaml ? YAML.stringify(raw) : `${JSON.stringify(raw, null, 2)}\n`);
  }
  if (options.json) return printJson(report);
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'infinite');
  console.log(`${measure} per master (${plan.total} in all), largest over smallest share:`);
  console.log(`  before ${pct(report.spreadBefore)}, after ${pct(report.spreadAfter)}`);
  for (const m of plan.masters)
    console.log(
      `  ${m.id.padEnd(6)} ${String(m.before).padStart(12)} -> ${String(m.after).padStart(12)}  slots ${describeRanges(m.ranges)} (in ${m.slotsIn}, out ${m.slotsOut})`,
    );
  if (plan.transfers.length === 0) console.log('  nothing to move');
  for (const t of plan.transfers)
    console.log(
      `  move ${t.slots} slots ${describeRanges(t.ranges)} from ${t.from} to ${t.to}: ${t.weight} ${measure}`,
    );
  if (options.write)
    console.log(`wrote ${options.write}; provision it to move the slots (rco provision ${options.write})`);
}
